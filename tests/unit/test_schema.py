"""Column detection by name and by contents, and mapping choices as the dashboard makes them."""

from __future__ import annotations

import io

import pytest

from routing_core.datasets import load_dataset, normalise, read_table
from routing_core.errors import UserError
from routing_core.schema import (
    IGNORE,
    detect_mapping,
    mapping_from_choices,
    name_scores,
    resolve_mapping,
)
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


# ---------------------------------------------------------------- detection by name


def test_job_code_is_the_operation_when_an_item_column_is_there():
    found = detect_mapping(["ITEM_CD", "JOB_CD", "SEQ", "TIME"])
    assert found == {"ITEM_CD": "item_code", "JOB_CD": "process_code", "SEQ": "seq", "TIME": "duration_min"}


def test_job_code_is_the_item_next_to_an_operation_column():
    assert detect_mapping(["JOB_CD", "OPER"]) == {"JOB_CD": "item_code", "OPER": "process_code"}


def test_an_alias_does_not_take_a_column_another_role_fits_better():
    # "step_no" reads as a process word too, but it is the sequence; "step" is the process
    found = detect_mapping(["item", "step_no", "step"])
    assert found == {"item": "item_code", "step_no": "seq", "step": "process_code"}


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("작업시간(분)", "duration_min"),
        ("Dauer [min]", "duration_min"),
        ("Std. time (h)", "duration_h"),
        ("Run time min", "duration_min"),
        ("STD_MIN", "duration_min"),
        ("Ruestzeit", "duration_min"),
        ("Rüstzeit", "duration_min"),
        ("Bearbeitungszeit", "duration_min"),
        ("Zeit (s)", "duration_s"),
        ("cycle time [sec]", "duration_s"),
        ("temps (min)", "duration_min"),
        ("tiempo_h", "duration_h"),
        ("工时", "duration_min"),
        ("時間(分)", "duration_min"),
        ("소요시간(초)", "duration_s"),
        ("Dauer (Std.)", "duration_h"),
        ("Stunden", "duration_h"),
        ("Durée [heures]", "duration_h"),
    ],
)
def test_duration_names_with_units_and_languages(name, target):
    assert detect_mapping(["item_code", "process_code", name]) == {
        "item_code": "item_code", "process_code": "process_code", name: target
    }


def test_duration_units_convert_to_minutes():
    data = b"Teil;Arbeitsgang;Std. time (h);Zeit (s)\nA;SAW;0.5;30\nA;MILL;1;90\n"
    ds = load_dataset(io.BytesIO(data))
    # the hours column is the duration (listed first, both are plain time words); seconds stay an attribute
    assert ds.mapping == {"Teil": "item_code", "Arbeitsgang": "process_code", "Std. time (h)": "duration_h"}
    assert ds.ops["duration_min"].tolist() == [30.0, 60.0]
    ds = load_dataset(io.BytesIO(b"Teil;Arbeitsgang;Zeit (s)\nA;SAW;30\nA;MILL;90\n"))
    assert ds.ops["duration_min"].tolist() == [0.5, 1.5]


@pytest.mark.parametrize(
    "columns",
    [
        ["Rüstzeit", "Bearbeitungszeit"],
        ["Setup time [min]", "Run time [min]"],
        ["Set-up time", "cycle time"],
        ["준비시간", "가공시간"],
    ],
)
def test_run_time_is_preferred_to_setup_time(columns):
    found = detect_mapping(["Material No.", "Op. No.", "Vorgang", *columns])
    assert found == {
        "Material No.": "item_code", "Op. No.": "seq", "Vorgang": "process_code", columns[1]: "duration_min"
    }


def test_a_setup_time_alone_is_the_duration():
    assert detect_mapping(["Teil", "Vorgang", "Rüstzeit"])["Rüstzeit"] == "duration_min"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("Material No.", "item_code"),
        ("Teilenummer", "item_code"),
        ("Teile-Nr.", "item_code"),
        ("MATNR", "item_code"),
        ("품번", "item_code"),
        ("품목번호", "item_code"),
        ("Artikel-Nummer", "item_code"),
        ("itemCode", "item_code"),
        ("Arbeitsgang", "process_code"),
        ("Vorgang", "process_code"),
        ("공정명", "process_code"),
        ("Operation (code)", "process_code"),
        ("Opération", "process_code"),
        ("VORNR", "seq"),
        ("op #", "seq"),
        ("Op. No.", "seq"),
        ("Vorgangsnummer", "seq"),
        ("Lfd. Nr.", "seq"),
        ("공정순서", "seq"),
    ],
)
def test_item_operation_and_sequence_names_with_extra_words(name, target):
    assert detect_mapping(["x", name, "y"]) == {name: target}


@pytest.mark.parametrize(
    "name",
    ["ARBPL", "Arbeitsplatz", "work center", "WORK_CENTER", "Maschine", "작업장", "resource",
     "Material", "part_type", "Kosten[($)]", "material_grade", "outer_diameter_mm", "min_qty",
     "start_time", "Datum", "Abmaße", "LTXA1", "heat_treated"],
)
def test_names_that_are_no_role(name):
    assert name_scores(name) == {}
    assert detect_mapping(["item_code", name]) == {"item_code": "item_code"}


def test_sap_routing_work_centre_is_not_the_operation():
    found = detect_mapping(["MATNR", "VORNR", "ARBPL", "LTXA1", "VGW01"])
    assert found == {"MATNR": "item_code", "VORNR": "seq"}


def test_the_sample_and_test_files_keep_their_mapping():
    sample = ["item_code", "seq", "process_code", "duration_min", "part_type", "material",
              "outer_diameter_mm", "length_mm", "weight_kg", "tolerance_class", "surface_treatment",
              "heat_treated", "threaded", "work_center", "outsourced", "commodity", "material_grade",
              "width_mm", "thickness_mm", "mass_kg", "quality_grade", "coating", "hardened",
              "tapped_holes", "resource", "make_or_buy"]
    assert detect_mapping(sample) == {c: c for c in sample[:4]}
    korean = ["품목코드", "공정순서", "공정코드", "작업시간", "재질", "외경", "단가"]
    assert detect_mapping(korean) == {
        "품목코드": "item_code", "공정순서": "seq", "공정코드": "process_code", "작업시간": "duration_min"
    }
