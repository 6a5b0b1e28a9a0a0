"""First start: the sample trained once in the background by the real worker, then made active."""

from __future__ import annotations

import time

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.registry import Registry
from tests.conftest import ADMIN
from ui import first_start


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv(first_start.ENV, "1")
    store = DatasetStore(tmp_path / "data")
    store.save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=200)), name="sample.csv"), user=ADMIN)
    return JobManager(tmp_path / "models", tmp_path / "data"), store


def wait_settled(manager, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        activated = first_start.settle(manager, user=ADMIN)
        if (first_start.read(manager) or {}).get("settled"):
            return activated
        assert time.monotonic() < deadline, manager.list()
        time.sleep(0.3)


@pytest.mark.slow
def test_fresh_start_trains_the_sample_once_and_activates_it(fresh):
    manager, store = fresh
    job_id = first_start.start(manager, store, user=ADMIN)
    assert job_id is not None
    assert first_start.start(manager, store, user=ADMIN) is None  # once: a second session queues nothing
    assert len(manager.list()) == 1
    activated = wait_settled(manager)
    registry = Registry(manager.root)
    assert activated == manager.get(job_id)["version"] == registry.active()
    assert registry.get(activated).dataset["name"] == "sample"
    registry.deactivate()
    registry.delete(activated, user=ADMIN)
    assert first_start.start(manager, store, user=ADMIN) is None  # not again once the registry was emptied
    assert first_start.settle(manager, user=ADMIN) is None


def test_switched_off_or_not_fresh(fresh, monkeypatch):
    manager, store = fresh
    monkeypatch.setenv(first_start.ENV, "0")
    assert first_start.start(manager, store, user=ADMIN) is None
    assert not (manager.root / first_start.MARKER).exists()
    monkeypatch.setenv(first_start.ENV, "1")
    assert first_start.start(manager, store, dataset="other", user=ADMIN) is None  # no sample stored
    assert manager.list() == []


def test_a_marker_that_is_no_record_is_read_as_none_without_following_or_blocking(tmp_path):
    import os

    manager = JobManager(tmp_path / "models", tmp_path / "data")
    marker = tmp_path / "models" / first_start.MARKER
    marker.parent.mkdir(parents=True)
    os.mkfifo(marker)  # reading a FIFO with open() would block until a writer comes
    assert first_start.read(manager) is None
    marker.unlink()
    marker.write_text('{"job_id": 5, "settled": true}')
    assert first_start.read(manager) is None
    marker.write_text('{"job_id": "j1", "version": null, "settled": false}')
    assert first_start.read(manager) == {"job_id": "j1", "version": None, "settled": False}
