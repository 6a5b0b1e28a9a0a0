"""The activity log: append-only entries with who, what, which object and the outcome."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from routing_core.platform.errors import UserError
from routing_core.users.access import User, local_user
from routing_core.users.activity import COLUMNS, ActivityLog
from tests.conftest import ADMIN

ANA = User("ana@plant.example", "analyst")


def test_entries_are_appended_and_read_newest_first(tmp_path):
    log = ActivityLog(tmp_path)
    log.record(ANA, "submit_training", "v1", job_id="j1")
    log.record(local_user(), "activate_version", "v1")
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


def test_command_line_changes_are_recorded_as_the_os_user(tmp_path):
    import getpass
    import os
    import subprocess
    import sys

    from routing_core.model import RoutingModel
    from routing_core.synthetic.sample import SampleConfig, generate
    from routing_core.versions.registry import Registry
    from tests.conftest import ROOT

    models, home = tmp_path / "models", tmp_path / "home"
    model = RoutingModel().fit(generate(SampleConfig(n_items=60)))
    Registry(models).publish("v1", model, {"routing_accuracy": 0.5}, {"name": "s"}, {}, {}, user=ADMIN)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ROUTING_DATA_HOME", None)
    for command in ("activate", "delete"):
        proc = subprocess.run([sys.executable, "-m", "routing_core", "--models-dir", str(models),
                               "--data-home", str(home), command, "v1"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
    entries = ActivityLog(home).entries(obj="v1")
    assert [(e["action"], e["user"], e["role"]) for e in entries] == [
        ("delete_version", getpass.getuser(), "admin"),
        ("activate_version", getpass.getuser(), "admin"),
    ]


def test_dataset_store_refuses_by_role_and_records_changes(tmp_path):
    import os

    from routing_core.datasets import DatasetStore, normalise, read_table
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
    from routing_core.users.access import Forbidden

    dataset = normalise(read_table(sample_csv_bytes(SampleConfig(n_items=30, seed=2)), name="s.csv"))
    store = DatasetStore(tmp_path)
    with pytest.raises(Forbidden, match="may not store datasets"):
        store.save("s", dataset, user=User("vera@plant.example", "viewer"))
    assert store.names() == [] and not store.activity.path.exists()
    old = os.umask(0o002)
    try:
        record, created = store.save("s", dataset, user=ANA)
    finally:
        os.umask(old)
    assert created and store.names() == ["s"]
    folder = tmp_path / "datasets" / "s"
    assert folder.stat().st_mode & 0o777 == 0o775  # the folder's group shares it (umask 002)
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "ops.parquet": 0o664, "record.json": 0o664}
    assert store.save("s", dataset, user=ANA)[1] is False  # the same content again: no change
    with pytest.raises(Forbidden, match="may not delete datasets"):
        store.delete("s", user=ANA)
    assert store.names() == ["s"]
    store.delete("s", user=User("boss@plant.example", "admin"))
    assert [(e["action"], e["user"]) for e in store.activity.entries(obj="s")] == [
        ("delete_dataset", "boss@plant.example"), ("store_dataset", ANA.name)]
    assert store.activity.entries(action="store_dataset")[0]["details"]["rows"] == record.rows
