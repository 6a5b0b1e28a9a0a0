"""Mapping choices as the dashboard makes them: one source (or none) per target."""

from __future__ import annotations

import pytest

from routing_core.datasets import load_dataset, normalise, read_table
from routing_core.errors import UserError
from routing_core.schema import IGNORE, mapping_from_choices, resolve_mapping
from tests.conftest import FABRICAD

FABRICAD_COLUMNS = ["ArtikelNr", "Nr.", "Schritt", "Arbeitsplatz", "Dauer[min]", "Kosten[($)]", "Material", "Abmaße"]


def test_detected_choices_reproduce_detection():
    choices = {"item_code": "ArtikelNr", "process_code": "Schritt", "seq": "Nr.", "duration_min": "Dauer[min]"}
    explicit = mapping_from_choices(FABRICAD_COLUMNS, choices)
    assert IGNORE not in explicit.values()
    assert resolve_mapping(FABRICAD_COLUMNS, explicit) == {
        "ArtikelNr": "item_code", "Schritt": "process_code", "Nr.": "seq", "Dauer[min]": "duration_min"
    }


def test_none_unmaps_a_detected_alias_and_keeps_it_as_attribute():
    choices = {"item_code": "ArtikelNr", "process_code": "Schritt", "seq": None, "duration_min": None}
    explicit = mapping_from_choices(FABRICAD_COLUMNS, choices)
    assert explicit["Nr."] == IGNORE and explicit["Dauer[min]"] == IGNORE
    full = resolve_mapping(FABRICAD_COLUMNS, explicit)
    assert full == {"ArtikelNr": "item_code", "Schritt": "process_code"}
    ds = normalise(read_table(FABRICAD), explicit)
    assert ds.ops["duration_min"].isna().all()  # no duration column any more
    assert "Dauer[min]" in ds.ops.columns and "Nr." in ds.ops.columns  # kept as attributes
    assert any("No duration column" in w for w in ds.warnings)


def test_other_column_and_unit_replace_the_detected_one():
    choices = {"item_code": "ArtikelNr", "process_code": "Arbeitsplatz", "seq": "Nr.", "duration_h": "Kosten[($)]"}
    explicit = mapping_from_choices(FABRICAD_COLUMNS, choices)
    assert "Schritt" not in explicit  # its target is taken, so detection leaves it alone
    ds = load_dataset(FABRICAD, explicit)
    assert set(ds.ops["process_code"]) == set(read_table(FABRICAD).frame["Arbeitsplatz"])
    raw = read_table(FABRICAD).frame
    assert ds.ops["duration_min"].sum() == pytest.approx(raw["Kosten[($)]"].sum() * 60)
    assert "Dauer[min]" not in ds.mapping and "Schritt" in ds.ops.columns


def test_same_column_twice_is_refused():
    with pytest.raises(UserError, match="'ArtikelNr' is chosen for both item_code and process_code"):
        mapping_from_choices(FABRICAD_COLUMNS, {"item_code": "ArtikelNr", "process_code": "ArtikelNr"})


def test_unknown_column_and_target_are_refused():
    with pytest.raises(UserError, match="not in the file"):
        mapping_from_choices(FABRICAD_COLUMNS, {"item_code": "PART"})
    with pytest.raises(UserError, match="Unknown target"):
        mapping_from_choices(FABRICAD_COLUMNS, {"cost": "ArtikelNr"})


def test_missing_required_after_choices_names_it():
    explicit = mapping_from_choices(FABRICAD_COLUMNS, {"item_code": None, "process_code": "Schritt"})
    with pytest.raises(UserError, match="required column"):
        load_dataset(FABRICAD, explicit)


def test_canonical_named_column_cannot_be_ignored():
    with pytest.raises(UserError, match="canonical name seq"):
        resolve_mapping(["item_code", "process_code", "seq"], {"seq": IGNORE})
