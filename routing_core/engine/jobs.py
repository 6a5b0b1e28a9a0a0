"""Training jobs (docs/design.md, 'Training jobs'): the queue of one models folder, its records and owners.

A job is a JSON record at `<models>/.jobs/<job_id>.json`, rewritten atomically as it goes
(`pending → running → completed | failed | cancelled`). `JobManager.submit` writes a pending
record owned by the user who submitted it and starts a detached worker (`routing_core.engine.worker`),
which runs the jobs one at a time (routing_core.engine.Jobs runs them on a Dask cluster instead when
$ROUTING_SCHEDULER names one). Only the owner or an admin cancels a job; the record says who
did. Every change is recorded in the activity log.

Liveness: a running record names its `host` and process. This host fails it ("the training
process stopped") when it is this host's and its process is gone; another host's job is that
host's to judge — several hosts share one models folder through a Dask cluster, whose scheduler
knows which worker lives (routing_core.engine) — and an admin's or its owner's cancel ends it at
once (its host, if it still runs it, then publishes nothing).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routing_core.engine.records import JobRecord
from routing_core.engine.train_request import TrainRequest, check_request, unique_version_name
from routing_core.platform.atomic import atomic_write_json, process_alive
from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_JOB_RECORD_BYTES, TRAIN_MEMORY_GB
from routing_core.platform.memory import is_zombie, proc_start
from routing_core.platform.names import check_name
from routing_core.platform.settings import setting
from routing_core.platform.sharing import host_id, this_machine
from routing_core.platform.statefile import BrokenState, check, read_json
from routing_core.users.access import User, actor, require
from routing_core.users.activity import (
    CANCEL_TRAINING,
    FINISH_TRAINING,
    SUBMIT_TRAINING,
    ActivityLog,
    LogError,
)
from routing_core.versions.registry import JOBS_DIR, Registry
from routing_core.versions.signing import KEY_ENV, configured_key

STATES = ("pending", "running", "completed", "failed", "cancelled")
FINAL_STATES = frozenset({"completed", "failed", "cancelled"})
DEAD_REASON = "the training process stopped (server restart?)"
CANCELLED_MESSAGE = "cancelled by user"
WORKER_LOCK = "worker.lock"
RECORDS_LOCK = "records.lock"
WORKER_LOG = "worker.log"
# Progress is written to disk at most this often (stage changes are always written).
WRITE_EVERY_SEC = 0.2
# Finished job records kept on disk (the worker removes older ones).
KEEP_FINISHED_JOBS = 200
# A pending job older than this with no worker holding the lock gets a new worker.
KICK_AFTER_SEC = 3.0

_JOB_ID_RE = re.compile(r"j\d{8}-\d{6}-\d{6}-[0-9a-f]{6}")




def check_job_record(data: object, path: Path) -> dict:
    """A job record read from `path` checked against JobRecord; BrokenState says what is wrong."""
    where = f"Training job record {path.name}"
    check(data, JobRecord, where, path.name)
    if data["job_id"] != path.stem:
        raise BrokenState(f"{where}: its job_id {data['job_id'][:80]!r} is not its file name.")
    if data["state"] not in STATES:
        raise BrokenState(f"{where}: state {data['state'][:40]!r} is not one of {', '.join(STATES)}.")
    for entry in data.get("stages") or []:
        if not (isinstance(entry, dict) and isinstance(entry.get("stage"), str)
                and isinstance(entry.get("at_sec"), int | float) and not isinstance(entry.get("at_sec"), bool)):
            raise BrokenState(f"{where}: an entry of 'stages' is not a stage with its time.")
    return data


# ---------------------------------------------------------------- job records


def now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat(timespec="seconds")


# Worker processes this process started, polled so finished ones are reaped (not zombies).
CHILDREN: list[subprocess.Popen] = []
CHILDREN_LOCK = threading.Lock()


def reap() -> None:
    with CHILDREN_LOCK:
        CHILDREN[:] = [c for c in CHILDREN if c.poll() is None]


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether process `pid` runs (not a zombie, and started at `start` when that is known)."""
    if not pid:
        return False
    reap()
    if not process_alive(pid):
        return False
    if is_zombie(pid):
        return False
    return not (start is not None and proc_start(pid) not in (None, start))


@contextlib.contextmanager
def lock_file(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def training_slot(models_dir: str | os.PathLike | None = None,
                  on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the models folder's training slot (the worker lock) for a training run outside the
    queue, such as the command line's `train`: it waits while another training runs."""
    jobs = Registry(models_dir).root / JOBS_DIR
    jobs.mkdir(parents=True, exist_ok=True)
    with open(jobs / WORKER_LOCK, "a+") as fh:
        if not try_lock(fh.fileno(), wait_sec=0.2):
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class JobManager:
    """Training jobs of one models folder: submit, watch, cancel; a worker process runs them."""

    def __init__(
        self,
        models_dir: str | os.PathLike | None = None,
        data_home: str | os.PathLike | None = None,
    ) -> None:
        from routing_core.datasets import data_home as default_data_home

        self.data_home = Path(data_home) if data_home is not None else default_data_home()
        self.activity = ActivityLog(self.data_home)
        self.registry = Registry(models_dir, activity=self.activity)
        self.root = self.registry.root
        self.jobs_dir = self.root / JOBS_DIR
        self._last_spawn = 0.0

    # ------------------------------------------------------------ records

    def _record_path(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
            raise UserError(f"No training job '{job_id}'.")
        return self.jobs_dir / f"{job_id}.json"

    def read_record(self, job_id: str) -> dict | None:
        """The record of a job, or None when it is missing or broken (see broken())."""
        try:
            return self._load(self._record_path(job_id))
        except (OSError, BrokenState):
            return None

    @staticmethod
    def _load(path: Path) -> dict:
        return check_job_record(read_json(path, f"Training job record {path.name}", max_bytes=MAX_JOB_RECORD_BYTES),
                                path)

    def write_record(self, record: dict) -> None:
        record["updated_at"] = now_iso()
        atomic_write_json(self._record_path(record["job_id"]), record)

    def locked(self) -> contextlib.AbstractContextManager:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        return lock_file(self.jobs_dir / RECORDS_LOCK)

    def update(self, job_id: str, fn: Callable[[dict], dict | None]) -> dict | None:
        """Read-modify-write one record under the records lock; `fn` returns the new record or None."""
        with self.locked():
            record = self.read_record(job_id)
            if record is None:
                return None
            new = fn(dict(record))
            if new is None:
                return record
            self.write_record(new)
            return new

    def all_records(self) -> list[dict]:
        return self._scan()[0]

    def _scan(self) -> tuple[list[dict], list[tuple[str, str]]]:
        """(whole records, [(file name, why it cannot be used)] for the broken ones)."""
        if not self.jobs_dir.is_dir():
            return [], []
        out, broken = [], []
        for path in self.jobs_dir.glob("j*.json"):
            try:
                out.append(self._load(path))
            except FileNotFoundError:
                continue  # pruned meanwhile
            except BrokenState as exc:
                broken.append((path.name, str(exc)))
            except OSError as exc:
                broken.append((path.name, f"Training job record {path.name} cannot be read ({exc.strerror})."))
        return out, sorted(broken)

    def broken(self) -> list[tuple[str, str]]:
        """Job records that cannot be used, as (file name, reason); they are left alone otherwise."""
        return self._scan()[1]

    # ------------------------------------------------------------ public

    def submit(self, request: TrainRequest, *, user: User) -> str:
        """Queue a training (pending) and make sure a worker runs it; returns the job id.

        Needs an analyst (`user`, a named User; Forbidden otherwise). The record's `owner` is the
        user; the submission is recorded in the activity log, and one whose entry cannot be
        written is taken back before any worker sees it (LogError)."""
        from routing_core.datasets import DatasetStore

        who = require(user, "train")
        check_request(request, self.registry)
        check_name(request.dataset, "dataset name")
        DatasetStore(self.data_home).record(request.dataset)  # UserError if there is none
        _ = TRAIN_MEMORY_GB.value  # UserError if the worker's memory limit is set to nonsense
        self.activity.check_writable()
        scheduler = self._scheduler()  # UserError if it is not a scheduler's address
        self.registry.root.mkdir(parents=True, exist_ok=True)
        with self.locked():
            queued = {
                r.get("version") for r in self.all_records()
                if r.get("state") in ("pending", "running") and not r.get("dry_run")
            }
            taken = set(self.registry.names()) | queued
            version = request.version
            if version is None:
                version = unique_version_name(taken)
                if not request.dry_run:
                    request = TrainRequest.from_dict({**request.to_dict(), "version": version})
            elif version in queued and not request.dry_run:
                raise UserError(
                    f"A training of version '{version}' is already queued; choose another name."
                )
            now = time.time()
            job_id = f"j{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}-{secrets.token_hex(3)}"
            record = {
                "job_id": job_id,
                "state": "pending",
                "stage": None,
                "progress": 0.0,
                "message": "waiting for a free worker" if scheduler else "waiting for the worker",
                "dry_run": bool(request.dry_run),
                "version": version,
                "dataset": request.dataset,
                "request": request.to_dict(),
                "created_at": now_iso(now),
                "created_ts": now,
                "started_at": None,
                "started_ts": None,
                "finished_at": None,
                "finished_ts": None,
                "elapsed_sec": 0.0,
                "pid": None,
                "pid_start": None,
                "cancel_requested": False,
                "result": None,
                "error": None,
                "owner": who.name,
                "cancelled_by": None,
                "scheduler": scheduler,
            }
            # Written and logged under the records lock (a worker claims under it too): a job whose
            # entry cannot be written is removed before any worker can see it.
            self.write_record(record)
            try:
                self.activity.record(who, SUBMIT_TRAINING, job_object(record), job_id=job_id,
                                     dataset=request.dataset, dry_run=bool(request.dry_run))
            except LogError:
                self._record_path(job_id).unlink(missing_ok=True)
                raise
        try:
            self._launch(job_id)
        except UserError as exc:  # the cluster cannot be reached: the job ends here, saying why
            self.end(job_id, "failed", error=str(exc), message=str(exc))
            raise
        return job_id

    def get(self, job_id: str) -> dict:
        """The job's record as it stands (a running job whose process died reads as failed)."""
        try:
            record = self._load(self._record_path(job_id))
        except FileNotFoundError:
            raise UserError(f"No training job '{job_id}'.") from None
        except OSError as exc:
            raise UserError(f"Training job '{job_id}' cannot be read ({exc.strerror}).") from None
        record = self.settle(record)
        if record.get("state") == "pending":
            self._kick()
        return record

    def list(self) -> list[dict]:
        """Every job, newest first."""
        records = [self.settle(r) for r in self.all_records()]
        if any(r.get("state") == "pending" for r in records):
            self._kick()
        return sorted(records, key=lambda r: (r.get("created_ts") or 0, r["job_id"]), reverse=True)

    def cancel(self, job_id: str, *, user: User) -> dict:
        """Cancel a job: a pending one at once, a running one at its next progress step (another
        host's, outside a cluster, at once: its host publishes nothing after it).

        Only its owner (an analyst) or an admin may (Forbidden otherwise); the record says who
        cancelled (`cancelled_by`), and the activity log records it (checked writable first)."""
        who = actor(user)
        found = self.read_record(job_id)
        if found is None:
            raise UserError(f"No training job '{job_id}'.")
        require(who, "cancel_own", owner=found.get("owner") or "")
        self.activity.check_writable()
        changed: dict = {}

        def change(rec: dict) -> dict | None:
            if rec["state"] == "pending":
                now = time.time()
                rec.update(state="cancelled", message=cancelled_message(who.name), finished_ts=now,
                           finished_at=now_iso(now), cancel_requested=True, cancelled_by=who.name)
                changed["rec"] = rec
                return rec
            # Another host's job: no one here can stop it, so it is ended now (unless its version is
            # already published: worker.publishing marks that under the lock).
            if rec["state"] == "running" and another_host(rec) and not rec.get("published"):
                changed["rec"] = finish(rec, "cancelled", cancel_requested=True, cancelled_by=who.name,
                                         message=f"{cancelled_message(who.name)} (it ran on {rec.get('host')})")
                return rec
            if rec["state"] == "running" and not rec.get("cancel_requested"):
                rec.update(cancel_requested=True, cancelled_by=who.name,
                           message=f"cancelling… (asked by {who.name})")
                changed["rec"] = rec
                return rec
            return None

        result = self.update(job_id, change) or {}
        if changed:
            rec = changed["rec"]
            self.activity.record(who, CANCEL_TRAINING, job_object(rec), job_id=job_id, owner=rec.get("owner"),
                                 was=found.get("state"))
            if rec["state"] == "cancelled":
                self.log_finish(rec)
        return result

    def log_finish(self, record: dict) -> None:
        """Record a job's end (completed, failed, cancelled) in the activity log, as its owner."""
        try:
            self.activity.record(
                record.get("owner") or "unknown", FINISH_TRAINING, job_object(record),
                outcome=record.get("state"), job_id=record.get("job_id"), error=record.get("error"),
                dry_run=bool(record.get("dry_run")), cancelled_by=record.get("cancelled_by"),
                elapsed_sec=record.get("elapsed_sec"))
        except (OSError, UserError) as exc:  # the job's end stands; a log that cannot be written is reported
            print(f"the activity log cannot be written: {exc}", file=sys.stderr)

    def end(self, job_id: str, state: str, when: Callable[[dict], bool] | None = None,
            **changes: Any) -> dict | None:
        """Bring a job that is not finished to `state` (only if `when(record)` holds, when given) and
        record that in the activity log; returns the new record, None when nothing changed."""
        ended: dict = {}

        def fn(rec: dict) -> dict | None:
            if rec.get("state") in FINAL_STATES or (when is not None and not when(rec)):
                return None
            ended["rec"] = finish(rec, state, **changes)
            return ended["rec"]

        self.update(job_id, fn)
        if ended:
            self.log_finish(ended["rec"])
        return ended.get("rec")

    def queue_position(self, job_id: str) -> tuple[int, float | None]:
        """(place, estimated start in epoch seconds) of a job: place 1 is next to start; a running or
        finished job is at place 0 (its start time, if any). The estimate adds the running job's
        remaining time (from its progress) and, for each job ahead, the mean time of the finished
        jobs of its kind; None when nothing tells."""
        records = self.all_records()
        mine = next((r for r in records if r["job_id"] == job_id), None)
        if mine is None:
            raise UserError(f"No training job '{job_id}'.")
        if mine.get("state") != "pending":
            return 0, mine.get("started_ts")
        pending = sorted((r for r in records if r.get("state") == "pending"),
                         key=lambda r: (r.get("created_ts") or 0, r["job_id"]))
        ahead = pending[:[r["job_id"] for r in pending].index(job_id)]
        now = time.time()
        wait = 0.0
        for running in (r for r in records if r.get("state") == "running"):
            pct, started = running.get("progress") or 0.0, running.get("started_ts")
            if not started or pct <= 0:
                return len(ahead) + 1, None
            elapsed = max(now - started, 0.0)
            wait += max(elapsed * (100.0 - pct) / pct, 0.0)
        durations: dict[bool, list[float]] = {True: [], False: []}
        for r in records:
            if r.get("state") == "completed" and r.get("elapsed_sec"):
                durations[bool(r.get("dry_run"))].append(float(r["elapsed_sec"]))
        for r in ahead:
            known = durations[bool(r.get("dry_run"))]
            if not known:
                return len(ahead) + 1, None
            wait += sum(known) / len(known)
        wait /= self._capacity(mine)  # a cluster's workers take the queue side by side
        return len(ahead) + 1, now + wait

    def prune(self, keep: int = KEEP_FINISHED_JOBS) -> int:
        """Delete the records of all but the newest `keep` finished jobs; returns how many went."""
        finished = sorted(
            (r for r in self.all_records() if r.get("state") in FINAL_STATES),
            key=lambda r: (r.get("created_ts") or 0, r["job_id"]), reverse=True,
        )
        removed = 0
        with self.locked():
            for record in finished[keep:]:
                with contextlib.suppress(FileNotFoundError, UserError):
                    self._record_path(record["job_id"]).unlink()
                    removed += 1
        return removed

    def active(self) -> list[dict]:
        """Jobs pending or running, oldest first."""
        jobs = [r for r in self.list() if r.get("state") in ("pending", "running")]
        return sorted(jobs, key=lambda r: (r.get("created_ts") or 0, r["job_id"]))

    # ------------------------------------------------------------ liveness

    def settle(self, record: dict) -> dict:
        """A running (or a cluster's pending) record read as failed when its training is gone."""
        if record.get("state") != "running" and not (record.get("state") == "pending" and record.get("scheduler")):
            return record
        if self._why_dead(record) is None:
            if record.get("started_ts"):
                record["elapsed_sec"] = round(time.time() - record["started_ts"], 1)
            return record
        # Judged again under the records lock: the job may have ended meanwhile. Once its process
        # is gone it writes no more: what is on disk now is final.
        reasons: dict = {}

        def dead(rec: dict) -> bool:
            reasons["why"] = self._why_dead(rec)
            return rec.get("state") in ("pending", "running") and reasons["why"] is not None

        def end(rec: dict) -> dict | None:
            if not dead(rec):
                return None
            return finish(rec, "failed", error=reasons["why"], message=reasons["why"])

        ended: dict = {}
        self.update(record["job_id"], lambda rec: ended.setdefault("rec", end(rec)))
        if ended.get("rec") is not None:
            self.log_finish(ended["rec"])
            return ended["rec"]
        return self.read_record(record["job_id"]) or record

    # How a job runs: this machine's worker process here; routing_core.engine.Jobs adds a Dask cluster.
    def _scheduler(self) -> str | None:
        return None  # the Dask scheduler new jobs go to (None: this machine's worker)

    def _launch(self, job_id: str) -> None:
        self._spawn_worker()

    def _capacity(self, record: dict) -> int:
        return 1  # how many jobs of `record`'s kind run side by side

    def _why_dead(self, record: dict) -> str | None:
        """Why a job will not end by itself (None while it may); a cluster's job is the engine's to judge."""
        return None if record.get("scheduler") or record.get("state") != "running" else why_dead(record)

    def worker_running(self) -> bool:
        """Whether a worker holds the lock of this models folder."""
        path = self.jobs_dir / WORKER_LOCK
        if not path.exists():
            return False
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return False

    def _kick(self) -> None:
        """Start a worker when a job has waited a while and no worker holds the lock."""
        now = time.time()
        if now - self._last_spawn < KICK_AFTER_SEC:
            return
        pending = [r for r in self.all_records() if r.get("state") == "pending" and not r.get("scheduler")]
        if not pending or min(r.get("created_ts") or 0 for r in pending) > now - KICK_AFTER_SEC:
            return
        if not self.worker_running():
            self._spawn_worker()

    def _spawn_worker(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        key = configured_key()
        if key is not None and setting("signing_key") is None and setting("signing_key_file") is None:
            env[KEY_ENV] = key.decode("utf-8", "replace")  # the worker signs what it publishes
        log_path = self.jobs_dir / WORKER_LOG
        with contextlib.suppress(OSError):
            if log_path.stat().st_size > 1 << 20:
                log_path.unlink()
        with open(log_path, "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "routing_core", "worker",
                 "--models-dir", str(self.root.resolve()),
                 "--data-home", str(self.data_home.resolve())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True, cwd=package_root, env=env,
            )
        with CHILDREN_LOCK:
            CHILDREN.append(child)
        self._last_spawn = time.time()


def another_host(record: dict) -> bool:
    """Whether a job runs on another host outside a cluster: no one here can judge or stop it."""
    host = record.get("host")
    return host is not None and not this_machine(str(host)) and not record.get("scheduler")


def why_dead(record: dict) -> str | None:
    """Why a running job's training is gone, or None while it may still run: a job of this host
    (or of a record without a host) is judged by its process; a cluster's job by its scheduler
    (routing_core.engine.Jobs), another host's not here."""
    if record.get("scheduler") or another_host(record):
        return None
    if record.get("host") not in (None, host_id()):  # this machine before a reboot
        return DEAD_REASON
    return None if pid_alive(record.get("pid"), record.get("pid_start")) else DEAD_REASON


def job_object(record: dict) -> str:
    """What the activity log names a job by: its version, or its job id for a dry run."""
    if record.get("dry_run") or not record.get("version"):
        return str(record.get("job_id"))
    return str(record["version"])


def cancelled_message(by: str | None) -> str:
    """The message of a cancelled job: who cancelled it, when that is known."""
    return f"cancelled by {by}" if by else CANCELLED_MESSAGE


def finish(rec: dict, state: str, **changes: Any) -> dict:
    now = time.time()
    rec.update(state=state, finished_ts=now, finished_at=now_iso(now), **changes)
    if rec.get("started_ts"):
        rec["elapsed_sec"] = round(now - rec["started_ts"], 3)
    return rec


def try_lock(fd: int, wait_sec: float = 1.0) -> bool:
    """Take the worker lock, retrying briefly (a status probe holds it for microseconds)."""
    deadline = time.monotonic() + wait_sec
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
