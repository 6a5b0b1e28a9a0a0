"""Training jobs as tasks on a Dask cluster ($ROUTING_SCHEDULER).

`JobManager.submit` writes the pending record as for a local job, with the scheduler's address in
`scheduler`; `ClusterEngine.launch` submits `run_job` as a fire-and-forget task keyed by the job
id, so the job goes on when the process that submitted it (a Streamlit server, the command line)
stops. The workers read and write the same models folder and data home (a shared folder, as the
hosts of a shared folder did before).

On a worker, `run_job` claims the record (`running`, with the worker's name and host), trains
through the same `run_claimed_job` as the local worker (progress and the cancel flag in the record,
publishing a whole version or nothing) under a cap on its data segment a little below the
worker's memory limit, so a training that outgrows the worker fails with "ran out of memory on
worker X (limit N GB)" and the worker goes on with the next job.

A worker that dies mid-training is the scheduler's to notice: it runs the task again on another
worker (the record counts `attempts`), and after `distributed.scheduler.allowed-failures` deaths
it gives up; a running or pending record whose task the scheduler no longer has is then failed
by whoever looks next (`why_dead`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from routing_core.engine.jobs import FINAL_STATES, JobManager, now_iso
from routing_core.platform.errors import UserError

# A pending job whose task the scheduler does not know after this long was lost (not just sent).
LOST_AFTER_SEC = 15.0
# The share of a worker's memory limit a training's data segment may use: the rest is the
# worker's own (its threads, buffers), and the nanny restarts a worker at 95 % of the limit.
DATA_SHARE = 0.85

# After a failed connection, the next attempt waits this long (UserError meanwhile).
RETRY_AFTER_SEC = 15.0

CLIENTS: dict[str, object] = {}
_UNREACHABLE: dict[str, tuple[float, str]] = {}
_CLIENTS_LOCK = threading.Lock()


def client(address: str):
    """A Dask client of the scheduler at `address`, one per process (connected on first use)."""
    with _CLIENTS_LOCK:
        found = CLIENTS.get(address)
        if found is not None and found.status not in ("closed", "closing"):
            return found
        from distributed import Client

        failed = _UNREACHABLE.get(address)
        if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_SEC:
            raise UserError(failed[1])  # not every page run waits for the connection's timeout
        try:
            made = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            _UNREACHABLE[address] = (time.monotonic(), f"The Dask scheduler at {address} cannot be reached "
                                     f"({exc}); is it running? (ROUTING_SCHEDULER names it.)")
            raise UserError(_UNREACHABLE[address][1]) from None
        _UNREACHABLE.pop(address, None)
        CLIENTS[address] = made
        return made


def task_key(job_id: str) -> str:
    return f"routing-train-{job_id}"


def worker_label(name: object, address: str) -> str:
    """How a worker is shown: its name and host, or its address when it has no name of its own."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0]
    return f"{name} at {host}" if name is not None and str(name) != address else address


class ClusterEngine:
    """Jobs run as tasks on the Dask cluster at `address`."""

    def __init__(self, address: str) -> None:
        self.address = address

    def launch(self, manager, job_id: str) -> None:
        from distributed import fire_and_forget

        c = client(self.address)
        future = c.submit(run_job, str(manager.root.resolve()), str(manager.data_home.resolve()), job_id,
                          key=task_key(job_id), pure=False)
        fire_and_forget(future)

    def kick(self, manager) -> None:
        """Nothing to start: the scheduler runs what was submitted."""

    def tasks(self, keys: list[str]) -> dict[str, str]:
        """The scheduler's state of each task it still has (processing, queued, erred, ...)."""

        def states(dask_scheduler, keys=keys):
            return {k: dask_scheduler.tasks[k].state for k in keys if k in dask_scheduler.tasks}

        return client(self.address).run_on_scheduler(states)

    def why_dead(self, record: dict) -> str | None:
        """Why a pending or running job will not end by itself, or None while it may still run (or
        when the scheduler cannot be asked)."""
        state = record.get("state")
        if state not in ("pending", "running"):
            return None
        if state == "pending" and time.time() - (record.get("created_ts") or 0) < LOST_AFTER_SEC:
            return None
        try:
            found = self.tasks([task_key(record["job_id"])]).get(task_key(record["job_id"]))
        except (UserError, OSError, TimeoutError):
            return None
        if found not in (None, "erred", "forgotten"):
            return None
        if state == "pending":
            return f"the Dask scheduler at {self.address} lost the job before a worker started it (restarted?)"
        worker, attempts = record.get("worker") or "unknown", int(record.get("attempts") or 1)
        return (f"worker {worker} stopped while training (started {attempts} time(s)); "
                "the cluster gave up on the job")

    def capacity(self) -> int:
        """How many trainings run at once: the cluster's worker threads (at least 1)."""
        try:
            info = client(self.address).scheduler_info(n_workers=-1)
        except TypeError:  # an older client without n_workers
            info = client(self.address).scheduler_info()
        except (UserError, OSError, TimeoutError):
            return 1
        return max(1, sum(int(w.get("nthreads") or 1) for w in info.get("workers", {}).values()))


@contextlib.contextmanager
def data_cap(limit_bytes: int | None) -> Iterator[None]:
    """Cap this process's data segment (RLIMIT_DATA) at `limit_bytes` for a block, then restore it."""
    import resource

    if not limit_bytes:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    want = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def run_job(models_dir: str, data_home: str, job_id: str) -> str:
    """The task: run one job on this worker; returns its final state."""
    from distributed import get_worker

    from routing_core.engine.worker import run_claimed_job
    from routing_core.platform.limits import gb_text
    from routing_core.platform.memory import release_free_memory

    worker = get_worker()
    label = worker_label(worker.name, worker.address)
    manager = JobManager(models_dir, data_home)

    def claim(rec: dict) -> dict | None:
        if rec.get("state") in FINAL_STATES:
            return None
        now, before = time.time(), rec.get("worker")
        attempts = int(rec.get("attempts") or 0) + 1
        message = (f"running on worker {label}" if rec.get("state") == "pending"
                   else f"started again on worker {label}: worker {before} stopped")
        rec.update(state="running", stage="validate", progress=0.0, message=message, started_ts=now,
                   started_at=now_iso(now), pid=os.getpid(), pid_start=None, worker=label,
                   host=label, attempts=attempts, stages=[])
        return rec

    manager.registry.cleanup()  # the half-written version of a worker that died, if any
    job = manager.update(job_id, claim)
    if job is None or job.get("state") != "running" or job.get("worker") != label:
        return (job or {}).get("state") or "missing"
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
    oom = f"ran out of memory on worker {label} (limit {gb_text(limit / (1 << 30))} GB)" if limit else None
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import pyarrow.parquet  # noqa: F401 - the libraries are loaded before the cap, not under it

    import routing_core.model  # noqa: F401

    try:
        with data_cap(int(limit * DATA_SHARE) if limit else None):
            run_claimed_job(manager, job, oom_message=oom, host=label)
    except MemoryError:  # even its record could not be written under the cap: written now, without it
        release_free_memory()
        manager.end(job_id, "failed", error=oom or "ran out of memory", message=oom or "ran out of memory",
                    when=lambda r: r.get("pid") == job.get("pid") and r.get("host") == label)
    return (manager.read_record(job_id) or {}).get("state") or "missing"

