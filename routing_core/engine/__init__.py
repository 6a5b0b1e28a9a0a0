"""The job engine: how a training job runs, behind the job records of routing_core.engine.jobs.

`Jobs` is the `JobManager` the pages, the command line and the first start use. It keeps the job
records, owners, roles and the activity log as `JobManager` does, and runs each job one of two
ways, decided when the job is submitted and kept in its record (`scheduler`):

- without `ROUTING_SCHEDULER`: a detached worker process on this machine runs the jobs of a
  models folder one at a time (routing_core.engine.worker);
- with `ROUTING_SCHEDULER=tcp://host:8786`: every job is a task on that Dask cluster, one
  training per free worker thread (routing_core.engine.cluster).

Batch predictions go through routing_core.engine.batch, which splits an item file over the
cluster's workers when there is one.

Modules: `train_request` (what a training is asked to do), `training` (one training run, dry or
real), `jobs` (the job records: submit, claim, cancel, judge the dead), `records` (the fields a
job record may hold), `worker` (the detached worker), `cluster` and `batch` (the Dask cluster).
"""

from __future__ import annotations

import time

from routing_core.engine.jobs import FINAL_STATES, JobManager
from routing_core.platform.errors import UserError
from routing_core.platform.settings import env_name, setting

SCHEDULER_ENV = env_name("scheduler")


def scheduler_address() -> str | None:
    """The Dask scheduler jobs run on ($ROUTING_SCHEDULER), or None for this machine's worker."""
    return setting("scheduler")


class Jobs(JobManager):
    """Training jobs of one models folder, run on this machine or on the Dask cluster."""

    def _scheduler(self) -> str | None:
        return scheduler_address()

    def _cluster(self, address: str):
        from routing_core.engine.cluster import ClusterEngine

        return ClusterEngine(address)

    def _launch(self, job_id: str) -> None:
        record = self.read_record(job_id) or {}
        if record.get("scheduler"):
            self._cluster(record["scheduler"]).launch(self, job_id)
        else:
            super()._launch(job_id)

    def _capacity(self, record: dict) -> int:
        if record.get("scheduler"):
            return self._cluster(record["scheduler"]).capacity()
        return super()._capacity(record)

    def _why_dead(self, record: dict) -> str | None:
        if record.get("scheduler"):
            return self._cluster(record["scheduler"]).why_dead(record)
        return super()._why_dead(record)


def train_and_wait(models_dir, data_home, request, progress=None, poll_sec: float = 0.5, *, user) -> dict:
    """Submit a training to the cluster as a job and wait for its end (the command line's `train`);
    returns its result, raises UserError when it fails or is cancelled. Ctrl-C cancels it. `user`
    submits (and cancels) it, as on the Train page."""
    manager = Jobs(models_dir, data_home)
    job_id = manager.submit(request, user=user)
    shown = None
    try:
        while True:
            record = manager.get(job_id)
            now = (record.get("stage"), record.get("progress"), record.get("message"))
            if progress is not None and now != shown and record.get("state") in ("running", "completed"):
                progress(record.get("stage") or "validate", float(record.get("progress") or 0.0),
                         record.get("message") or "")
            shown = now
            if record["state"] in FINAL_STATES:
                break
            time.sleep(poll_sec)
    except KeyboardInterrupt:
        manager.cancel(job_id, user=user)
        raise
    if record["state"] != "completed":
        raise UserError(f"The training on the cluster {record['state']}: "
                        f"{record.get('error') or record.get('message')}")
    return {**(record.get("result") or {}), "job_id": job_id, "worker": record.get("worker")}
