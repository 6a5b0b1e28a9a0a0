"""The job engine without a cluster: the scheduler setting, failing closed, and batch partitions.
(The engine on a real cluster: tests/reliability/test_cluster.py.)"""

from __future__ import annotations

import socket
import time

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine import Jobs, scheduler_address
from routing_core.engine.batch import partitions
from routing_core.engine.train_request import TrainRequest
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.conftest import ADMIN


def test_the_scheduler_setting_is_an_address_or_nothing(monkeypatch):
    monkeypatch.delenv("ROUTING_SCHEDULER", raising=False)
    assert scheduler_address() is None
    monkeypatch.setenv("ROUTING_SCHEDULER", "  ")
    assert scheduler_address() is None
    monkeypatch.setenv("ROUTING_SCHEDULER", "tcp://sched.plant.example:8786")
    assert scheduler_address() == "tcp://sched.plant.example:8786"
    for bad in ("sched:8786", "http://sched:8786", "tcp://", "tcp://a b:1"):
        monkeypatch.setenv("ROUTING_SCHEDULER", bad)
        with pytest.raises(UserError, match="is not a Dask scheduler address"):
            scheduler_address()


def test_a_broken_scheduler_setting_refuses_the_job_and_stores_nothing(tmp_path, monkeypatch):
    home = tmp_path / "data"
    DatasetStore(home).save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=30, seed=1)), name="s.csv"), user=ADMIN)
    monkeypatch.setenv("ROUTING_SCHEDULER", "sched.plant.example:8786")
    jobs = Jobs(tmp_path / "models", home)
    with pytest.raises(UserError, match="ROUTING_SCHEDULER='sched.plant.example:8786' is not a Dask scheduler"):
        jobs.submit(TrainRequest("s", version="v1"), user=ADMIN)
    assert jobs.list() == [] and not (tmp_path / "models" / "v1").exists()


def test_partitions_are_whole_prediction_batches_in_file_order():
    items = pd.DataFrame({"item_code": [f"P{i:04d}" for i in range(230)], "material": ["steel"] * 230})
    parts = partitions(items, 8, batch=50)
    # 230 items are 5 batches (4 of 50, 1 of 30): at most 5 parts, whatever is asked for
    assert [len(p) for p in parts] == [50, 50, 50, 50, 30]
    two = partitions(items, 2, batch=50)
    assert [len(p) for p in two] == [100, 130]  # 2 and 3 whole batches
    assert pd.concat(two)["item_code"].tolist() == items["item_code"].tolist()
    # a routing export (several rows per item) gives one row per item, the first
    long = pd.concat([items, items]).reset_index(drop=True)
    assert [len(p) for p in partitions(long, 1, batch=50)] == [230]


def test_an_unreachable_scheduler_fails_the_job_saying_so(tmp_path, monkeypatch):
    home = tmp_path / "data"
    DatasetStore(home).save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=30, seed=1)), name="s.csv"), user=ADMIN)
    with socket.socket() as s:  # a port nothing listens on once this is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ROUTING_SCHEDULER", f"tcp://127.0.0.1:{port}")
    jobs = Jobs(tmp_path / "models", home)
    with pytest.raises(UserError, match=f"The Dask scheduler at tcp://127.0.0.1:{port} cannot be reached"):
        jobs.submit(TrainRequest("s", version="v1"), user=ADMIN)
    [job] = jobs.list()
    assert job["state"] == "failed" and job["error"].startswith("The Dask scheduler at ")
    asked = time.monotonic()  # the next one is told at once, not after another connection timeout
    with pytest.raises(UserError, match="cannot be reached"):
        jobs.submit(TrainRequest("s", version="v2"), user=ADMIN)
    assert time.monotonic() - asked < 3
