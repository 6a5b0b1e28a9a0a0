"""Dataset names suggested from file names are always valid labels."""

from __future__ import annotations

import pytest

from routing_core.platform.names import check_name, suggest_name


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("Plant A routings (2024).csv", "Plant_A_routings_2024"),
        ("fabricad_preview_plans.csv", "fabricad_preview_plans"),
        ("../../etc/passwd", "passwd"),
        ("C:\\exports\\plan.tsv", "plan"),
        (".hidden.csv", "hidden"),
        ("공정.csv", "dataset"),
        ("CON.csv", "dataset"),
        ("", "dataset"),
    ],
)
def test_suggest_name(file_name, expected):
    assert suggest_name(file_name) == expected
    assert check_name(suggest_name(file_name)) == expected


def test_suggest_name_long_is_cut_to_64():
    name = suggest_name("x" * 100 + ".csv")
    assert len(name) == 64 and check_name(name)
