"""One rounding for every figure, help texts for every rate, and both missing rates side by side."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from routing_core.datasets import load_dataset
from routing_core.datasets.stats import compute_stats, missing_rates
from routing_core.platform import formatting


@pytest.mark.parametrize(("share", "text", "value"), [
    (0.9225, "92.3 %", 92.3),  # binary 0.9225 is 0.92249999…: rounded as written, half up
    (0.9224, "92.2 %", 92.2),
    (0.0, "0.0 %", 0.0),
    (1.0, "100.0 %", 100.0),
    (0.00049, "0.0 %", 0.0),
    (0.335, "33.5 %", 33.5),
    (0.0005, "0.1 %", 0.1),
])
def test_a_share_rounds_one_way(share, text, value):
    assert formatting.percent(share) == text
    assert formatting.percent_value(share) == value
    # a table prints the rounded number with one decimal: the same text as the metric
    assert f"{formatting.percent_value(share):.1f} %" == text


@pytest.mark.parametrize("unknown", [None, math.nan, math.inf, "x", True])
def test_unknown_is_a_dash(unknown):
    assert formatting.percent(unknown) == "—"
    assert formatting.number(unknown) == "—"
    assert formatting.percent_value(unknown) is None


def test_points_and_numbers():
    assert formatting.points(0.0425) == "+4.3 points"
    assert formatting.points(-0.002) == "-0.2 points"
    assert formatting.number(4.9875, 2) == "4.99"
    assert formatting.number(0.1235, 3) == "0.124"  # half up on the written digits, not 0.123


def test_every_rate_has_a_help_text_saying_what_it_counts():
    for key in ("routing_accuracy", "top_3_accuracy", "coverage", "f1_weighted", "duration_mae",
                "missing_items", "missing_rows"):
        assert len(formatting.HELP[key]) > 40
    assert "similarity threshold" in formatting.HELP["coverage"]
    assert "not an error" in formatting.HELP["coverage"]  # says whether a low coverage is bad


def test_missing_per_item_and_per_row():
    # finish blank on 3 of 6 rows; item A has it on one row of two, item B on none of three,
    # item C on its only row: per row 3/6, per item 1/3 (B has no value on any row).
    csv = (b"item_code,seq,process_code,finish,note\n"
           b"A,1,SAW,ZINC,\nA,2,MILL,,x\nB,1,SAW,,\nB,2,MILL,,\nB,3,QC,ZINC,\nC,1,SAW,PAINT,y\n")
    ds = load_dataset(csv, name="f.csv")
    per_item, per_row = missing_rates(ds)
    assert per_row["finish"] == pytest.approx(3 / 6)
    assert per_item["finish"] == 0.0  # every item has a value on some row
    table = formatting.missing_table(per_item, per_row, ds.item_attributes)
    assert list(table.columns) == ["column", "kind", "missing per item (%)", "missing per row (%)"]
    row = table.set_index("column").loc["finish"]
    assert row["missing per row (%)"] == 50.0 and row["missing per item (%)"] == 0.0
    # the stored statistics carry the same two figures (Upload and Dataset show one table)
    stats = compute_stats(ds)
    assert stats["missing_rate_rows"] == per_row and stats["missing_rate"] == per_item
    assert pd.isna(table.set_index("column").loc["process_code", "missing per item (%)"])


def test_missing_table_worst_first():
    table = formatting.missing_table({"a": 0.5, "b": 0.1}, {"a": 0.2, "b": 0.1, "seq": 0.9}, ["a", "b"])
    assert table["column"].tolist() == ["seq", "a", "b"]


def test_labels_free_of_needless_escapes():
    assert formatting.plain_label("PESO_KG") == "PESO_KG"  # no "PESO\_KG" for a screen reader
    assert formatting.plain_label("Zeit [min]") == "Zeit \\[min\\]"
    assert formatting.plain_label("*bold*") == "\\*bold\\*"
    assert formatting.plain_label(":red[x]") == "\\:red\\[x\\]"
    assert formatting.plain_label("_lead") == "\\_lead"
    assert formatting.plain_label("a: b") == "a: b"


def test_version_label_names_its_dataset_and_date():
    assert formatting.version_label("v20261207-043957", "sample", "2026-12-07T04:39:57+00:00") == (
        "v20261207-043957 — sample, 2026-12-07")
    assert formatting.version_label("v1", None, None, active=True) == "v1 — dataset unknown, date unknown · active"
