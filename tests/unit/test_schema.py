"""Column detection by name and by contents, and mapping choices as the dashboard makes them."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from routing_core.datasets import load_dataset, normalise, read_items, read_table
from routing_core.mapping.proposals import MissingColumns, propose_mapping, role_note
from routing_core.mapping.schema import (
    IGNORE,
    detect_mapping,
    mapping_from_choices,
    name_scores,
    resolve_mapping,
)
from routing_core.platform.errors import UserError
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


# ---------------------------------------------------------------- proposals from contents

PROCESSES = ["SAW", "TURN", "MILL", "DRILL", "DEBURR", "WASH", "INSPECT", "HEAT", "GRIND"]


def meaningless_frame(items: int = 40) -> pd.DataFrame:
    """A routing export whose headers say nothing: C1 item, C2 sequence, C3 process, C4 minutes,
    C5 material (an item attribute), C6 a yes/no flag that changes within items."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(items):
        steps = rng.choice(PROCESSES, int(rng.integers(2, 7)), replace=False)
        material = str(rng.choice(["steel", "alu", "brass"]))
        for j, process in enumerate(steps):
            rows.append({"C1": f"P-{i:04d}", "C2": 10 * (j + 1), "C3": str(process),
                         "C4": round(float(rng.gamma(2, 5)), 1), "C5": material,
                         "C6": "Y" if j % 2 else "N"})
    return pd.DataFrame(rows)


def test_proposals_from_contents_when_headers_say_nothing():
    frame = meaningless_frame()
    assert detect_mapping(frame.columns) == {}
    proposals = propose_mapping(frame)
    assert [(p.column, p.target) for p in proposals] == [
        ("C1", "item_code"), ("C3", "process_code"), ("C2", "seq"), ("C4", "duration_min")
    ]
    reasons = {p.target: p.reason for p in proposals}
    assert "unbroken blocks of rows" in reasons["item_code"] and "40 values" in reasons["item_code"]
    assert reasons["process_code"] == (
        "its text changes within items and comes from 9 values that recur across items"
    )
    assert reasons["seq"] == "its whole numbers go up from step to step within every item"
    assert "0 or more and change within items" in reasons["duration_min"]
    assert {p.target for p in proposals if p.confident} >= {"item_code", "process_code", "seq"}


def test_proposals_only_for_roles_left_open():
    frame = meaningless_frame()
    proposals = propose_mapping(frame, {"C1": "item_code", "C3": "process_code"})
    assert [(p.column, p.target) for p in proposals] == [("C2", "seq"), ("C4", "duration_min")]
    # a column the user set to "not mapped" may still be proposed
    proposals = propose_mapping(frame, {"C1": "item_code", "C3": IGNORE})
    assert [p.column for p in proposals if p.target == "process_code"] == ["C3"]


def test_item_is_proposed_only_when_its_rows_come_in_blocks():
    frame = meaningless_frame().sample(frac=1, random_state=3).reset_index(drop=True)
    assert "item_code" not in {p.target for p in propose_mapping(frame)}
    # with the item given, the shuffled rows are still judged item by item
    proposals = propose_mapping(frame, {"C1": "item_code"})
    assert ("C3", "process_code") in [(p.column, p.target) for p in proposals]


def test_a_work_centre_or_an_item_attribute_is_not_proposed_as_the_process():
    frame = meaningless_frame().rename(columns={"C3": "ARBPL"})
    proposals = propose_mapping(frame, {"C1": "item_code"})
    assert "ARBPL" not in [p.column for p in proposals]
    assert "C5" not in [p.column for p in proposals]  # the same within every item


def test_missing_required_column_proposes_one_in_plain_words(tmp_path):
    path = tmp_path / "export.csv"
    meaningless_frame().rename(columns={"C1": "Teil"}).to_csv(path, index=False)
    with pytest.raises(MissingColumns) as exc:
        load_dataset(path)
    text = str(exc.value)
    assert text.startswith("export.csv: required column(s) process_code not found after mapping.")
    assert "'C3' looks like the process code: its text changes within items" in text
    assert "--map" not in text and "SOURCE=" not in text  # the command line adds its own syntax
    assert exc.value.missing == ("process_code",)
    assert [p.column for p in exc.value.proposals] == ["C3"]


def test_items_file_without_item_column_names_the_likely_one(tmp_path):
    path = tmp_path / "items.csv"
    meaningless_frame().to_csv(path, index=False)
    with pytest.raises(MissingColumns, match="no item_code column found") as exc:
        read_items(path)
    assert "'C1' looks like the item code" in str(exc.value) and "SOURCE=" not in str(exc.value)


def test_role_notes_speak_the_form_terms():
    proposal = propose_mapping(meaningless_frame(), {"C1": "item_code"})[0]

    def code(column):
        return f"`{column}`"

    assert role_note("process_code", proposal, "*Process code*", quote=code) == (
        "No column was recognised as the process code. `C3` looks like it: its text changes within "
        "items and comes from 9 values that recur across items — pick it under *Process code*."
    )
    assert role_note("process_code", proposal, "*Process code*", chosen=True, quote=code).startswith(
        "No column was recognised as the process code by its name, so `C3` is chosen from its contents:"
    )
    assert role_note("process_code", proposal, "*Process code*", recognised=True, quote=code).startswith(
        "`C3` looks like the process code: its text"
    )
    assert role_note("item_code", None, "*Item code*") == (
        "No column was recognised as the item code: pick one under *Item code*."
    )


def test_missing_columns_notes_for_a_form():
    frame = meaningless_frame()
    exc = MissingColumns("f.csv: required column(s) item_code, process_code not found after mapping.",
                         ["item_code", "process_code"], frame.columns,
                         propose_mapping(frame, {"C1": IGNORE}))
    where = {"item_code": "*Item*", "process_code": "*Process*"}
    notes = exc.notes(where, recognised={"item_code"}, quote=lambda c: f"`{c}`")
    assert notes[0].startswith("`C1` looks like the item code: its values come in unbroken blocks")
    assert notes[0].endswith("— pick it under *Item*.")
    assert notes[1].startswith("No column was recognised as the process code. `C3` looks like it:")
    assert "'C2' looks like" not in str(exc)  # only the missing roles are proposed in the message


def test_a_description_is_never_the_item_and_a_job_number_is():
    # A job-shop log: each job order is routed; PART_DESC says what the part is, not which.
    assert detect_mapping(["JOB_NO", "PART_DESC", "QTY", "OP", "OPER", "MACHINE", "ACT_MIN"]) == {
        "JOB_NO": "item_code", "OPER": "process_code", "ACT_MIN": "duration_min"}
    assert detect_mapping(["Part description", "Part No.", "Operation"]) == {
        "Part No.": "item_code", "Operation": "process_code"}
    # SAP routing fields: material, operation number, standard text key; ARBPL is the work centre
    assert detect_mapping(["MATNR", "VORNR", "ARBPL", "KTSCH", "MAKTX"]) == {
        "MATNR": "item_code", "VORNR": "seq", "KTSCH": "process_code"}
