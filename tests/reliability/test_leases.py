"""Several hosts on one shared folder: job liveness by lease, cleanup only of expired leases.

Two real processes with different host ids (ROUTING_HOST_ID) each claim a job of one models
folder the way the worker does and renew its lease with the worker's heartbeat, while each keeps
reading the jobs (which fails any it judges dead). Neither fails the other's job though neither
can judge the other by process id; once one host stops renewing (SIGSTOP: the process still
exists, so a process-id check would call it alive), its job is failed after the lease, whoever
looks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routing_core.datasets import DatasetStore, normalise, read_table
from routing_core.jobs import pid_alive
from routing_core.registry import TMP_PREFIX, Registry
from routing_core.sample import SampleConfig, sample_csv_bytes
from routing_core.sharing import host_tag
from routing_core.training import JobManager, TrainRequest, training_slot
from tests.conftest import ADMIN, ROOT

LEASE = 2.0
DEADLINE = 60.0

# One host: claim the oldest pending job as the worker does, renew its lease, and keep reading the
# jobs (as every page and worker does) until told to stop; report the states it saw.
HOST = r"""
import json, sys, time
from pathlib import Path
from routing_core.jobs import JobManager
from routing_core.worker import _claim_next, start_lease_keeper

models, home, out, stop = sys.argv[1:5]
manager = JobManager(models, home)
start_lease_keeper(manager)  # as the worker does before it runs jobs
job = _claim_next(manager)
seen = {}
while not Path(stop).exists():
    for record in manager.list():
        seen.setdefault(record["job_id"], set()).add(record["state"])
    time.sleep(0.1)
Path(out).write_text(json.dumps({k: sorted(v) for k, v in seen.items()}))
"""


def _wait(what, predicate, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while True:
        value = what()
        if predicate(value):
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting; last: {value!r}")
        time.sleep(0.05)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    models, home = tmp_path / "models", tmp_path / "data"
    csv = sample_csv_bytes(SampleConfig(n_items=60, seed=3))
    DatasetStore(home).save("small", normalise(read_table(csv, name="small.csv")), user=ADMIN)
    monkeypatch.setenv("ROUTING_LEASE_SEC", str(LEASE))
    monkeypatch.setenv("ROUTING_HOST_ID", "gamma")  # this test process: a third host looking on
    return models, home


def _host(name: str, models: Path, home: Path, tmp: Path) -> tuple[subprocess.Popen, Path, Path]:
    out, stop = tmp / f"{name}.json", tmp / f"{name}.stop"
    env = {**os.environ, "ROUTING_HOST_ID": name, "ROUTING_LEASE_SEC": str(LEASE),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOST, str(models), str(home), str(out), str(stop)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, start_new_session=True)
    return proc, out, stop


@pytest.mark.slow
def test_two_hosts_never_fail_each_others_live_jobs_and_an_expired_lease_fails(folder, tmp_path):
    models, home = folder
    manager = JobManager(models, home)
    procs = []
    with training_slot(models):  # no real worker takes the jobs: the two hosts below do
        first = manager.submit(TrainRequest(dataset="small", version="on-alpha"), user=ADMIN)
        second = manager.submit(TrainRequest(dataset="small", version="on-beta"), user=ADMIN)
        try:
            alpha, alpha_out, alpha_stop = _host("alpha", models, home, tmp_path)
            procs.append(alpha)
            _wait(lambda: manager.get(first)["state"], lambda s: s == "running")
            beta, beta_out, beta_stop = _host("beta", models, home, tmp_path)
            procs.append(beta)
            _wait(lambda: manager.get(second)["state"], lambda s: s == "running")
            assert manager.get(first)["host"] == "alpha" and manager.get(second)["host"] == "beta"

            # Three lease lengths with both renewing and both (and this third host) reading.
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3 * LEASE:
                states = {r["job_id"]: r["state"] for r in manager.list()}
                assert states == {first: "running", second: "running"}, states
                time.sleep(0.1)
            beats = manager.get(first)["heartbeat_ts"]
            assert time.time() - beats < LEASE

            # alpha's host freezes (its process and the one renewing its lease); the process still
            # exists, so only the lease can tell.
            os.killpg(alpha.pid, signal.SIGSTOP)
            stopped_at = time.time()
            assert pid_alive(alpha.pid)
            record = _wait(lambda: manager._read(first), lambda r: r["state"] != "running",
                           deadline=LEASE * 10)
            # not before its lease ran out: a lease after its last heartbeat (at most a quarter
            # lease before the stop)
            assert record["finished_ts"] - record["heartbeat_ts"] > LEASE
            assert record["finished_ts"] - stopped_at > LEASE * 0.75
            assert record["state"] == "failed"
            assert "alpha" in record["error"] and "lease" in record["error"], record["error"]
            assert manager.get(second)["state"] == "running"  # beta's job goes on
            ended = [e for e in manager.activity.entries(obj="on-alpha") if e["action"] == "finish_training"]
            assert [(e["outcome"], e["user"]) for e in ended] == [("failed", manager.get(first)["owner"])]

            beta_stop.touch()
            assert beta.wait(timeout=DEADLINE) == 0, beta.stderr.read().decode()
            seen = json.loads(beta_out.read_text())
            assert seen[second] == ["running"]  # beta never saw its own job otherwise
            assert "running" in seen[first] and "failed" in seen[first]
            os.killpg(alpha.pid, signal.SIGCONT)
            alpha_stop.touch()
            assert alpha.wait(timeout=DEADLINE) == 0, alpha.stderr.read().decode()
            seen = json.loads(alpha_out.read_text())
            assert set(seen[second]) <= {"pending", "running"}  # alpha never failed beta's live job
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGCONT)
                    proc.kill()
                    proc.wait(timeout=DEADLINE)


def test_a_job_of_this_host_is_still_judged_by_its_process(folder):
    models, home = folder
    manager = JobManager(models, home)
    with training_slot(models):
        job = manager.submit(TrainRequest(dataset="small", version="here"), user=ADMIN)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        now = time.time()
        manager.update(job, lambda r: {**r, "state": "running", "pid": gone.pid, "pid_start": None,
                                       "host": "gamma", "heartbeat_ts": now, "started_ts": now})
        record = manager.get(job)  # the lease is fresh, but this host knows its process is gone
        assert record["state"] == "failed" and "stopped" in record["error"]


def _publish_folder(models: Path, host: str, pid: int) -> Path:
    path = models / f"{TMP_PREFIX}v1.{host_tag(host)}-{pid}.abc123"
    path.mkdir(parents=True)
    (path / "model.joblib").write_bytes(b"half written")
    return path


def test_cleanup_leaves_another_hosts_publish_until_its_lease_expired(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTING_LEASE_SEC", str(LEASE))
    monkeypatch.setenv("ROUTING_HOST_ID", "beta")
    models = tmp_path / "models"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    theirs = _publish_folder(models, "alpha", gone.pid)  # that pid means nothing on this host
    mine = _publish_folder(models, "beta", gone.pid)
    registry = Registry(models)
    assert registry.cleanup() == 1
    assert theirs.exists() and not mine.exists()  # this host's publish with its process gone: stale
    old = time.time() - LEASE - 1
    for path in (theirs, theirs / "model.joblib"):
        os.utime(path, (old, old))
    assert registry.cleanup() == 1 and not theirs.exists()


def test_dataset_cleanup_leaves_another_hosts_save_until_its_lease_expired(tmp_path, monkeypatch):
    from routing_core.datasets import DatasetStore

    monkeypatch.setenv("ROUTING_LEASE_SEC", str(LEASE))
    monkeypatch.setenv("ROUTING_HOST_ID", "beta")
    store = DatasetStore(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    theirs = store.folder / f".plant.{host_tag('alpha')}-{gone.pid}.x1"
    mine = store.folder / f".plant.{host_tag('beta')}-{gone.pid}.x2"
    for path in (theirs, mine):
        path.mkdir(parents=True)
        (path / "ops.parquet").write_bytes(b"half")
    assert store.cleanup() == 1 and theirs.exists() and not mine.exists()
    old = time.time() - LEASE - 1
    for path in (theirs, theirs / "ops.parquet"):
        os.utime(path, (old, old))
    assert store.cleanup() == 1 and not theirs.exists()
