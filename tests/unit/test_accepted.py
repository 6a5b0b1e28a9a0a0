"""The routing store, the diff against a candidate, output profiles and file exports."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
from openpyxl import load_workbook

from routing_core.accepted import (
    AcceptedStore,
    Draft,
    Profile,
    ProfileStore,
    acceptance_by_version,
    apply_profile,
    describe,
    file_export,
    profile_from_json,
    routing_diff,
)
from routing_core.platform.errors import UserError
from routing_core.platform.statefile import BrokenState
from routing_core.users.access import Forbidden, User
from routing_core.users.activity import ACCEPT_ROUTING, ActivityLog
from tests.conftest import ADMIN

ANA = User("ana", "analyst")
VIC = User("vic", "viewer")


def step(code, minutes=None, **attributes):
    return {"process_code": code, "duration_min": minutes, "attributes": attributes}


CANDIDATE = [step("SAW", 3, work_center="S1"), step("LATHE", 12, work_center="L1"), step("WASH", 4),
             step("INSPECT", 2)]


def test_diff_of_the_same_routing_is_empty():
    assert routing_diff(CANDIDATE, [dict(s) for s in CANDIDATE]) == []


def test_diff_names_each_change_worked_by_hand():
    # WASH moved before LATHE, LATHE's time 12 -> 15, INSPECT renamed CMM, DEBURR inserted last,
    # SAW's work centre S1 -> S2.
    accepted = [step("SAW", 3, work_center="S2"), step("WASH", 4), step("LATHE", 15, work_center="L1"),
                step("CMM", 2), step("DEBURR", 1)]
    changes = routing_diff(CANDIDATE, accepted)
    said = [describe(c) for c in changes]
    assert said == [
        "step 1 SAW: work_center S1 → S2",
        "WASH: moved from step 3 to step 2",
        "step 3 LATHE: time 12 min → 15 min",
        "step 4: INSPECT renamed CMM",
        "step 5 DEBURR: inserted",
    ]
    removed = routing_diff(CANDIDATE, CANDIDATE[:2] + CANDIDATE[3:])
    assert [describe(c) for c in removed] == ["WASH (step 3 of the candidate): removed"]


def test_store_accepts_corrects_withdraws_and_logs(tmp_path):
    store = AcceptedStore(tmp_path)
    draft = Draft("P-1", [{**s, "seq": n} for n, s in zip([10, 30, 20, 40], CANDIDATE, strict=True)],
                  attributes={"material": "S45C"}, version="v1", candidate_rank=1, candidate_kind="model",
                  candidate_score=0.77, candidate_steps=CANDIDATE)
    record = store.accept(draft, user=ANA)
    # ordered by seq (WASH's 20 before LATHE's 30), renumbered 1..4
    assert [s["process_code"] for s in record.steps] == ["SAW", "WASH", "LATHE", "INSPECT"]
    assert [s["seq"] for s in record.steps] == [1, 2, 3, 4]
    assert record.outcome == "first changed" and record.total_min == 21
    assert [c["change"] for c in record.changes] == ["moved"]
    again = AcceptedStore(tmp_path).get("P-1")  # read back from the file
    assert again.steps == record.steps and again.accepted_by == "ana" and again.attributes == {"material": "S45C"}
    fixed = store.correct("P-1", CANDIDATE, user=ANA)
    assert fixed.changes == [] and fixed.outcome == "first unchanged" and fixed.revision == 2
    assert store.frame(search="insp")["item_code"].tolist() == ["P-1"]
    assert store.frame(search="nothing-like-it").empty
    store.withdraw("P-1", user=ANA, reason="wrong item")
    assert store.all() == [] and store.all(include_withdrawn=True)[0].status == "withdrawn"
    actions = [e["action"] for e in ActivityLog(tmp_path).entries()]
    assert actions == ["withdraw_routing", "correct_routing", "accept_routing"]


def test_a_viewer_cannot_accept_and_nothing_is_written(tmp_path):
    store = AcceptedStore(tmp_path)
    with pytest.raises(Forbidden, match="vic is a viewer and may not accept"):
        store.accept(Draft("P-1", CANDIDATE), user=VIC)
    assert not store.path.exists() and ActivityLog(tmp_path).entries() == []
    with pytest.raises(TypeError):
        store.accept(Draft("P-1", CANDIDATE))  # no default user


def test_batch_is_one_change_all_or_nothing(tmp_path):
    store = AcceptedStore(tmp_path)
    good = [Draft(f"P-{n}", CANDIDATE, version="v1", candidate_rank=1, candidate_steps=CANDIDATE) for n in range(3)]
    bad = Draft("P-9", [step("SAW", -1)])
    with pytest.raises(UserError, match="0 or more"):
        store.accept_many([*good, bad], user=ANA)
    assert store.all() == []
    made = store.accept_many(good, user=ANA)
    assert len(made) == 3 and len(store.all()) == 3
    entries = ActivityLog(tmp_path).entries(action=ACCEPT_ROUTING)
    assert len(entries) == 1 and entries[0]["object"] == "3 routings"


def test_bad_steps_are_refused_with_a_message(tmp_path):
    store = AcceptedStore(tmp_path)
    with pytest.raises(UserError, match="step 2 has no process code"):
        store.accept(Draft("P-1", [step("SAW"), step("  ")]), user=ANA)
    with pytest.raises(UserError, match="no steps"):
        store.accept(Draft("P-1", []), user=ANA)
    with pytest.raises(UserError, match="not a number"):
        store.accept(Draft("P-1", [step("SAW", "abc")]), user=ANA)


def test_a_broken_store_file_is_refused_whole(tmp_path):
    store = AcceptedStore(tmp_path)
    store.accept(Draft("P-1", CANDIDATE), user=ANA)
    data = json.loads(store.path.read_text())
    data["routings"][0]["steps"] = "not steps"
    store.path.write_text(json.dumps(data))
    with pytest.raises(BrokenState, match="routing store"):
        store.all()
    with pytest.raises(BrokenState):  # and no change is made on top of it
        store.accept(Draft("P-2", CANDIDATE), user=ANA)
    assert json.loads(store.path.read_text()) == data


def test_concurrent_accepts_all_land(tmp_path):
    store = AcceptedStore(tmp_path)
    threads = [threading.Thread(target=store.accept, args=(Draft(f"P-{n}", CANDIDATE),), kwargs={"user": ANA})
               for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.item_code for r in store.all()) == [f"P-{n}" for n in range(8)]


def test_acceptance_by_version_worked_by_hand(tmp_path):
    store = AcceptedStore(tmp_path)
    changed = [step("SAW", 3, work_center="S1"), step("LATHE", 13, work_center="L1"), step("WASH", 4),
               step("INSPECT", 2)]
    drafts = [
        Draft("A", CANDIDATE, version="v1", candidate_rank=1, candidate_steps=CANDIDATE),  # v1 unchanged
        Draft("B", CANDIDATE, version="v1", candidate_rank=1, candidate_steps=CANDIDATE),  # v1 unchanged
        Draft("C", changed, version="v1", candidate_rank=1, candidate_steps=CANDIDATE),  # v1 changed
        Draft("D", CANDIDATE, version="v1", candidate_rank=3, candidate_steps=CANDIDATE),  # v1 another
        Draft("E", changed, version="v2", candidate_rank=1, candidate_steps=CANDIDATE),  # v2 changed
        Draft("F", CANDIDATE),  # typed: counts for no version
        Draft("G", CANDIDATE, version="v2", candidate_rank=1, candidate_steps=CANDIDATE),  # withdrawn below
    ]
    store.accept_many(drafts, user=ANA)
    store.withdraw("G", user=ANA)
    table = acceptance_by_version(store.all(include_withdrawn=True)).set_index("version")
    assert table.loc["v1", ["accepted", "first unchanged", "first changed", "another picked"]].tolist() == [4, 2, 1, 1]
    assert table.loc["v2", ["accepted", "first unchanged", "first changed", "another picked"]].tolist() == [1, 0, 1, 0]
    assert table.loc["v1", "first unchanged (share)"] == pytest.approx(0.5)
    assert list(table.index) == ["v1", "v2"]


SAP = {"name": "sap", "op_start": 10, "op_step": 10, "time_unit": "h", "time_decimals": 4, "delimiter": ";",
       "encoding": "cp1252",
       "columns": [{"column": "MATNR", "field": "item_code"}, {"column": "VORNR", "field": "operation"},
                   {"column": "ARBPL", "field": "work_center"}, {"column": "STEUS", "constant": "PP01"},
                   {"column": "VGW01", "field": "time"}, {"column": "VGE01", "field": "time_unit"},
                   {"column": "WERKS", "field": "plant"}]}


@pytest.fixture
def accepted(tmp_path):
    store = AcceptedStore(tmp_path)
    store.accept(Draft("=HYPERLINK(1)", [step("SAW", 3, work_center="S1"), step("LATHE", 90, work_center="L1")],
                       attributes={"plant": "Zürich"}), user=ANA)
    return store.all()


def test_profile_maps_fields_numbers_units_and_constants(accepted):
    table = apply_profile(accepted, profile_from_json(SAP))
    assert table.columns.tolist() == ["MATNR", "VORNR", "ARBPL", "STEUS", "VGW01", "VGE01", "WERKS"]
    assert table.values.tolist() == [
        ["=HYPERLINK(1)", 10, "S1", "PP01", 0.05, "h", "Zürich"],  # 3 min = 0.05 h
        ["=HYPERLINK(1)", 20, "L1", "PP01", 1.5, "h", "Zürich"],
    ]


@pytest.mark.parametrize("bad, message", [
    ({"time_unit": "days"}, "time unit"), ({"delimiter": "x"}, "delimiter"), ({"encoding": "klingon"}, "encoding"),
    ({"columns": []}, "no columns"), ({"columns": [{"column": "A"}]}, "field or a constant"),
    ({"op_step": 0}, "op_step"), ({"colour": "red"}, "unknown setting"), ({"name": "../x"}, "not allowed"),
    ({"columns": [{"column": "A", "field": "x"}, {"column": "A", "constant": 1}]}, "more than once"),
])
def test_bad_profiles_are_refused(bad, message):
    with pytest.raises(UserError, match=message):
        profile_from_json({**SAP, **bad})


def test_csv_export_uses_the_plants_delimiter_encoding_and_is_formula_safe(accepted):
    profile = profile_from_json(SAP)
    data = file_export("csv").data(apply_profile(accepted, profile), profile)
    rows = list(csv.reader(io.StringIO(data.decode("cp1252")), delimiter=";"))
    assert rows[0] == ["MATNR", "VORNR", "ARBPL", "STEUS", "VGW01", "VGE01", "WERKS"]
    assert rows[1] == ["'=HYPERLINK(1)", "10", "S1", "PP01", "0.05", "h", "Zürich"]
    assert "ü".encode("cp1252") in data  # in the plant's encoding, not UTF-8
    greek = Profile(**{**SAP, "encoding": "ascii"})
    with pytest.raises(UserError, match="cannot be written in ascii"):
        file_export("csv").data(apply_profile(accepted, greek), greek)


def test_excel_and_json_exports_hold_the_same_cells(accepted):
    profile = profile_from_json(SAP)
    table = apply_profile(accepted, profile)
    sheet = load_workbook(io.BytesIO(file_export("xlsx").data(table, profile))).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == table.columns.tolist()
    assert cells[1:] == table.values.tolist()
    assert sheet["A2"].data_type == "s"  # text, not a formula
    rows = json.loads(file_export("json").data(table, profile))
    assert rows[1] == {"MATNR": "=HYPERLINK(1)", "VORNR": 20, "ARBPL": "L1", "STEUS": "PP01",
                       "VGW01": 1.5, "VGE01": "h", "WERKS": "Zürich"}
    with pytest.raises(UserError, match="Unknown export format"):
        file_export("xml")


def test_profile_store_round_trip_and_broken_file(tmp_path):
    profiles = ProfileStore(tmp_path)
    profiles.ensure_example()
    assert profiles.names() == ["sap-routing"]
    profiles.save(profile_from_json(SAP), user=ANA)
    assert profiles.get("sap").time_unit == "h"
    with pytest.raises(Forbidden):
        profiles.save(profile_from_json(SAP), user=VIC)
    (tmp_path / "profiles" / "sap.json").write_text('{"name": "sap", "columns": "no"}')
    with pytest.raises(BrokenState, match="list of columns"):
        profiles.get("sap")
    with pytest.raises(UserError, match="No output profile"):
        profiles.get("other")


def test_a_version_trained_with_accepted_routings_records_how_many(tmp_path):
    from routing_core.accepted import store_with_accepted
    from routing_core.datasets import DatasetStore, load_dataset
    from routing_core.engine.train_request import TrainRequest
    from routing_core.engine.training import run_training
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
    from routing_core.versions.registry import Registry

    home, models = tmp_path / "data", tmp_path / "models"
    datasets = DatasetStore(home)
    datasets.save("base", load_dataset(sample_csv_bytes(SampleConfig(n_items=120)), name="s.csv"), user=ANA)
    base = datasets.load("base").ops
    first = base["item_code"].iloc[0]
    attrs = base[base["item_code"] == first].iloc[0]
    store = AcceptedStore(home)
    store.accept_many([
        Draft(first, [step("SAW", 3), step("NEW_STEP", 7)], attributes={"material": attrs["material"]}),
        Draft("BRAND-NEW", [step("SAW", 2), step("INSPECT", 1)], attributes={"material": attrs["material"],
                                                                            "unheard_of": 1}),
        Draft("TAKEN-BACK", [step("SAW", 2)]),
    ], user=ANA)
    store.withdraw("TAKEN-BACK", user=ANA)
    record, used = store_with_accepted(home, "base", "base-accepted", user=ANA)
    assert used == 2
    merged = datasets.load("base-accepted").ops
    assert merged[merged["item_code"] == first]["process_code"].tolist() == ["SAW", "NEW_STEP"]
    assert merged[merged["item_code"] == "BRAND-NEW"]["duration_min"].tolist() == [2, 1]
    assert "TAKEN-BACK" not in set(merged["item_code"]) and "unheard_of" not in merged.columns
    assert record.items == base["item_code"].nunique() + 1
    run_training(TrainRequest("base-accepted", version="v-acc", refit=False), models, home, user=ADMIN)
    assert Registry(models).get("v-acc").dataset["accepted_routings"] == 2


def test_a_profile_reading_an_attribute_no_routing_has_is_refused(accepted):
    profile = profile_from_json({**SAP, "columns": [{"column": "MATNR", "field": "item_code"},
                                                    {"column": "ARBPL", "field": "Arbeitsplatz"}]})
    with pytest.raises(UserError, match="column ARBPL reads 'Arbeitsplatz', which none of the 1 routing"):
        apply_profile(accepted, profile)
