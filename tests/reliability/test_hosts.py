"""Several hosts on one shared folder without a cluster (docs/reliability.md, "Fail closed"): a host
judges only its own jobs, by process; another host's job is never failed here, whatever its age
or the clocks say, and a cancel ends it at once; another host's half-written folder is left alone
until it is a day old. (Liveness across hosts is the Dask scheduler's: tests/reliability/test_cluster.py.)

Real processes with their own host ids (ROUTING_HOST_ID): host "alpha" claims a job the way the
worker does and keeps running; this process is host "gamma", looking on and cancelling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routing_core.datasets import DatasetStore, normalise, read_table
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.platform.sharing import host_tag
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.activity import ActivityLog
from routing_core.versions.registry import STALE_AFTER_SEC, TMP_PREFIX, Registry
from tests.conftest import ADMIN, ROOT

# Host alpha: claim the oldest pending job as the worker does and stay alive until told to stop.
HOST = r"""
import sys, time
from pathlib import Path
from routing_core.engine.jobs import JobManager
from routing_core.engine.worker import claim_next

models, home, stop = sys.argv[1:4]
job = claim_next(JobManager(models, home))
print(job["job_id"], flush=True)
while not Path(stop).exists():
    time.sleep(0.05)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    models, home = tmp_path / "models", tmp_path / "data"
    csv = sample_csv_bytes(SampleConfig(n_items=60, seed=3))
    DatasetStore(home).save("small", normalise(read_table(csv, name="small.csv")), user=ADMIN)
    monkeypatch.setenv("ROUTING_HOST_ID", "gamma")
    return models, home


def test_another_hosts_job_is_never_failed_here_and_a_cancel_ends_it_at_once(folder, tmp_path, monkeypatch):
    models, home = folder
    manager = JobManager(models, home)
    monkeypatch.setattr(JobManager, "_spawn_worker", lambda self: None)  # alpha's process claims it
    job_id = manager.submit(TrainRequest("small", version="v-alpha"), user=ADMIN)
    stop = tmp_path / "stop"
    alpha = subprocess.Popen([sys.executable, "-c", HOST, str(models), str(home), str(stop)], cwd=ROOT,
                             env={**os.environ, "ROUTING_HOST_ID": "alpha", "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, text=True)
    try:
        assert alpha.stdout.readline().strip() == job_id
        record = manager.get(job_id)
        assert record["state"] == "running" and record["host"] == "alpha"
        # alpha's pid means nothing here, and its record looks hours old (a clock far behind):
        # still not this host's to fail
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        data = json.loads((models / ".jobs" / f"{job_id}.json").read_text())
        data.update(pid=gone.pid, started_ts=time.time() - 7200)
        (models / ".jobs" / f"{job_id}.json").write_text(json.dumps(data))
        for _ in range(3):
            assert manager.get(job_id)["state"] == "running"
            assert [j["job_id"] for j in manager.active()] == [job_id]
        cancelled = manager.cancel(job_id, user=ADMIN)
        assert cancelled["state"] == "cancelled" and cancelled["cancelled_by"] == ADMIN.name
        assert "alpha" in cancelled["message"]
        assert manager.get(job_id)["state"] == "cancelled" and manager.active() == []
        logged = [e for e in ActivityLog(home).entries() if e.get("object") == "v-alpha"]
        assert {e["action"] for e in logged} >= {"cancel_training", "finish_training"}
    finally:
        stop.touch()
        alpha.wait(timeout=30)


def test_a_job_of_this_host_is_still_judged_by_its_process(folder):
    models, home = folder
    manager = JobManager(models, home)
    job_id = manager.submit(TrainRequest("small", version="v-mine"), user=ADMIN)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    data = json.loads((models / ".jobs" / f"{job_id}.json").read_text())
    data.update(state="running", host="gamma", pid=gone.pid, pid_start=None, started_ts=time.time())
    (models / ".jobs" / f"{job_id}.json").write_text(json.dumps(data))
    record = manager.get(job_id)
    assert record["state"] == "failed" and record["error"] == "the training process stopped (server restart?)"


def _publish_folder(models: Path, host: str, pid: int) -> Path:
    path = models / f"{TMP_PREFIX}v1.{host_tag(host)}-{pid}.abc123"
    path.mkdir(parents=True)
    (path / "model.joblib").write_bytes(b"half written")
    return path


def test_cleanup_leaves_another_hosts_publish_until_it_is_a_day_old(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTING_HOST_ID", "beta")
    models = tmp_path / "models"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    theirs = _publish_folder(models, "alpha", gone.pid)  # that pid means nothing on this host
    mine = _publish_folder(models, "beta", gone.pid)
    registry = Registry(models)
    assert registry.cleanup() == 1
    assert theirs.exists() and not mine.exists()  # this host's publish with its process gone: stale
    old = time.time() - STALE_AFTER_SEC - 1
    os.utime(theirs, (old, old))
    assert registry.cleanup() == 1 and not theirs.exists()


def test_dataset_cleanup_leaves_another_hosts_save_until_it_is_a_day_old(tmp_path, monkeypatch):
    from routing_core.datasets.store import STALE_SAVE_SEC

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
    old = time.time() - STALE_SAVE_SEC - 1
    os.utime(theirs, (old, old))
    assert store.cleanup() == 1 and not theirs.exists()


def _running(models: Path, job_id: str, **fields) -> None:
    path = models / ".jobs" / f"{job_id}.json"
    data = json.loads(path.read_text())
    data.update(state="running", started_ts=time.time(), pid_start=None, **fields)
    path.write_text(json.dumps(data))


def test_this_machines_job_from_before_a_reboot_is_failed(tmp_path, monkeypatch):
    """A host id is the hostname and the boot id: after a reboot, the machine's old jobs are its own
    and dead, not another host's (which nothing here would ever end)."""
    import socket

    from routing_core.engine.jobs import DEAD_REASON

    monkeypatch.delenv("ROUTING_HOST_ID", raising=False)
    models, home = tmp_path / "models", tmp_path / "data"
    csv = sample_csv_bytes(SampleConfig(n_items=60, seed=3))
    DatasetStore(home).save("small", normalise(read_table(csv, name="small.csv")), user=ADMIN)
    manager = JobManager(models, home)
    monkeypatch.setattr(JobManager, "_spawn_worker", lambda self: None)
    before_reboot = manager.submit(TrainRequest("small", version="v-old-boot"), user=ADMIN)
    elsewhere = manager.submit(TrainRequest("small", version="v-other-host"), user=ADMIN)
    _running(models, before_reboot, host=f"{socket.gethostname()}:an-earlier-boot-id", pid=os.getpid())
    _running(models, elsewhere, host="another-machine:its-boot-id", pid=os.getpid())
    assert manager.get(before_reboot)["state"] == "failed"
    assert manager.get(before_reboot)["error"] == DEAD_REASON
    assert manager.get(elsewhere)["state"] == "running"


def test_a_cancel_from_another_host_after_the_publish_leaves_the_job_to_complete(folder, monkeypatch):
    models, home = folder
    manager = JobManager(models, home)
    monkeypatch.setattr(JobManager, "_spawn_worker", lambda self: None)
    job_id = manager.submit(TrainRequest("small", version="v-published"), user=ADMIN)
    _running(models, job_id, host="alpha", pid=12345, published=True)
    record = manager.cancel(job_id, user=ADMIN)
    assert record["state"] == "running" and record["cancel_requested"]  # its version is already in place


def test_a_worker_whose_job_was_run_again_elsewhere_leaves_the_record_alone(folder, monkeypatch):
    """A cluster that took this worker for dead runs the job again on another worker; this worker,
    still alive, must neither write its progress into the new attempt's record nor end it nor
    publish."""
    import routing_core.engine.training as training
    from routing_core.engine.worker import claim_next, run_claimed_job

    models, home = folder
    manager = JobManager(models, home)
    monkeypatch.setattr(JobManager, "_spawn_worker", lambda self: None)  # this process is the worker
    job_id = manager.submit(TrainRequest("small", version="v-twice"), user=ADMIN)
    job = claim_next(manager)
    real_run = training.run_training

    def run(request, models_dir, data_home, progress=None, **kw):
        def moved(stage, pct, message):
            if stage == "evaluate":
                _running(models, job_id, host="w2 at 10.0.0.2", pid=4242, stage="fit", progress=12.5)
            progress(stage, pct, message)
        return real_run(request, models_dir, data_home, progress=moved, **kw)

    monkeypatch.setattr(training, "run_training", run)
    run_claimed_job(manager, job)
    record = manager.get(job_id)
    assert (record["state"], record["host"], record["pid"], record["stage"], record["progress"]) == \
        ("running", "w2 at 10.0.0.2", 4242, "fit", 12.5)
    assert Registry(models).names() == []
