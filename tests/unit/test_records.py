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
    with pytest.raises(BrokenState, match="field 'time': value error"):
        check({"action": "x", "time": "yesterday"}, ActivityEntry, "w", "n")
