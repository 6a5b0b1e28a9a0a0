"""Keys and clocks: a signing key inside the folders it protects, and a publish after the job ended.

Attacks: the signing key file kept inside the models folder or the data home (anyone who can
write there re-signs a model of their own); a job ended by another host while it trains (there
by a lease that looked expired to a clock 120 s ahead; now by a cancel, the one way another host
ends it) that then finishes and publishes its version anyway. The second is played with real
processes: this process claims the job as the worker does on host "alpha" and runs it
(`run_claimed_job`, the worker's own code); host "beta", another process, cancels it in between.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.worker import claim_next, run_claimed_job
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.access import local_user
from routing_core.versions.registry import TMP_PREFIX, Registry
from routing_core.versions.signing import KEY_FILE_ENV
from tests.conftest import ROOT

ME = local_user()


@pytest.fixture
def stored(data_home, models_dir):
    DatasetStore(data_home).save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=40, seed=2)), name="s.csv"),
                                 user=ME)
    return data_home, models_dir


@pytest.mark.parametrize("where", ["models", "data", "data-link"])
def test_a_signing_key_inside_the_models_or_data_folder_is_refused(where, stored, tmp_path, monkeypatch):
    home, models = stored
    if where == "data-link":  # a link outside that points inside is inside too
        (home / "keys").mkdir()
        (home / "keys" / "key").write_text("k" * 40)
        key = tmp_path / "key-link"
        key.symlink_to(home / "keys" / "key")
    else:
        key = (models if where == "models" else home) / "signing.key"
        key.write_text("k" * 40)
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    manager = JobManager(models, home)
    job = manager.submit(TrainRequest("s", version="v1"), user=ME)
    deadline = time.monotonic() + 60
    while manager.get(job)["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    record = manager.get(job)
    assert record["state"] == "failed" and "lies inside" in record["error"], record
    assert Registry(models).names() == []


def test_a_signing_key_outside_both_folders_signs(stored, tmp_path, monkeypatch):
    home, models = stored
    key = tmp_path / "keys" / "signing.key"
    key.parent.mkdir()
    key.write_text("k" * 40)
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    manager = JobManager(models, home)
    job = manager.submit(TrainRequest("s", version="v1"), user=ME)
    deadline = time.monotonic() + 60
    while manager.get(job)["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert manager.get(job)["state"] == "completed"
    assert (models / "v1" / "signature.json").is_file()
    Registry(models).load_model("v1")  # checked against the key and loaded


BETA = r"""
import sys
from routing_core.users.access import local_user
from routing_core.engine.jobs import JobManager
models, home, job_id = sys.argv[1:4]
print(JobManager(models, home).cancel(job_id, user=local_user())["state"])
"""


def test_a_job_ended_by_another_host_does_not_publish_its_version(stored, monkeypatch):
    home, models = stored
    monkeypatch.setenv("ROUTING_HOST_ID", "alpha")
    manager = JobManager(models, home)
    monkeypatch.setattr(JobManager, "_spawn_worker", lambda self: None)  # this process is the worker
    job_id = manager.submit(TrainRequest("s", version="from-alpha"), user=ME)
    job = claim_next(manager)
    assert job["job_id"] == job_id and job["host"] == "alpha"
    judged = {}

    def progress_then_judged(real):
        def progress(stage, pct, message):
            real(stage, pct, message)
            if stage == "evaluate" and not judged:
                env = {**os.environ, "ROUTING_HOST_ID": "beta", "PYTHONPATH": str(ROOT)}
                out = subprocess.run([sys.executable, "-c", BETA, str(models), str(home), job_id], env=env,
                                     capture_output=True, text=True, timeout=120, check=True).stdout
                judged["beta saw"] = out
        return progress

    import routing_core.engine.training as training

    real_run = training.run_training

    def run(request, models_dir, data_home, progress=None, **kw):
        return real_run(request, models_dir, data_home, progress=progress_then_judged(progress), **kw)

    monkeypatch.setattr(training, "run_training", run)
    run_claimed_job(manager, job)
    assert judged["beta saw"].strip() == "cancelled"
    record = manager.get(job_id)
    assert record["state"] == "cancelled" and "alpha" in record["message"]
    assert Registry(models).names() == []  # the late finisher published nothing
    assert not [p for p in models.iterdir() if p.name.startswith(TMP_PREFIX)]
    with pytest.raises(UserError):
        Registry(models).get("from-alpha")
