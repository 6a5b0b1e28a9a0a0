"""Train page with ROUTING_SCHEDULER set: jobs run on a real Dask cluster (tests/cluster.py) and the
page shows the worker of each, its progress, and the place in the queue of one that waits."""

from __future__ import annotations

import time

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine import Jobs
from routing_core.engine.train_request import TrainRequest
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.app.conftest import open_app, run_until, texts
from tests.cluster import running_cluster
from tests.conftest import ADMIN

TRAIN = "pages/3_Train.py"
WORKER_LABELS = {"w1 at 127.0.0.1", "w2 at 127.0.0.1"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster")) as found:
        yield found


def bars(at) -> list[str]:
    return [e.proto.text for e in at.get("progress")]


def test_the_page_shows_where_each_job_runs_its_progress_and_the_queue(cluster, small_sample, data_home,
                                                                       models_dir, monkeypatch):
    monkeypatch.setenv("ROUTING_SCHEDULER", cluster.address)
    # Two trainings long enough to hold both workers while the page is looked at; cancelled below.
    DatasetStore(data_home).save("long", load_dataset(sample_csv_bytes(SampleConfig(n_items=700, seed=5)),
                                                      name="long.csv"), user=ADMIN)
    manager = Jobs(models_dir, data_home)
    busy = [manager.submit(TrainRequest("long", version=f"busy-{i}"), user=ADMIN) for i in (1, 2)]
    deadline = time.monotonic() + 60
    while not all(manager.get(j)["state"] == "running" for j in busy):  # both workers taken
        assert time.monotonic() < deadline, [manager.get(j) for j in busy]
        time.sleep(0.1)

    at = open_app(TRAIN)
    at.text_input(key="train_version").set_value("v-cluster")
    at.button(key="train_start").click().run()
    assert at.toast.values == ["Training queued."]
    mine = at.session_state["train_job"]
    captions = texts(at.main.caption)
    assert "Waiting for a free worker of the cluster at " + cluster.address + "." in captions, captions
    assert "Next in the queue." in captions or any(c.startswith("Next in the queue, estimated") for c in captions)
    running = {c.removeprefix("Running on worker **").removesuffix("**.") for c in captions
               if c.startswith("Running on worker ")}
    assert running == WORKER_LABELS, captions

    for job_id in busy:  # frees the workers: ours starts on one of them
        manager.cancel(job_id, user=ADMIN)
    run_until(at, lambda a: manager.get(mine)["state"] == "running" and any(
        b.startswith("fit · ") for b in bars(a)), timeout=90, every=0.2)
    where = manager.get(mine)["worker"]
    assert where in WORKER_LABELS and f"Running on worker **{where}**." in texts(at.main.caption)
    run_until(at, lambda a: any("v-cluster" in t and "is ready" in t for t in texts(a.main.success))
              or bool(a.main.error), timeout=90)
    assert not at.main.error, texts(at.main.error)
    jobs = at.main.dataframe[0].value.set_index("version")
    assert jobs.loc["v-cluster", "state"] == "completed" and jobs.loc["v-cluster", "worker"] == where
    assert set(jobs.loc[["busy-1", "busy-2"], "state"]) == {"cancelled"}
