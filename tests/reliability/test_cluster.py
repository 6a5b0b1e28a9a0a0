"""Trainings and batch predictions on a real Dask cluster: a scheduler and two workers started here
(tests/cluster.py), a shared models folder and data home, ROUTING_SCHEDULER naming the scheduler."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, load_dataset, read_items
from routing_core.engine import Jobs
from routing_core.engine.batch import predict_frame
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.access import local_user
from routing_core.users.activity import ActivityLog
from routing_core.versions.registry import Registry
from tests.cluster import WORKERS, running_cluster
from tests.conftest import ADMIN

FINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster")) as found:
        yield found


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The data home every worker reads: small datasets, and a longer one to stop mid-way."""
    home = tmp_path_factory.mktemp("shared") / "data"
    store = DatasetStore(home)
    for name, items, seed in (("one", 150, 1), ("two", 150, 2), ("long", 700, 3)):
        store.save(name, load_dataset(sample_csv_bytes(SampleConfig(n_items=items, seed=seed)), name=f"{name}.csv"), user=ADMIN)
    return home


@pytest.fixture
def manager(cluster, shared, tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTING_SCHEDULER", cluster.address)
    return Jobs(tmp_path / "models", shared)


def wait(manager, job_id, states, timeout=90.0, until=None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = manager.get(job_id)
        if record["state"] in states and (until is None or until(record)):
            return record
        assert time.monotonic() < deadline, f"job {job_id} not {states} after {timeout} s: {record}"
        time.sleep(0.1)


def visible(models) -> list[str]:
    return sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) if models.exists() else []


def test_two_trainings_run_at_once_on_two_workers(manager, cluster):
    # long enough that the second is submitted while the first still runs, on a fast machine too
    first = manager.submit(TrainRequest(dataset="long", version="a"), user=ADMIN)
    second = manager.submit(TrainRequest(dataset="long", version="b", seed=7), user=ADMIN)
    a, b = (wait(manager, j, FINAL) for j in (first, second))
    assert (a["state"], b["state"]) == ("completed", "completed"), (a, b)
    # one per worker, side by side: each started before the other ended
    assert {a["worker"], b["worker"]} == {f"{w} at 127.0.0.1" for w in WORKERS}
    assert a["started_ts"] < b["finished_ts"] and b["started_ts"] < a["finished_ts"]
    assert a["scheduler"] == cluster.address and a["attempts"] == 1
    # progress reached the record from the worker, every stage in order
    assert [h["stage"] for h in a["stages"]] == ["validate", "profile", "split", "features", "fit",
                                                  "evaluate", "save"]
    assert a["progress"] == 100 and a["elapsed_sec"] > 0
    registry = Registry(manager.root)
    assert visible(manager.root) == ["a", "b"]
    for name in ("a", "b"):
        registry.verify(name)
    me = local_user().name
    done = [(e["action"], e["outcome"], e["user"]) for e in ActivityLog(manager.data_home).entries(obj="a")
            if e["details"].get("job_id") == first]
    assert done == [("finish_training", "completed", me), ("submit_training", "ok", me)], done


def test_a_worker_killed_mid_training_the_job_finishes_on_another(manager, cluster):
    job = manager.submit(TrainRequest(dataset="long", version="survivor"), user=ADMIN)
    record = wait(manager, job, {"running"}, until=lambda r: r.get("stage") in ("fit", "evaluate"))
    killed, where = record["pid"], record["worker"]
    os.kill(killed, signal.SIGKILL)
    record = wait(manager, job, FINAL, timeout=120)
    assert record["state"] == "completed", record
    assert record["attempts"] == 2 and record["pid"] != killed
    assert record["message"] == "version 'survivor' published"
    assert visible(manager.root) == ["survivor"] and Registry(manager.root).stale_entries() == []
    Registry(manager.root).verify("survivor")
    assert where in {f"{w} at 127.0.0.1" for w in WORKERS}
    cluster.wait_for_workers()  # the nanny restarted the killed worker for the next tests


def test_cancel_stops_a_running_training_within_seconds(manager):
    job = manager.submit(TrainRequest(dataset="long", version="stopped"), user=ADMIN)
    wait(manager, job, {"running"}, until=lambda r: r.get("stage") in ("features", "fit"))
    asked = time.monotonic()
    manager.cancel(job, user=ADMIN)
    record = wait(manager, job, FINAL, timeout=30)
    took = time.monotonic() - asked
    me = local_user().name
    assert record["state"] == "cancelled" and record["cancelled_by"] == me, record
    assert record["message"] == f"cancelled by {me}"
    assert took < 10, f"the cancel took {took:.1f} s"
    assert visible(manager.root) == [] and Registry(manager.root).stale_entries() == []


def test_a_pending_job_shows_its_place_and_a_cancel_takes_it_out_of_the_queue(manager):
    jobs = [manager.submit(TrainRequest(dataset="long", version=f"q{i}"), user=ADMIN) for i in range(3)]
    running = [wait(manager, j, {"running"}) for j in jobs[:2]]
    assert {r["worker"] for r in running} == {f"{w} at 127.0.0.1" for w in WORKERS}
    waiting = manager.get(jobs[2])
    assert waiting["state"] == "pending" and waiting.get("worker") is None
    assert manager.queue_position(jobs[2])[0] == 1
    for job_id in reversed(jobs):
        manager.cancel(job_id, user=ADMIN)
    assert manager.get(jobs[2])["state"] == "cancelled"
    for job_id in jobs:
        assert wait(manager, job_id, FINAL, timeout=30)["state"] == "cancelled"
    assert visible(manager.root) == []


def test_batch_prediction_on_the_cluster_equals_the_local_one(cluster, shared, tmp_path):
    run_training(TrainRequest(dataset="one", version="p"), tmp_path, shared, user=ADMIN)
    model = Registry(tmp_path).load_model("p")
    # Prediction batches of 50 items (instead of 2,000), so that a small file makes several partitions.
    model.config_ = replace(model.config_, candidates=replace(model.config_.candidates, batch=50))
    items = read_items(sample_csv_bytes(SampleConfig(n_items=230, seed=9)), name="items.csv")
    local = model.predict_frame(items, top_k=3)
    seen: list[tuple[int, int]] = []
    remote = predict_frame(model, items, top_k=3, progress=lambda d, n: seen.append((d, n)),
                           address=cluster.address)
    pd.testing.assert_frame_equal(remote, local)
    assert len(local) > 230 and local["item_code"].nunique() == 230
    total = seen[-1][1]
    assert total >= 2 * len(WORKERS) and seen == [(i, total) for i in range(1, total + 1)]


def test_a_training_past_its_workers_memory_limit_fails_saying_so_and_the_other_goes_on(shared, tmp_path,
                                                                                        monkeypatch):
    # A cluster of its own: w1 as above, w2 with a limit a training of 700 items does not fit in
    # (the libraries alone take about 300 MB of it; a training caps its data at 85 % of the limit).
    with running_cluster(tmp_path / "small", limits={"w1": "1GB", "w2": "420MB"}) as small:
        monkeypatch.setenv("ROUTING_SCHEDULER", small.address)
        manager = Jobs(tmp_path / "models", shared)
        # long trainings, so the second is placed while the first still runs (one per worker)
        jobs = [manager.submit(TrainRequest(dataset="long", version=name, seed=seed), user=ADMIN)
                for seed, name in enumerate(("one", "two"))]
        records = {r["worker"]: r for r in (wait(manager, j, FINAL) for j in jobs)}
    assert set(records) == {"w1 at 127.0.0.1", "w2 at 127.0.0.1"}, records
    failed, done = records["w2 at 127.0.0.1"], records["w1 at 127.0.0.1"]
    assert failed["state"] == "failed" and done["state"] == "completed", (failed, done)
    # 420 MB = 420e6 bytes = 0.39 GiB
    assert failed["error"] == "ran out of memory on worker w2 at 127.0.0.1 (limit 0.39 GB)"
    assert failed["attempts"] == 1  # a job that ran out of memory is not run again
    assert visible(manager.root) == [done["version"]] and Registry(manager.root).stale_entries() == []


def test_the_command_line_trains_and_predicts_on_the_cluster(cluster, shared, tmp_path, monkeypatch, capsys):
    from routing_core.cli.commands import main

    src = tmp_path / "plant.csv"
    src.write_bytes(sample_csv_bytes(SampleConfig(n_items=120, seed=4)))
    items = tmp_path / "items.csv"
    items.write_bytes(sample_csv_bytes(SampleConfig(n_items=90, seed=8)))
    base = ["--models-dir", str(tmp_path / "models"), "--data-home", str(tmp_path / "data")]
    monkeypatch.setenv("ROUTING_SCHEDULER", cluster.address)
    assert main([*base, "train", str(src), "--version", "cli", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert '"worker": "w' in out and "[100.0%] save: version 'cli' published" in err
    job = Jobs(tmp_path / "models", tmp_path / "data").list()[0]
    assert job["state"] == "completed" and job["worker"] in {f"{w} at 127.0.0.1" for w in WORKERS}
    Registry(tmp_path / "models").verify("cli")

    assert main([*base, "predict", str(items), "--version", "cli", "--out", str(tmp_path / "remote.csv"), "--progress"]) == 0
    assert "predict: partition 1 of " in capsys.readouterr().err
    monkeypatch.delenv("ROUTING_SCHEDULER")
    assert main([*base, "predict", str(items), "--version", "cli", "--out", str(tmp_path / "local.csv")]) == 0
    assert (tmp_path / "remote.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
