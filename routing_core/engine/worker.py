"""The training worker (docs/design.md, 'Training jobs'): `python -m routing_core worker` runs the pending jobs of a models
folder oldest first until none are left.

It holds an exclusive lock on `.jobs/worker.lock`, so one training runs at a time per models
folder, and limits its own memory (`routing_core.platform.memory`). The jobs it claims carry its host and
process id, by which this host judges them (routing_core.engine.jobs).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator

import routing_core.engine.training as training  # looked up at each call: tests replace run_training
from routing_core.engine.jobs import (
    CANCELLED_MESSAGE,
    WORKER_LOCK,
    WRITE_EVERY_SEC,
    JobManager,
    cancelled_message,
    now_iso,
    proc_start,
    try_lock,
)
from routing_core.engine.train_request import Cancelled, TrainRequest
from routing_core.platform.errors import UserError
from routing_core.platform.limits import TRAIN_MEMORY_GB, gb_text
from routing_core.platform.memory import (
    NEAR_LIMIT_BYTES,
    STUCK_AT_LIMIT_SEC,
    is_out_of_memory,
    limit_memory,
    out_of_memory_message,
    release_free_memory,
    status_bytes,
)
from routing_core.platform.sharing import host_id

# ---------------------------------------------------------------- the worker



def _watch_memory(manager: JobManager, gb: float, worker: int) -> None:
    """Run in a small process forked from the worker before it loads anything heavy: when the
    worker stays at its memory limit, kill it and mark its running job failed as out of memory.

    A training killed there never publishes (a version is renamed into place whole; the hidden
    folder of an unfinished one is cleaned by the next worker), and the next look at the jobs
    starts a fresh worker for the jobs still queued. Returns when the worker is gone.
    """
    limit, since, last = int(gb * (1 << 30)), None, 0
    while True:
        time.sleep(0.05)
        used = status_bytes("VmData", worker)
        if used is None:  # the worker ended: at its limit, a running job of it ran out of memory
            if last >= limit - 4 * NEAR_LIMIT_BYTES:
                _fail_out_of_memory(manager, gb, worker)
            return
        last = used
        if used < limit - NEAR_LIMIT_BYTES:
            since = None
            continue
        since = since or time.monotonic()
        if time.monotonic() - since < STUCK_AT_LIMIT_SEC:
            continue
        # The record first, so no one reads the job as merely stopped; the worker is stuck meanwhile.
        _fail_out_of_memory(manager, gb, worker)
        os.kill(worker, signal.SIGKILL)
        return


def _fail_out_of_memory(manager: JobManager, gb: float, worker: int) -> None:
    """Mark the running job of process `worker` failed as out of memory (unless it ended already)."""
    reason = out_of_memory_message(gb)
    for record in manager.all_records():
        if record.get("pid") == worker:
            manager.end(record["job_id"], "failed", when=lambda r: r.get("pid") == worker
                        and r.get("state") == "running", error=reason, message=reason)


def _start_memory_watch(manager: JobManager, gb: float) -> None:
    """Fork the process of `_watch_memory` (no thread of the worker could: the stuck one holds the GIL)."""
    worker = os.getpid()
    if os.fork() == 0:
        try:
            _watch_memory(manager, gb, worker)
        finally:
            os._exit(0)


def run_worker(models_dir: str | os.PathLike | None = None,
               data_home: str | os.PathLike | None = None) -> int:
    """Run pending jobs of a models folder oldest first until none are left (one worker at a time).

    The worker first limits its own memory to TRAIN_MEMORY_GB (`limit_memory`); a job that needs
    more fails with "ran out of the memory limit (N GB)" and the worker goes on with the next.
    """
    manager = JobManager(models_dir, data_home)
    # pyarrow's default allocator (mimalloc) reserves 1 GB of writable address space at its first
    # use, which RLIMIT_DATA counts though little of it is ever used; the system allocator does not.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        memory_gb: float | None = TRAIN_MEMORY_GB.value
    except UserError as exc:  # every job fails with the reason until the setting is fixed
        memory_gb, refusal = None, str(exc)
    else:
        refusal = None
        try:
            limit_memory(memory_gb)
        except (OSError, ValueError) as exc:  # jobs still run, without the limit
            print(f"the memory limit of {gb_text(memory_gb)} GB could not be set: {exc}", file=sys.stderr)
            memory_gb = None
    if memory_gb is not None:
        _start_memory_watch(manager, memory_gb)
    manager.jobs_dir.mkdir(parents=True, exist_ok=True)
    with open(manager.jobs_dir / WORKER_LOCK, "a+") as lock:
        while True:
            if not try_lock(lock.fileno()):
                return 0  # another worker runs; it picks up every pending job
            try:
                _orphans_failed(manager)
                manager.registry.cleanup()
                manager.prune()
                while (job := claim_next(manager)) is not None:
                    run_claimed_job(manager, job, memory_gb, refusal)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            # A job submitted after the last scan, whose own worker found the lock held, is ours.
            if not any(r.get("state") == "pending" for r in manager.all_records()):
                return 0


def _orphans_failed(manager: JobManager) -> None:
    """With the worker lock held, any other 'running' record belongs to a dead worker."""
    me, host = os.getpid(), host_id()
    for rec in manager.all_records():
        if rec.get("state") == "running" and (rec.get("pid") != me or rec.get("host") != host):
            manager.settle(rec)


def claim_next(manager: JobManager) -> dict | None:
    pending = sorted(
        (r for r in manager.all_records() if r.get("state") == "pending"),
        key=lambda r: (r.get("created_ts") or 0, r["job_id"]),
    )
    me, start, host = os.getpid(), proc_start(os.getpid()), host_id()
    for rec in pending:
        def claim(r: dict) -> dict | None:
            if r.get("state") != "pending":
                return None
            now = time.time()
            r.update(state="running", stage="validate", progress=0.0, message="starting",
                     started_ts=now, started_at=now_iso(now), pid=me, pid_start=start, host=host)
            return r

        claimed = manager.update(rec["job_id"], claim)
        if claimed is not None and claimed.get("state") == "running" and claimed.get("pid") == me:
            return claimed
    return None


@contextlib.contextmanager
def publishing(manager: JobManager, job_id: str, host: str | None = None) -> Iterator[None]:
    """Held while the version of job `job_id` is renamed into place (`Registry.publish(hold=)`):
    under the records lock, only a job this process still runs on this host may publish. A job
    ended meanwhile — its process judged gone, cancelled by another host, failed by a cluster that
    gave up on it — is refused (UserError) and publishes nothing; a cancel asked for is honoured.
    `host` is where the job is recorded to run (a cluster's worker); this host by default."""
    with manager.locked():
        rec = manager.read_record(job_id)
        if rec is None or rec.get("state") != "running" or rec.get("pid") != os.getpid() \
                or rec.get("host") != (host or host_id()):
            state = "gone" if rec is None else str(rec.get("state"))
            why = (rec or {}).get("error") or "another process holds it now"
            raise UserError(f"Training job {job_id} is {state} ({why}); its version is not published.")
        if rec.get("cancel_requested"):
            raise Cancelled(CANCELLED_MESSAGE)
        yield
        rec = manager.read_record(job_id)
        if rec is not None:  # renamed into place: a cancel from another host comes too late now
            rec["published"] = True
            manager.write_record(rec)


def run_claimed_job(manager: JobManager, job: dict, memory_gb: float | None = None,
             refusal: str | None = None, oom_message: str | None = None, host: str | None = None) -> None:
    """Run one claimed job to its final state. `memory_gb` is the limit the worker runs under (for
    the message of a job that hits it, unless `oom_message` says it); `refusal`, when given, fails
    the job with that reason; `host` is where the job's record says it runs (see publishing)."""
    job_id = job["job_id"]

    def ours(r: dict) -> bool:
        """Still this claim of the job: running, in this process on its host (not ended from another
        host, not run again elsewhere by a cluster that thought this worker gone)."""
        return r.get("state") == "running" and r.get("pid") == job.get("pid") and r.get("host") == job.get("host")

    if refusal is not None:
        manager.end(job_id, "failed", when=ours, error=refusal, message=refusal)
        return
    try:
        request = TrainRequest.from_dict(job.get("request") or {})
    except TypeError:  # a record written by hand, without what to train
        reason = "the job record does not say what to train (its 'request' lacks the dataset)"
        manager.end(job_id, "failed", when=ours, error=reason, message=reason)
        return
    started = job["started_ts"]
    last = {"t": 0.0, "stage": None}

    def progress(stage: str, pct: float, message: str) -> None:
        now = time.time()
        if stage == last["stage"] and now - last["t"] < WRITE_EVERY_SEC and pct < 100:
            return
        last.update(t=now, stage=stage)

        def step(r: dict) -> dict | None:
            if not ours(r):  # ended meanwhile (cancelled from another host), or run again elsewhere
                return None
            history = r.setdefault("stages", [])
            if not history or history[-1]["stage"] != stage:  # when each stage began, for the record
                history.append({"stage": stage, "at_sec": round(now - started, 3)})
            r.update(stage=stage, progress=pct, message=message, elapsed_sec=round(now - started, 3))
            return r

        rec = manager.update(job_id, step)
        # Once the version is published (100 %) a late cancel changes nothing.
        if rec is not None and (rec.get("cancel_requested") or not ours(rec)) and pct < 100:
            raise Cancelled(CANCELLED_MESSAGE)

    out_of_memory = False
    try:
        # The version is published as the job's owner, and only while the job is still this
        # worker's (a job judged dead meanwhile publishes nothing: publishing).
        result = training.run_training(request, manager.root, manager.data_home, progress=progress,
                                       user=str(job.get("owner") or "unknown"),
                                       hold=lambda: publishing(manager, job_id, host))
    except Cancelled:
        by = (manager.read_record(job_id) or {}).get("cancelled_by")
        manager.end(job_id, "cancelled", when=ours, message=cancelled_message(by))
    except UserError as exc:
        reason = str(exc)
        manager.end(job_id, "failed", when=ours, error=reason, message=reason)
    except Exception as exc:  # a bug must fail the job, not the worker: the queue goes on
        if is_out_of_memory(exc):
            # Recorded below, once the training's frames (and their arrays) are gone with `exc`.
            out_of_memory = True
        else:
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"
            manager.end(job_id, "failed", when=ours, error=error, message=error)
    else:
        message = (f"plan ready: about {result.get('estimated_sec')} s and "
                   f"{result.get('estimated_peak_gb')} GB" if request.dry_run
                   else f"version '{result['version']}' published")
        manager.end(job_id, "completed", when=ours, progress=100.0, message=message, result=result,
                    version=result.get("version", job.get("version")))
    if out_of_memory:
        release_free_memory()
        reason = oom_message or (out_of_memory_message(memory_gb) if memory_gb is not None
                                 else "ran out of memory")
        manager.end(job_id, "failed", when=ours, error=reason, message=reason)
