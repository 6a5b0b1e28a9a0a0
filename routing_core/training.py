"""Training jobs (DESIGN §7): one synchronous `run_training`, and a queue of jobs run by a worker process.

A job is a JSON record at `<models>/.jobs/<job_id>.json`, rewritten atomically as it goes
(`pending → running → completed | failed | cancelled`). `JobManager.submit` writes a pending
record and starts a detached worker (`python -m routing_core worker`). The worker holds an
exclusive lock on `.jobs/worker.lock` — so one training runs at a time per models folder —
and runs pending jobs oldest first until none are left. A running record whose process is
gone is reported as failed. This module never imports streamlit and imports the heavy
libraries only when a training runs, so a worker starts quickly.
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
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routing_core.atomic import atomic_write_json, process_alive
from routing_core.errors import UserError
from routing_core.names import check_name
from routing_core.registry import JOBS_DIR, Registry
from routing_core.statefile import NUMBER, TEXT, BrokenState, Field, check, read_json

STAGES = ("validate", "profile", "split", "features", "fit", "evaluate", "save")
DRY_RUN_STAGES = ("validate", "profile", "split", "features")
# Share of the progress bar (percent) each stage covers.
STAGE_RANGES: dict[str, tuple[float, float]] = {
    "validate": (0, 3),
    "profile": (3, 8),
    "split": (8, 10),
    "features": (10, 13),
    "fit": (13, 70),
    "evaluate": (70, 95),
    "save": (95, 100),
}
DRY_RUN_RANGES: dict[str, tuple[float, float]] = {
    "validate": (0, 10),
    "profile": (10, 30),
    "split": (30, 40),
    "features": (40, 100),
}
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
# Headline numbers of the dataset statistics kept in metrics.json (the big tables stay with the dataset).
DATASET_STATS_KEYS = (
    "total_samples", "unique_items", "unique_processes", "missing_item_code",
    "missing_process_code", "missing_duration_min", "missing_rate", "distinct_routings",
    "most_common_routing_share", "routing_length", "duplicate_rows", "duplicate_item_seq",
    "alerts",
)
SUMMARY_METRICS = (
    "routing_accuracy", "top_1_accuracy", "top_3_accuracy", "top_5_accuracy",
    "sequence_similarity", "step_accuracy", "f1_weighted", "duration_mae_min",
    "duration_mape", "coverage", "sample_count", "best_baseline", "lift_over_best",
    "beats_baseline", "most_frequent_leads",
)

ProgressFn = Callable[[str, float, str], None]  # (stage, percent 0-100, message)
CancelFn = Callable[[], bool]

_JOB_ID_RE = re.compile(r"j\d{8}-\d{6}-\d{6}-[0-9a-f]{6}")


_WHEN = (*NUMBER, None)
_OPTIONAL_TEXT = (str, None)
# The fields of a job record the studio reads, with the JSON types each may hold.
JOB_FIELDS = {
    "job_id": Field(TEXT, required=True),
    "state": Field(TEXT, required=True),
    "stage": Field(_OPTIONAL_TEXT),
    "progress": Field(_WHEN),
    "message": Field(_OPTIONAL_TEXT),
    "dry_run": Field((bool, None)),
    "version": Field(_OPTIONAL_TEXT),
    "dataset": Field(_OPTIONAL_TEXT),
    "request": Field((dict, None)),
    "created_at": Field(_OPTIONAL_TEXT),
    "created_ts": Field(_WHEN),
    "started_ts": Field(_WHEN),
    "finished_ts": Field(_WHEN),
    "elapsed_sec": Field(_WHEN),
    "pid": Field((int, None)),
    "cancel_requested": Field((bool, None)),
    "result": Field((dict, None)),
    "error": Field(_OPTIONAL_TEXT),
    "stages": Field((list, None)),
}


def check_job_record(data: object, path: Path) -> dict:
    """A job record read from `path` checked against JOB_FIELDS; BrokenState says what is wrong."""
    where = f"Training job record {path.name}"
    check(data, JOB_FIELDS, where, path.name)
    if data["job_id"] != path.stem:
        raise BrokenState(f"{where}: its job_id {data['job_id'][:80]!r} is not its file name.")
    if data["state"] not in STATES:
        raise BrokenState(f"{where}: state {data['state'][:40]!r} is not one of {', '.join(STATES)}.")
    for entry in data.get("stages") or []:
        if not (isinstance(entry, dict) and isinstance(entry.get("stage"), str)
                and isinstance(entry.get("at_sec"), int | float) and not isinstance(entry.get("at_sec"), bool)):
            raise BrokenState(f"{where}: an entry of 'stages' is not a stage with its time.")
    return data


class Cancelled(Exception):
    """Raised inside a training when its job was cancelled."""


@dataclass
class TrainRequest:
    """What to train: a stored dataset, a version name (None = automatic) and the options."""

    dataset: str
    version: str | None = None
    dry_run: bool = False
    test_size: float = 0.2
    seed: int = 42
    top_k: int = 5
    params: dict = field(default_factory=dict)
    refit: bool = True  # after the holdout evaluation, fit the published model on every item

    def to_dict(self) -> dict:
        """Plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainRequest:
        """Build from a dict, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def auto_version_name(now: datetime | None = None) -> str:
    """An automatic version name from the time, e.g. `v20261126-031522`."""
    return (now or datetime.now()).strftime("v%Y%m%d-%H%M%S")


def unique_version_name(taken: set[str] | frozenset[str], now: datetime | None = None) -> str:
    """`auto_version_name()`, with `-2`, `-3`, … appended while the name is taken."""
    base = auto_version_name(now)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


# ---------------------------------------------------------------- validation


def _model_param_names() -> set[str]:
    from routing_core.model import RoutingModel

    return set(RoutingModel().get_params())


def check_request(request: TrainRequest, registry: Registry | None = None) -> None:
    """Check the options of a request (UserError naming the bad one); the dataset is checked later."""
    if not isinstance(request.dataset, str) or not request.dataset:
        raise UserError("Choose a dataset to train on.")
    if not isinstance(request.test_size, int | float) or not 0 < float(request.test_size) < 1:
        raise UserError(f"The test size must be a share between 0 and 1 (got {request.test_size!r}).")
    if isinstance(request.seed, bool) or not isinstance(request.seed, int):
        raise UserError(f"The seed must be a whole number (got {request.seed!r}).")
    if isinstance(request.top_k, bool) or not isinstance(request.top_k, int) or request.top_k < 1:
        raise UserError(f"top-k must be a whole number of 1 or more (got {request.top_k!r}).")
    if not isinstance(request.params, dict):
        raise UserError("The model parameters must be a mapping of name to value.")
    if request.params:
        unknown = sorted(set(request.params) - _model_param_names())
        if unknown:
            raise UserError(
                f"Unknown model parameter(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(_model_param_names()))}."
            )
    if request.version is not None:
        check_name(request.version, "version name")
        if registry is not None and registry.exists(request.version):
            raise UserError(
                f"A model version named '{request.version}' already exists; choose another name."
            )


# ---------------------------------------------------------------- the training itself


class _Reporter:
    """Maps (stage, fraction of the stage) onto percent, checks for cancellation, calls back."""

    def __init__(self, ranges: dict, progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        self.ranges = ranges
        self.progress = progress
        self.cancel = cancel
        self.stage = next(iter(ranges))

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled(CANCELLED_MESSAGE)
        self.stage = stage
        lo, hi = self.ranges[stage]
        pct = lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0)
        if self.progress is not None:
            self.progress(stage, round(pct, 1), message)

    def sub(self, stage: str, start: float = 0.0, end: float = 1.0, prefix: str = "") -> Callable:
        """A `progress(fraction, message)` callable for the model, mapped into part of a stage."""

        def callback(fraction: float, message: str = "") -> None:
            f = start + (end - start) * min(max(float(fraction), 0.0), 1.0)
            self(stage, f, f"{prefix}{message}" if message else prefix.rstrip(": "))

        return callback


def _dataset_stats(stats: dict) -> dict:
    return {k: stats[k] for k in DATASET_STATS_KEYS if k in stats}


def summarise_metrics(metrics: dict) -> dict:
    """The headline numbers of a metrics dict (what the CLI prints and the jobs table shows)."""
    return {k: metrics[k] for k in SUMMARY_METRICS if k in metrics}


def run_training(
    request: TrainRequest,
    models_dir: str | os.PathLike | None = None,
    data_home: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    dataset: Any = None,
) -> dict:
    """Validate, profile, split, fit, evaluate and publish one version; returns a summary dict.

    `progress(stage, percent, message)` is called as the work goes; `cancel()` returning True
    stops it (raises Cancelled) before anything is published. A dry run stops after planning and
    writes nothing. `dataset` may be a Dataset already in memory (the CLI's file); otherwise
    `request.dataset` names one in the dataset store.
    """
    from routing_core.datasets import DatasetStore, item_table
    from routing_core.evaluation import evaluate_model, split_items
    from routing_core.model import RoutingModel
    from routing_core.schema import ITEM, PROCESS
    from routing_core.stats import compute_stats

    started = time.perf_counter()
    registry = Registry(models_dir)
    report = _Reporter(DRY_RUN_RANGES if request.dry_run else STAGE_RANGES, progress, cancel)

    # validate
    report("validate", 0.0, "checking the request")
    check_request(request, registry)
    version = request.version
    if version is None:
        version = unique_version_name(set(registry.names()))
    store = DatasetStore(data_home) if data_home is not None else DatasetStore()
    if dataset is None:
        check_name(request.dataset, "dataset name")
        record = store.record(request.dataset)
        dataset = store.load(request.dataset)
        dataset_sha = record.sha256
    else:
        dataset_sha = dataset.sha256
    ops = dataset.ops
    n_items = int(ops[ITEM].nunique())
    if n_items < 2:
        raise UserError(
            f"Dataset '{request.dataset}' has {n_items} item(s); training needs at least 2 "
            "(some to learn from, some to test on)."
        )
    report("validate", 1.0, f"{len(ops):,} operations of {n_items:,} items")

    # profile
    report("profile", 0.0, "computing dataset statistics")
    if dataset_sha and store_has(store, request.dataset, dataset_sha):
        stats = store.stats(request.dataset)  # computed once per stored dataset and kept
    else:
        stats = compute_stats(dataset)
    report("profile", 1.0, f"{stats.get('unique_processes', 0)} processes, "
           f"{stats.get('distinct_routings', 0)} distinct routings")

    # split
    report("split", 0.0, "splitting by item")
    train_ops, test_ops = split_items(ops, test_size=float(request.test_size), seed=request.seed)
    n_train, n_test = int(train_ops[ITEM].nunique()), int(test_ops[ITEM].nunique())
    if n_train == 0 or n_test == 0:
        raise UserError(
            f"Dataset '{request.dataset}' has too few items ({n_items}) for a test share of "
            f"{request.test_size}: the split leaves {n_train} to learn from and {n_test} to test on."
        )
    report("split", 1.0, f"{n_train:,} items to learn from, {n_test:,} to test on")

    # features
    report("features", 0.0, "classifying attributes")
    item_attrs = list(dataset.item_attributes)
    op_attrs = list(dataset.operation_attributes)
    items = item_table(ops, item_attrs)
    model_params = {"top_k": request.top_k, "random_state": request.seed, **request.params}
    dataset_info = {
        "name": request.dataset,
        "sha256": dataset_sha,
        "rows": int(len(ops)),
        "items": n_items,
        "processes": int(ops[PROCESS].nunique()),
        "source_name": getattr(dataset, "source_name", None),
    }

    if request.dry_run:
        report("features", 0.1, "timing a small fit to estimate the training time")
        estimate = _estimate_seconds(RoutingModel, model_params, train_ops, test_ops, item_attrs,
                                     op_attrs, n_items, request.refit)
        plan = {
            "dry_run": True,
            "version": version,
            "version_taken": registry.exists(version),
            "dataset": dataset_info,
            "rows": int(len(ops)),
            "items": n_items,
            "train_items": n_train,
            "test_items": n_test,
            "processes": int(ops[PROCESS].nunique()),
            "item_attributes": item_attrs,
            "operation_attributes": op_attrs,
            "features": len(item_attrs) + 1,  # the attributes plus the item code itself
            "estimated_sec": round(estimate, 1),
            "params": model_params,
            "warnings": list(dataset.warnings),
            "planning_sec": round(time.perf_counter() - started, 3),
        }
        report("features", 1.0, f"plan ready: about {estimate:.0f} s for {n_items:,} items")
        return plan
    report("features", 1.0, f"{len(item_attrs)} item attributes, {len(op_attrs)} operation attributes"
           f" ({len(items):,} items)")

    # fit
    fit_start = time.perf_counter()
    holdout_end = 0.5 if request.refit else 1.0
    report("fit", 0.0, f"fitting on {n_train:,} items")
    model = RoutingModel(**model_params).fit(
        train_ops, item_attributes=item_attrs, operation_attributes=op_attrs,
        progress=report.sub("fit", 0.0, holdout_end, "holdout model: "),
    )
    final = model
    if request.refit:
        report("fit", holdout_end, f"fitting the published model on all {n_items:,} items")
        final = RoutingModel(**model_params).fit(
            ops, item_attributes=item_attrs, operation_attributes=op_attrs,
            progress=report.sub("fit", holdout_end, 1.0, "final model: "),
        )
    fit_sec = time.perf_counter() - fit_start
    report("fit", 1.0, f"fitted in {fit_sec:.1f} s")

    # evaluate
    report("evaluate", 0.0, f"evaluating on {n_test:,} held-out items")
    metrics = dict(evaluate_model(model, train_ops, test_ops, item_attributes=item_attrs,
                                  progress=report.sub("evaluate")))
    report("evaluate", 1.0, "evaluation done")

    # save
    report("save", 0.0, f"publishing version '{version}'")
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    training_rows = int(len(ops) if request.refit else len(train_ops))
    metrics.update({
        "holdout_training_samples": int(len(train_ops)),
        "training_samples": training_rows,
        "training_items": n_items if request.refit else n_train,
        "train_items": n_train,
        "test_items": n_test,
        "test_size": float(request.test_size),
        "seed": request.seed,
        "dataset_stats": _dataset_stats(stats),
        # Whether the published model puts the most frequent routing first (its trial on items it
        # did not see found it no closer to the recorded routings), and the trial's figures.
        "most_frequent_leads": bool(getattr(final, "baseline_leads_", False)),
        "baseline_trial": getattr(final, "baseline_trial_", None),
        "reading": final.reading(),
        "training_duration_sec": round(time.perf_counter() - started, 3),
        "created_at": created_at,
    })
    params = {**final.get_params(), "test_size": float(request.test_size), "seed": request.seed,
              "refit": request.refit}
    training_request = {**request.to_dict(), "version": version, "dataset_sha256": dataset_sha,
                        "submitted_at": created_at}
    report("save", 0.5, f"writing version '{version}'")  # last chance to cancel
    info = registry.publish(version, final, metrics, dataset_info, params, training_request)
    if progress is not None:
        progress("save", 100.0, f"version '{version}' published")
    return {
        "dry_run": False,
        "version": version,
        "path": str(info.path),
        "dataset": request.dataset,
        "rows": int(len(ops)),
        "items": n_items,
        "train_items": n_train,
        "test_items": n_test,
        "training_duration_sec": metrics["training_duration_sec"],
        "metrics": summarise_metrics(metrics),
    }


def store_has(store: Any, name: str, sha256: str) -> bool:
    """Whether the store holds dataset `name` with this content."""
    try:
        return store.record(name).sha256 == sha256
    except (UserError, OSError, ValueError, TypeError):
        return False


def _estimate_seconds(model_cls, params, train_ops, test_ops, item_attrs, op_attrs, n_items,
                      refit, sample_items: int = 1000, test_sample: int = 100) -> float:
    """Time fits of two samples of items and an evaluation, and scale them to the whole dataset.

    A fit costs less than linearly more with more items (parts of it work on capped samples):
    the growth exponent comes from the two fits, kept within [0.6, 1.1] since small timings
    are noisy on a shared server. The evaluation scales linearly with the test items.
    """
    import numpy as np

    from routing_core.evaluation import evaluate_model
    from routing_core.schema import ITEM

    rng = np.random.default_rng(0)
    train_codes = train_ops[ITEM].unique()
    test_codes = test_ops[ITEM].unique()
    n_train, n_test = len(train_codes), len(test_codes)
    codes = train_codes if n_train <= sample_items else rng.choice(train_codes, sample_items, replace=False)
    tcodes = test_codes if n_test <= test_sample else rng.choice(test_codes, test_sample, replace=False)
    tsample = test_ops[test_ops[ITEM].isin(set(tcodes))]

    def fit_seconds(sample_codes) -> tuple[float, object]:
        t0 = time.perf_counter()
        model = model_cls(**params).fit(train_ops[train_ops[ITEM].isin(set(sample_codes))],
                                        item_attributes=item_attrs, operation_attributes=op_attrs)
        return time.perf_counter() - t0, model

    big, model = fit_seconds(codes)
    exponent = 1.0
    if len(codes) >= 4 * 100:
        small, _ = fit_seconds(codes[: len(codes) // 4])
        exponent = float(np.clip(np.log(big / max(small, 1e-6)) / np.log(4), 0.6, 1.1))
    t0 = time.perf_counter()
    evaluate_model(model, train_ops[train_ops[ITEM].isin(set(codes))], tsample, item_attributes=item_attrs)
    eval_per_test = (time.perf_counter() - t0) / max(len(tcodes), 1)

    def fit_for(n: int) -> float:
        return big * (n / max(len(codes), 1)) ** exponent

    return fit_for(n_train) + (fit_for(n_items) if refit else 0.0) + eval_per_test * n_test


# ---------------------------------------------------------------- job records


def _now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat(timespec="seconds")


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid), if /proc has it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_ = stat[stat.rfind(")") + 2:].split()
    return fields_[19] if len(fields_) > 19 else None


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:][:1]


# Worker processes this process started, polled so finished ones are reaped (not zombies).
_CHILDREN: list[subprocess.Popen] = []
_CHILDREN_LOCK = threading.Lock()


def _reap() -> None:
    with _CHILDREN_LOCK:
        _CHILDREN[:] = [c for c in _CHILDREN if c.poll() is None]


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether process `pid` runs (not a zombie, and started at `start` when that is known)."""
    if not pid:
        return False
    _reap()
    if not process_alive(pid):
        return False
    if _proc_state(pid) == "Z":
        return False
    return not (start is not None and _proc_start(pid) not in (None, start))


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
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
        if not _try_lock(fh.fileno(), wait_sec=0.2):
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

        self.registry = Registry(models_dir)
        self.root = self.registry.root
        self.jobs_dir = self.root / JOBS_DIR
        self.data_home = Path(data_home) if data_home is not None else default_data_home()
        self._last_spawn = 0.0

    # ------------------------------------------------------------ records

    def _record_path(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
            raise UserError(f"No training job '{job_id}'.")
        return self.jobs_dir / f"{job_id}.json"

    def _read(self, job_id: str) -> dict | None:
        """The record of a job, or None when it is missing or broken (see broken())."""
        try:
            return self._load(self._record_path(job_id))
        except (OSError, BrokenState):
            return None

    @staticmethod
    def _load(path: Path) -> dict:
        return check_job_record(read_json(path, f"Training job record {path.name}"), path)

    def _write(self, record: dict) -> None:
        record["updated_at"] = _now_iso()
        atomic_write_json(self._record_path(record["job_id"]), record)

    def _locked(self) -> contextlib.AbstractContextManager:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        return _flock(self.jobs_dir / RECORDS_LOCK)

    def update(self, job_id: str, fn: Callable[[dict], dict | None]) -> dict | None:
        """Read-modify-write one record under the records lock; `fn` returns the new record or None."""
        with self._locked():
            record = self._read(job_id)
            if record is None:
                return None
            new = fn(dict(record))
            if new is None:
                return record
            self._write(new)
            return new

    def _records(self) -> list[dict]:
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

    def submit(self, request: TrainRequest) -> str:
        """Queue a training (pending) and make sure a worker runs it; returns the job id."""
        from routing_core.datasets import DatasetStore

        check_request(request, self.registry)
        check_name(request.dataset, "dataset name")
        DatasetStore(self.data_home).record(request.dataset)  # UserError if there is none
        self.registry.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            queued = {
                r.get("version") for r in self._records()
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
                "message": "waiting for the worker",
                "dry_run": bool(request.dry_run),
                "version": version,
                "dataset": request.dataset,
                "request": request.to_dict(),
                "created_at": _now_iso(now),
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
            }
            self._write(record)
        self._spawn_worker()
        return job_id

    def get(self, job_id: str) -> dict:
        """The job's record as it stands (a running job whose process died reads as failed)."""
        try:
            record = self._load(self._record_path(job_id))
        except FileNotFoundError:
            raise UserError(f"No training job '{job_id}'.") from None
        except OSError as exc:
            raise UserError(f"Training job '{job_id}' cannot be read ({exc.strerror}).") from None
        record = self._settle(record)
        if record.get("state") == "pending":
            self._kick()
        return record

    def list(self) -> list[dict]:
        """Every job, newest first."""
        records = [self._settle(r) for r in self._records()]
        if any(r.get("state") == "pending" for r in records):
            self._kick()
        return sorted(records, key=lambda r: (r.get("created_ts") or 0, r["job_id"]), reverse=True)

    def cancel(self, job_id: str) -> dict:
        """Cancel a job: a pending one at once, a running one at its next progress step."""
        if self._read(job_id) is None:
            raise UserError(f"No training job '{job_id}'.")

        def change(rec: dict) -> dict | None:
            if rec["state"] == "pending":
                now = time.time()
                rec.update(state="cancelled", message=CANCELLED_MESSAGE, finished_ts=now,
                           finished_at=_now_iso(now), cancel_requested=True)
                return rec
            if rec["state"] == "running":
                rec.update(cancel_requested=True, message="cancelling…")
                return rec
            return None

        return self.update(job_id, change) or {}

    def prune(self, keep: int = KEEP_FINISHED_JOBS) -> int:
        """Delete the records of all but the newest `keep` finished jobs; returns how many went."""
        finished = sorted(
            (r for r in self._records() if r.get("state") in FINAL_STATES),
            key=lambda r: (r.get("created_ts") or 0, r["job_id"]), reverse=True,
        )
        removed = 0
        with self._locked():
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

    def _settle(self, record: dict) -> dict:
        if record.get("state") != "running":
            return record
        if pid_alive(record.get("pid"), record.get("pid_start")):
            if record.get("started_ts"):
                record["elapsed_sec"] = round(time.time() - record["started_ts"], 1)
            return record
        pid = record.get("pid")

        # The process is gone, so it can write no more: what is on disk now is final.
        def fail(rec: dict) -> dict | None:
            if rec.get("state") != "running" or rec.get("pid") != pid:
                return None
            return _finish(rec, "failed", error=DEAD_REASON, message=DEAD_REASON)

        return self.update(record["job_id"], fail) or record

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
        pending = [r for r in self._records() if r.get("state") == "pending"]
        if not pending or min(r.get("created_ts") or 0 for r in pending) > now - KICK_AFTER_SEC:
            return
        if not self.worker_running():
            self._spawn_worker()

    def _spawn_worker(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
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
        with _CHILDREN_LOCK:
            _CHILDREN.append(child)
        self._last_spawn = time.time()


def _finish(rec: dict, state: str, **changes: Any) -> dict:
    now = time.time()
    rec.update(state=state, finished_ts=now, finished_at=_now_iso(now), **changes)
    if rec.get("started_ts"):
        rec["elapsed_sec"] = round(now - rec["started_ts"], 3)
    return rec


# ---------------------------------------------------------------- the worker


def _try_lock(fd: int, wait_sec: float = 1.0) -> bool:
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


def run_worker(models_dir: str | os.PathLike | None = None,
               data_home: str | os.PathLike | None = None) -> int:
    """Run pending jobs of a models folder oldest first until none are left (one worker at a time)."""
    manager = JobManager(models_dir, data_home)
    manager.jobs_dir.mkdir(parents=True, exist_ok=True)
    with open(manager.jobs_dir / WORKER_LOCK, "a+") as lock:
        while True:
            if not _try_lock(lock.fileno()):
                return 0  # another worker runs; it picks up every pending job
            try:
                _orphans_failed(manager)
                manager.registry.cleanup()
                manager.prune()
                while (job := _claim_next(manager)) is not None:
                    _run_job(manager, job)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            # A job submitted after the last scan, whose own worker found the lock held, is ours.
            if not any(r.get("state") == "pending" for r in manager._records()):
                return 0


def _orphans_failed(manager: JobManager) -> None:
    """With the worker lock held, any other 'running' record belongs to a dead worker."""
    me = os.getpid()
    for rec in manager._records():
        if rec.get("state") == "running" and rec.get("pid") != me:
            pid = rec.get("pid")
            manager.update(rec["job_id"], lambda r, pid=pid: _finish(
                r, "failed", error=DEAD_REASON, message=DEAD_REASON)
                if r.get("state") == "running" and r.get("pid") == pid else None)


def _claim_next(manager: JobManager) -> dict | None:
    pending = sorted(
        (r for r in manager._records() if r.get("state") == "pending"),
        key=lambda r: (r.get("created_ts") or 0, r["job_id"]),
    )
    me, start = os.getpid(), _proc_start(os.getpid())
    for rec in pending:
        def claim(r: dict) -> dict | None:
            if r.get("state") != "pending":
                return None
            now = time.time()
            r.update(state="running", stage="validate", progress=0.0, message="starting",
                     started_ts=now, started_at=_now_iso(now), pid=me, pid_start=start)
            return r

        claimed = manager.update(rec["job_id"], claim)
        if claimed is not None and claimed.get("state") == "running" and claimed.get("pid") == me:
            return claimed
    return None


def _run_job(manager: JobManager, job: dict) -> None:
    job_id = job["job_id"]
    try:
        request = TrainRequest.from_dict(job.get("request") or {})
    except TypeError:  # a record written by hand, without what to train
        reason = "the job record does not say what to train (its 'request' lacks the dataset)"
        manager.update(job_id, lambda r: _finish(r, "failed", error=reason, message=reason))
        return
    started = job["started_ts"]
    last = {"t": 0.0, "stage": None}

    def progress(stage: str, pct: float, message: str) -> None:
        now = time.time()
        if stage == last["stage"] and now - last["t"] < WRITE_EVERY_SEC and pct < 100:
            return
        last.update(t=now, stage=stage)

        def step(r: dict) -> dict:
            history = r.setdefault("stages", [])
            if not history or history[-1]["stage"] != stage:  # when each stage began, for the record
                history.append({"stage": stage, "at_sec": round(now - started, 3)})
            r.update(stage=stage, progress=pct, message=message, elapsed_sec=round(now - started, 3))
            return r

        rec = manager.update(job_id, step)
        # Once the version is published (100 %) a late cancel changes nothing.
        if rec is not None and rec.get("cancel_requested") and pct < 100:
            raise Cancelled(CANCELLED_MESSAGE)

    try:
        result = run_training(request, manager.root, manager.data_home, progress=progress)
    except Cancelled:
        manager.update(job_id, lambda r: _finish(r, "cancelled", message=CANCELLED_MESSAGE))
    except UserError as exc:
        reason = str(exc)
        manager.update(job_id, lambda r: _finish(r, "failed", error=reason, message=reason))
    except Exception as exc:  # a bug must fail the job, not the worker: the queue goes on
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        manager.update(job_id, lambda r: _finish(r, "failed", error=error, message=error))
    else:
        message = (f"plan ready: about {result.get('estimated_sec')} s" if request.dry_run
                   else f"version '{result['version']}' published")
        manager.update(job_id, lambda r: _finish(
            r, "completed", progress=100.0, message=message, result=result,
            version=result.get("version", r.get("version"))))
