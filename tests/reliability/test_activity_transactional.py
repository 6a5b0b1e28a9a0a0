"""Changes and their record are one: a change the activity log cannot record does not happen.

Attacks: the log replaced by a folder (what an unwritable log looks like to a root process,
which any file mode lets write), and the log on a real full filesystem (a 64 KB tmpfs mounted for
the test and filled, so the append itself fails with ENOSPC after the change was made). Every
change — a dataset stored or deleted, a training submitted, a version published by the worker,
activated or deleted, the caches cleared — is refused or undone with one message, and the
stored state is byte-identical afterwards. A version restored from a backup and activated from
the command line is logged as the OS user.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.access import local_user
from routing_core.users.activity import LOG_FILE, ActivityLog
from routing_core.versions import manifest
from routing_core.versions.registry import Registry
from tests.app.conftest import wait_for_jobs
from tests.conftest import ROOT

ME = local_user()
UNWRITABLE = "activity log .* cannot be written"


def _snapshot(*folders: Path, skip: str = LOG_FILE) -> dict[str, str]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".lock") and skip not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def world(tmp_path):
    """A data home with two datasets, a models folder with two versions (one active)."""
    home, models = tmp_path / "data", tmp_path / "models"
    store = DatasetStore(home)
    for name, seed in (("keep", 1), ("other", 2)):
        store.save(name, load_dataset(sample_csv_bytes(SampleConfig(n_items=40, seed=seed)), name=f"{name}.csv"),
                   user=ME)
    manager = JobManager(models, home)
    for version in ("v1", "v2"):
        manager.submit(TrainRequest("keep", version=version), user=ME)
        wait_for_jobs(models, home)
    manager.registry.activate("v1", user=ME)
    return home, models


def _changes(home: Path, models: Path, log: ActivityLog) -> dict:
    store = DatasetStore(home)
    store.activity = log
    manager = JobManager(models, home)
    manager.activity = log
    manager.registry.activity = log
    registry = Registry(models, activity=log)
    fresh = load_dataset(sample_csv_bytes(SampleConfig(n_items=30, seed=9)), name="new.csv")
    return {
        "store a dataset": lambda: store.save("new", fresh, user=ME),
        "delete a dataset": lambda: store.delete("other", user=ME),
        "submit a training": lambda: manager.submit(TrainRequest("keep", version="v3"), user=ME),
        "activate a version": lambda: registry.activate("v2", user=ME),
        "delete a version": lambda: registry.delete("v1", user=ME),
        "clear the caches": lambda: manifest.clear_all(user=ME, activity=log),
    }


def test_a_log_that_is_a_folder_refuses_every_change(world):
    home, models = world
    log = ActivityLog(home)
    entries = log.entries()
    os.rename(log.path, home / "old.jsonl")
    log.path.mkdir()  # the log cannot be appended to
    before = _snapshot(home, models)
    for what, change in _changes(home, models, log).items():
        with pytest.raises(UserError, match=UNWRITABLE) as refused:
            change()
        assert "nothing was changed" in str(refused.value), what
        assert _snapshot(home, models) == before, what
    assert Registry(models).active() == "v1" and sorted(DatasetStore(home).names()) == ["keep", "other"]
    assert [j["state"] for j in JobManager(models, home).list()] == ["completed", "completed"]
    shutil.rmtree(log.path)
    os.rename(home / "old.jsonl", log.path)
    assert log.entries() == entries


def _mount_tmpfs(folder: Path) -> None:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()[:100]}); the folder test above stands")


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def full_disk(tmp_path):
    disk = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    _mount_tmpfs(disk)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_on_a_full_disk_a_change_whose_entry_cannot_be_written_is_undone(world, full_disk):
    home, models = world
    log = ActivityLog(full_disk)
    log.record(ME, "note", "the log lives on a small disk")
    with open(log.path, "ab") as fh:  # to the end of its page: the next entry needs a new block
        fh.write(b"\n" * (-log.path.stat().st_size % 4096))
    _fill(full_disk)
    log_bytes = log.path.read_bytes()
    before = _snapshot(home, models)
    for what, change in _changes(home, models, log).items():
        with pytest.raises(UserError, match=UNWRITABLE):
            change()
        assert _snapshot(home, models) == before, what
        assert log.path.read_bytes() == log_bytes, what  # no torn entry either
    assert Registry(models).active() == "v1"
    assert sorted(DatasetStore(home).names()) == ["keep", "other"]
    assert sorted(Registry(models).names()) == ["v1", "v2"]
    assert [j["state"] for j in JobManager(models, home).list()] == ["completed", "completed"]


def test_a_version_the_worker_cannot_log_is_not_published(world, tmp_path):
    home, models = world
    manager = JobManager(models, home)
    log = ActivityLog(home)
    job = manager.submit(TrainRequest("keep", version="v9"), user=ME)
    os.rename(log.path, home / "old.jsonl")
    log.path.mkdir()  # between the submission and the worker's publish
    wait_for_jobs(models, home)
    record = manager.get(job)
    assert record["state"] == "failed" and "cannot be written" in record["error"]
    assert "v9" not in Registry(models).names()
    assert not [p for p in models.iterdir() if p.name.startswith(".") and "v9" in p.name]


def test_a_version_restored_from_a_backup_and_activated_is_logged(world, tmp_path):
    home, models = world
    backup = tmp_path / "backup"
    shutil.copytree(models / "v2", backup / "v2")
    Registry(models).delete("v2", user=ME)
    shutil.copytree(backup / "v2", models / "restored")  # put back by hand, under another name
    shutil.move(str(models / "restored"), str(models / "v2"))
    done = subprocess.run([sys.executable, "-m", "routing_core", "activate", "v2", "--models-dir", str(models),
                           "--data-home", str(home)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    last = ActivityLog(home).entries(action="activate_version")[0]
    assert (last["user"], last["object"], last["details"]) == (ME.name, "v2", {"previous": "v1"})
