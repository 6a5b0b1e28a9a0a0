"""A first start that shows the product: train the sample once in the background and make it active.

On a fresh start (the sample stored, no model version and no training job yet) `start` queues a
normal training job of the sample dataset; `settle`, called on every page run, makes the version
active once that job has published it (unless the user has activated one meanwhile). A marker file
in the models folder records the job, so it happens once per models folder, not once per server:
deleting every version later does not train the sample again.

Off when $ROUTING_FIRST_START_TRAIN is 0 / false / no / off (tests that need an empty registry).
"""

from __future__ import annotations

import os
from pathlib import Path

from routing_core.platform.atomic import atomic_write_json
from routing_core.platform.errors import UserError
from routing_core.platform.settings import env_name, setting
from routing_core.platform.statefile import Flag, StateRecord, Text, read_json

ENV = env_name("first_start_train")
MARKER = ".first_start.json"
SAMPLE = "sample"


def enabled() -> bool:
    return setting("first_start_train")


def _marker(manager) -> Path:
    return Path(manager.registry.root) / MARKER


class Marker(StateRecord):
    """The first-start record: the job queued, the version it publishes, whether it was settled."""

    job_id: Text | None = None
    version: Text | None = None
    settled: Flag | None = None


def read(manager) -> dict | None:
    """The first-start record, or None when there was none or it cannot be used (read like every
    state file: no link, FIFO or device followed, size and fields checked)."""
    try:
        return read_json(_marker(manager), "First start", Marker)
    except (OSError, UserError):
        return None


def start(manager, store, dataset: str = SAMPLE, *, user) -> str | None:
    """Queue the training of `dataset` if this is a fresh start, as `user` (the server's own
    account, named); returns the job id, or None."""
    if not enabled() or manager.registry.names() or manager.list() or dataset not in store.names():
        return None
    marker = _marker(manager)
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:  # exclusive create: of two sessions starting at once, one queues the training
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    os.close(fd)
    from routing_core.engine.train_request import TrainRequest

    try:
        job_id = manager.submit(TrainRequest(dataset), user=user)
    except UserError:
        atomic_write_json(marker, {"job_id": None, "version": None, "settled": True})
        return None
    version = manager.get(job_id).get("version")
    atomic_write_json(marker, {"job_id": job_id, "version": version, "settled": False})
    return job_id


def settle(manager, *, user) -> str | None:
    """Activate the first-start version once its job completed, as `user` (the server's own account,
    named; recorded in the activity log); returns its name when it did so now."""
    record = read(manager)
    if not record or record.get("settled") or not record.get("job_id"):
        return None
    try:
        job = manager.get(record["job_id"])
    except UserError:  # the job record was pruned or removed
        job = {"state": "failed"}
    state = job.get("state")
    if state in ("pending", "running"):
        return None
    activated = None
    registry = manager.registry
    version = job.get("version") or record.get("version")
    if state == "completed" and registry.active() is None and version and registry.exists(version):
        try:
            registry.activate(version, user=user)
            activated = version
        except UserError:
            activated = None
    atomic_write_json(_marker(manager), {**record, "settled": True, "state": state})
    return activated
