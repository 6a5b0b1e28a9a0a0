"""The records of the state files are pydantic models read through the safe reader: a wrong field is
refused in one sentence naming it (routing_core.platform.statefile.check)."""

from __future__ import annotations

import json

import pytest

from routing_core.datasets.store import RecordFile, StatsFile
from routing_core.engine.records import JobRecord
from routing_core.platform.statefile import BrokenState, check, read_json
from routing_core.users.activity import ActivityEntry
from routing_core.versions.manifest import Manifest, Metrics

JOB = {"job_id": "j1", "state": "pending"}


@pytest.mark.parametrize(("data", "why"), [
    ([1, 2], "holds a list, not an object"),
    ({"state": "pending"}, "lacks the field 'job_id'"),
    ({**JOB, "progress": 101}, "field 'progress' holds 101, outside 0…100"),
    ({**JOB, "progress": True}, "field 'progress' holds true/false, expected a number or null"),
    ({**JOB, "elapsed_sec": float("inf")}, "field 'elapsed_sec' holds inf, not a finite number"),
    ({**JOB, "pid": 1.5}, "field 'pid' holds a number, expected a whole number or null"),
    ({**JOB, "result": {"metrics": {"routing_accuracy": 3}}},
     "field 'result.metrics.routing_accuracy' holds 3, outside -1…1"),
    ({**JOB, "result": {"warnings": ["ok", 7]}}, "field 'result.warnings' item 2 holds a number, expected text"),
    ({**JOB, "result": {"dataset": 5}}, "field 'result.dataset' holds a number, expected an object or text or null"),
    ({**JOB, "request": {"top_k": 0}}, "field 'request.top_k' holds 0, outside 1…1000"),
    ({**JOB, "request": {"top_k": 10 ** 400}}, "field 'request.top_k' holds 100000… (401 digits), outside 1…1000"),
    ({**JOB, "created_ts": -(10 ** 400)}, "field 'created_ts' holds -100000… (401 digits), not a finite number"),
])
def test_a_wrong_job_record_is_refused_naming_its_field(data, why):
    with pytest.raises(BrokenState) as caught:
        check(data, JobRecord, "Training job record j1.json", "j1.json")
    assert str(caught.value) == f"Training job record j1.json: j1.json {why}."


def test_a_good_record_is_returned_as_written_with_fields_it_does_not_name():
    data = {**JOB, "progress": 40, "result": {"dataset": {"name": "d"}, "later": [1]}, "added_later": {"x": 1}}
    assert check(data, JobRecord, "w", "n") is data


def test_the_other_records(tmp_path):
    metrics = {"routing_accuracy": 0.9, "baselines": {"most frequent": "high"}}
    with pytest.raises(BrokenState, match=r"field 'baselines\.most frequent' holds text, expected an object"):
        check(metrics, Metrics, "Model version 'v'", "metrics.json")
    manifest = {"schema": "routing-studio/manifest@1", "artifacts": {}, "dataset": {"rows": "many"}}
    with pytest.raises(BrokenState, match=r"field 'dataset\.rows' holds text, expected a whole number or null"):
        check(manifest, Manifest, "Model version 'v'", "manifest.json")
    stats = {k: 1 for k in ("stats_version", "total_samples", "unique_items", "unique_processes",
                            "distinct_routings", "duplicate_rows", "duplicate_item_seq")}
    check(stats, StatsFile, "w", "stats.json")
    with pytest.raises(BrokenState, match=r"field 'duration_by_process\.DRILL\.p50' holds nan, not a finite"):
        check({**stats, "duration_by_process": {"DRILL": {"p50": float("nan")}}}, StatsFile, "w", "stats.json")
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"name": "d", "mapping": {"A": 1}}))
    with pytest.raises(BrokenState, match="lacks the field 'source_name'"):
        read_json(path, "Dataset 'd'", RecordFile)


def test_a_field_typed_without_null_may_be_absent_but_not_null():
    record = {"name": "d", "source_name": "f.csv", "mapping": {}, "sha256": "x", "rows": 1, "items": 1,
              "processes": 1, "item_attributes": [], "operation_attributes": [], "warnings": [],
              "created_at": "2026-01-01"}
    check(record, RecordFile, "w", "record.json")
    with pytest.raises(BrokenState, match="field 'source' holds null, expected an object"):
        check({**record, "source": None}, RecordFile, "w", "record.json")


def test_an_activity_entry_needs_an_action_and_a_real_time():
    check({"action": "store_dataset", "ts": 5, "time": "2026-01-01T00:00:00+00:00"}, ActivityEntry, "w", "n")
    with pytest.raises(BrokenState, match="field 'time' holds 'yesterday', not a time"):
        check({"action": "x", "time": "yesterday"}, ActivityEntry, "w", "n")


def test_what_a_message_quotes_is_short():
    with pytest.raises(BrokenState) as caught:
        check({"action": "x", "time": "y" * 300}, ActivityEntry, "Activity log", "activity.jsonl")
    assert str(caught.value) == f"Activity log: activity.jsonl field 'time' holds {chr(39)}{'y' * 38}…, not a time."
    stats = {k: 1 for k in ("stats_version", "total_samples", "unique_items", "unique_processes",
                            "distinct_routings", "duplicate_rows", "duplicate_item_seq")}
    with pytest.raises(BrokenState, match="field 'total_samples' holds -1, outside 0…"):
        check({**stats, "total_samples": -1}, StatsFile, "w", "stats.json")


def test_a_number_too_long_to_read_is_refused(tmp_path):
    path = tmp_path / "j1.json"
    path.write_text('{"job_id": "j1", "state": "pending", "pid": ' + "9" * 5000 + "}")
    with pytest.raises(BrokenState, match="holds a number too long to read"):
        read_json(path, "Training job record j1.json", JobRecord)


def test_a_training_asking_for_more_candidates_than_a_record_holds_is_refused_before_it_starts():
    from routing_core.engine.train_request import TrainRequest, check_request
    from routing_core.platform.errors import UserError
    from routing_core.platform.limits import MAX_TOP_K

    check_request(TrainRequest("d", top_k=MAX_TOP_K))
    with pytest.raises(UserError, match="top-k must be a whole number from 1 to 1,000"):
        check_request(TrainRequest("d", top_k=MAX_TOP_K + 1))
    check({**JOB, "request": {"top_k": MAX_TOP_K}}, JobRecord, "w", "n")


def test_a_manifest_artifact_with_a_size_that_is_no_count_is_refused():
    from routing_core.versions.manifest import parse_manifest

    good = {"schema": "routing-studio/manifest@1", "artifacts": {"model.joblib": {"sha256": "ab", "bytes": 10}}}
    assert parse_manifest(json.dumps(good).encode(), "Model version 'v'")["artifacts"]
    bad = {**good, "artifacts": {"model.joblib": {"sha256": "ab", "bytes": True}}}
    with pytest.raises(BrokenState, match=r"field 'artifacts\.model\.joblib\.bytes' holds true/false, expected a whole"):
        parse_manifest(json.dumps(bad).encode(), "Model version 'v'")
