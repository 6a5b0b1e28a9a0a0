"""The activity log: append-only entries with who, what, which object and the outcome."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from routing_core.access import User, local_user
from routing_core.activity import COLUMNS, ActivityLog
from routing_core.errors import UserError

ANA = User("ana@plant.example", "analyst")


def test_entries_are_appended_and_read_newest_first(tmp_path):
    log = ActivityLog(tmp_path)
    log.record(ANA, "submit_training", "v1", job_id="j1")
    log.record(None, "activate_version", "v1")
    log.record("bob", "finish_training", "v1", outcome="failed", error="boom")
    rows = log.entries()
    assert [r["action"] for r in rows] == ["finish_training", "activate_version", "submit_training"]
    assert rows[0]["user"] == "bob" and rows[0]["outcome"] == "failed" and rows[0]["details"] == {"error": "boom"}
    assert rows[1]["user"] == local_user().name and rows[1]["role"] == "admin"
    assert rows[2]["user"] == ANA.name and rows[2]["role"] == "analyst"
    assert [r["action"] for r in log.entries(obj="v1", user="bob")] == ["finish_training"]
    assert log.entries(action="activate_version")[0]["object"] == "v1"
    lines = (tmp_path / "activity.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["action"] == "submit_training"  # oldest first on disk


def test_since_filters_by_time(tmp_path):
    log = ActivityLog(tmp_path)
    log.record(ANA, "store_dataset", "a")
    time.sleep(0.05)
    cut = time.time()
    log.record(ANA, "store_dataset", "b")
    assert [r["object"] for r in log.entries(since=cut)] == ["b"]
    assert len(log.entries(since="2000-01-01")) == 2
    with pytest.raises(UserError, match="not a time"):
        log.entries(since="yesterday-ish")


def test_frame_has_the_columns_and_types(tmp_path):
    log = ActivityLog(tmp_path)
    assert list(log.frame().columns) == COLUMNS and log.frame().empty
    log.record(ANA, "delete_dataset", "d1", reason="old")
    frame = log.frame(user=ANA.name)
    assert list(frame.columns) == COLUMNS and len(frame) == 1
    assert str(frame["time"].dt.tz) == "UTC"
    assert json.loads(frame.loc[0, "details"]) == {"reason": "old"}


def test_a_torn_line_is_skipped(tmp_path):
    log = ActivityLog(tmp_path)
    log.record(ANA, "store_dataset", "a")
    with open(log.path, "ab") as fh:
        fh.write(b'{"time": "2026-')  # a disk that filled mid-line
    log.record(ANA, "store_dataset", "b")
    assert [r["object"] for r in log.entries()] == ["b", "a"]


def _writer(root: str, who: str, n: int) -> None:
    log = ActivityLog(root)
    for i in range(n):
        log.record(who, "store_dataset", f"{who}-{i}", padding="x" * 400)


def test_writers_in_several_processes_never_interleave(tmp_path):
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(str(tmp_path), w, 60))
             for w in ("p1", "p2", "p3")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = (tmp_path / "activity.jsonl").read_text().splitlines()
    assert len(lines) == 180
    assert all(json.loads(line)["details"]["padding"] == "x" * 400 for line in lines)
    assert len(ActivityLog(tmp_path).entries()) == 180


def test_log_file_follows_the_umask(tmp_path):
    import os

    old = os.umask(0o002)
    try:
        ActivityLog(tmp_path).record(ANA, "store_dataset", "a")
    finally:
        os.umask(old)
    assert (tmp_path / "activity.jsonl").stat().st_mode & 0o777 == 0o664
