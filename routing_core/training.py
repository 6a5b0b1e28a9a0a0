"""Training jobs (DESIGN §7): one synchronous `run_training`, and a queue of jobs run by a worker process.

A job is a JSON record at `<models>/.jobs/<job_id>.json`, rewritten atomically as it goes
(`pending → running → completed | failed | cancelled`). `JobManager.submit` writes a pending
record and starts a detached worker (`python -m routing_core worker`). The worker holds an
exclusive lock on `.jobs/worker.lock` — so one training runs at a time per models folder —
and runs pending jobs oldest first until none are left. A running record whose process is
gone is reported as failed. The worker limits its own memory (`limit_memory`, TRAIN_MEMORY_GB
in `routing_core.limits`): a job that hits the limit fails with "ran out of the memory limit
(N GB)", and a dry run warns when its estimated peak would pass it. This module never imports
streamlit and imports the heavy libraries only when a training runs, so a worker starts quickly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import signal
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

from routing_core.access import User, actor, require
from routing_core.activity import CANCEL_TRAINING, FINISH_TRAINING, SUBMIT_TRAINING, ActivityLog
from routing_core.atomic import atomic_write_json, process_alive
from routing_core.errors import UserError
from routing_core.limits import TRAIN_MEMORY_GB, gb_text
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
    "owner": Field(_OPTIONAL_TEXT),
    "cancelled_by": Field(_OPTIONAL_TEXT),
    "host": Field(_OPTIONAL_TEXT),
    "heartbeat_ts": Field(_WHEN),
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
        limit_gb = TRAIN_MEMORY_GB.value  # a bad setting is refused before the timing starts
        report("features", 0.1, "timing a small fit to estimate the training time and memory")
        estimate, peak_bytes = _estimate(RoutingModel, model_params, train_ops, test_ops, item_attrs,
                                         op_attrs, n_items, request.refit)
        peak_gb = round(peak_bytes / (1 << 30), 2)  # one rounding: the figure and the warning agree
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
            "estimated_peak_gb": peak_gb,
            "memory_limit_gb": limit_gb,
            "memory_warning": memory_warning(peak_gb, limit_gb),
            "params": model_params,
            "warnings": list(dataset.warnings),
            "planning_sec": round(time.perf_counter() - started, 3),
        }
        report("features", 1.0, f"plan ready: about {estimate:.0f} s and {peak_gb:.1f} GB "
               f"for {n_items:,} items")
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


def memory_warning(peak_gb: float, limit_gb: float) -> str | None:
    """What a plan says when its estimated peak passes the worker's memory limit (None when it fits)."""
    if peak_gb <= limit_gb:
        return None
    return (
        f"This training would need about {peak_gb:.1f} GB of memory at its peak, more than the "
        f"limit of {gb_text(limit_gb)} GB: it would stop and fail. Train on fewer items, or raise "
        f"the limit with {TRAIN_MEMORY_GB.env} if the machine has the memory to spare."
    )


def _status_bytes(key: str, pid: int | str = "self") -> int | None:
    """One figure of /proc/<pid>/status in bytes (VmRSS, VmHWM, VmData), or None without it."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _release_free_memory() -> None:
    """Collect garbage and hand the allocator's free memory back, so what grows next is new work."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    """Set this process's peak resident size (VmHWM) to its resident size now (Linux 4.0 and later)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


@contextlib.contextmanager
def _memory_used() -> Iterator[dict]:
    """Measure a block: `peak` is the most memory it held at once above what the process held before,
    `kept` what it still holds at its end (bytes; filled in when the block ends).

    Resident memory, so C libraries' own allocations (the nodes of scikit-learn's trees) count too:
    VmRSS before and after, and the peak VmHWM, reset at the start through /proc/self/clear_refs,
    which costs nothing. Where that reset is not available, tracemalloc counts Python's and numpy's
    allocations instead; it makes a fit about three times slower.
    """
    import tracemalloc

    _release_free_memory()
    rss_before = _status_bytes("VmRSS") or 0
    out: dict = {"peak": 0, "kept": 0}
    if _reset_peak_rss():
        try:
            yield out
        finally:
            rss_now = _status_bytes("VmRSS") or rss_before
            out["kept"] = max(rss_now - rss_before, 0)
            out["peak"] = max((_status_bytes("VmHWM") or rss_now) - rss_before, out["kept"])
        return
    tracing_here = not tracemalloc.is_tracing()
    if tracing_here:
        tracemalloc.start()
    tracemalloc.reset_peak()
    traced_before, _ = tracemalloc.get_traced_memory()
    try:
        yield out
    finally:
        traced_now, traced_peak = tracemalloc.get_traced_memory()
        if tracing_here:
            tracemalloc.stop()
        out["kept"] = max(traced_now - traced_before, 0)
        out["peak"] = max(traced_peak - traced_before, out["kept"])


def _process_memory() -> int:
    """What this process holds now, in bytes: resident memory (VmRSS)."""
    return _status_bytes("VmRSS") or 0


def _estimate(model_cls, params, train_ops, test_ops, item_attrs, op_attrs, n_items, refit,
              sample_items: int = 1000, test_sample: int = 100) -> tuple[float, int]:
    """Time and measure fits of two samples of items and an evaluation, and scale them to the whole
    dataset: (seconds, peak bytes of the process).

    Time: a fit costs less than linearly more with more items (parts of it work on capped samples):
    the growth exponent comes from the two fits, kept within [0.6, 1.1] since small timings are
    noisy on a shared server. The evaluation scales linearly with the test items.

    Memory (`_memory_used` around the larger fit and the evaluation): a fit's peak and what its
    model keeps grow linearly with the items, at the bytes per item of the larger sample — more
    in proportion when the whole dataset has more process codes than the sample (counted up to
    MAX_PROCESS_CODES + 1 of `routing_core.model`, the rest being pooled). The evaluation's peak
    grows with the held-out items up to one prediction batch (`BATCH` items). The training's peak
    is the process's memory now (imports, the dataset and its split, as in the worker that will
    train) plus the largest of: the holdout fit; the holdout model and the refit on every item;
    both models and the evaluation. Parts of the model work on capped samples, so large trainings
    need less than this says, and the resident size of a fit of 1,000 items varies by a third from
    run to run (which thread's allocator arena grows): on the bundled sample's generator, 2,000 /
    20,000 / 100,000 items were estimated at 0.27-0.28 / 0.67-0.73 / 2.9-5.7 GB and peaked at
    0.30 / 0.67 / 1.31 GB.
    """
    import numpy as np

    from routing_core.evaluation import evaluate_model
    from routing_core.model import BATCH, MAX_PROCESS_CODES
    from routing_core.schema import ITEM, PROCESS

    _release_free_memory()
    baseline = _process_memory()
    rng = np.random.default_rng(0)
    train_codes = train_ops[ITEM].unique()
    test_codes = test_ops[ITEM].unique()
    n_train, n_test = len(train_codes), len(test_codes)
    codes = train_codes if n_train <= sample_items else rng.choice(train_codes, sample_items, replace=False)
    tcodes = test_codes if n_test <= test_sample else rng.choice(test_codes, test_sample, replace=False)
    tsample = test_ops[test_ops[ITEM].isin(set(tcodes))]

    def fit(sample_codes) -> tuple[float, dict, object]:
        sample = train_ops[train_ops[ITEM].isin(set(sample_codes))]
        with _memory_used() as memory:
            t0 = time.perf_counter()
            model = model_cls(**params).fit(sample, item_attributes=item_attrs, operation_attributes=op_attrs)
            seconds = time.perf_counter() - t0
        return seconds, memory, model

    # A first fit imports modules and fills caches once: done on a few items, neither timed nor measured.
    model_cls(**params).fit(train_ops[train_ops[ITEM].isin(set(codes[:50]))], item_attributes=item_attrs,
                            operation_attributes=op_attrs)
    exponent = 1.0
    small_memory, n_small = None, 0
    if len(codes) >= 4 * 100:  # the small sample first: its memory is not the big one's, reused
        n_small = len(codes) // 4
        small, small_memory, _ = fit(codes[:n_small])
    big, big_memory, model = fit(codes)
    if small_memory is not None:
        exponent = float(np.clip(np.log(big / max(small, 1e-6)) / np.log(4), 0.6, 1.1))
    with _memory_used() as eval_memory:
        t0 = time.perf_counter()
        evaluate_model(model, train_ops[train_ops[ITEM].isin(set(codes))], tsample, item_attributes=item_attrs)
        eval_per_test = (time.perf_counter() - t0) / max(len(tcodes), 1)

    def fit_for(n: int) -> float:
        return big * (n / max(len(codes), 1)) ** exponent

    seconds = fit_for(n_train) + (fit_for(n_items) if refit else 0.0) + eval_per_test * n_test

    # Bytes per item of the larger sample, widened when the whole dataset has more process codes.
    n_big = max(len(codes), 1)
    cap = MAX_PROCESS_CODES + 1  # the pooled codes count as one
    sample_ops = train_ops[train_ops[ITEM].isin(set(codes))]
    widen = max(min(int(train_ops[PROCESS].nunique()), cap)
                / max(min(int(sample_ops[PROCESS].nunique()), cap), 1), 1.0)

    def fit_peak(n: int) -> float:
        return big_memory["peak"] * widen * n / n_big

    def kept(n: int) -> float:
        return big_memory["kept"] * widen * n / n_big

    eval_peak = eval_memory["peak"] * min(n_test, BATCH) / max(len(tcodes), 1)
    phases = [fit_peak(n_train)]
    if refit:
        phases.append(kept(n_train) + fit_peak(n_items))
    phases.append(kept(n_train) + (kept(n_items) if refit else 0.0) + eval_peak)
    return seconds, int(baseline + max(phases))


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

    def submit(self, request: TrainRequest, user: User | None = None) -> str:
        """Queue a training (pending) and make sure a worker runs it; returns the job id.

        Needs an analyst (`user`, None: the local user; Forbidden otherwise). The record's `owner`
        is the user; the submission is recorded in the activity log."""
        from routing_core.datasets import DatasetStore

        who = actor(user)
        require(who, "train")
        check_request(request, self.registry)
        check_name(request.dataset, "dataset name")
        DatasetStore(self.data_home).record(request.dataset)  # UserError if there is none
        _ = TRAIN_MEMORY_GB.value  # UserError if the worker's memory limit is set to nonsense
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
                "owner": who.name,
                "cancelled_by": None,
            }
            self._write(record)
        self.activity.record(who, SUBMIT_TRAINING, job_object(record), job_id=job_id,
                             dataset=request.dataset, dry_run=bool(request.dry_run))
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

    def cancel(self, job_id: str, user: User | None = None) -> dict:
        """Cancel a job: a pending one at once, a running one at its next progress step.

        Only its owner (an analyst) or an admin may (Forbidden otherwise); the record says who
        cancelled (`cancelled_by`), and the activity log records it."""
        who = actor(user)
        found = self._read(job_id)
        if found is None:
            raise UserError(f"No training job '{job_id}'.")
        require(who, "cancel_own", owner=found.get("owner") or "")
        changed: dict = {}

        def change(rec: dict) -> dict | None:
            if rec["state"] == "pending":
                now = time.time()
                rec.update(state="cancelled", message=cancelled_message(who.name), finished_ts=now,
                           finished_at=_now_iso(now), cancel_requested=True, cancelled_by=who.name)
                changed["rec"] = rec
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
        except OSError as exc:  # the job's end stands; a log that cannot be written is reported
            print(f"the activity log cannot be written: {exc}", file=sys.stderr)

    def end(self, job_id: str, state: str, when: Callable[[dict], bool] | None = None,
            **changes: Any) -> dict | None:
        """Bring a job that is not finished to `state` (only if `when(record)` holds, when given) and
        record that in the activity log; returns the new record, None when nothing changed."""
        ended: dict = {}

        def fn(rec: dict) -> dict | None:
            if rec.get("state") in FINAL_STATES or (when is not None and not when(rec)):
                return None
            ended["rec"] = _finish(rec, state, **changes)
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
        records = self._records()
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
        return len(ahead) + 1, now + wait

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
        ended = self.end(record["job_id"], "failed", when=lambda rec: rec.get("state") == "running"
                         and rec.get("pid") == pid, error=DEAD_REASON, message=DEAD_REASON)
        return ended or self._read(record["job_id"]) or record

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


def job_object(record: dict) -> str:
    """What the activity log names a job by: its version, or its job id for a dry run."""
    if record.get("dry_run") or not record.get("version"):
        return str(record.get("job_id"))
    return str(record["version"])


def cancelled_message(by: str | None) -> str:
    """The message of a cancelled job: who cancelled it, when that is known."""
    return f"cancelled by {by}" if by else CANCELLED_MESSAGE


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


def limit_memory(gb: float) -> None:
    """Cap this process's data segment (RLIMIT_DATA) at `gb` GB; a lower hard limit stays in force.

    RLIMIT_DATA (Linux 4.7 and later) counts the private writable memory — the heap, the anonymous
    mappings that hold numpy's arrays, thread stacks — which is what a training grows. RLIMIT_AS
    would also count address space that is only reserved or shared: glibc's malloc arenas
    (64 MB each, inaccessible until used), the shared libraries of numpy, scipy and scikit-learn,
    so the same limit would stop a worker far below the memory it really uses. An allocation past
    the limit fails, and Python and numpy raise MemoryError.
    """
    import resource

    want = int(gb * (1 << 30))
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (want, hard))


def out_of_memory_message(gb: float) -> str:
    """What a job that hit the worker's memory limit says."""
    return (f"ran out of the memory limit ({gb_text(gb)} GB); a dry run estimates the peak, "
            f"and {TRAIN_MEMORY_GB.env} raises the limit")


def _out_of_memory(exc: BaseException | None) -> bool:
    """Whether an error (or one it arose from) means memory was refused: MemoryError, and what a
    thread start or the loading of a library raise when the memory limit refuses their memory."""
    for _ in range(8):
        if exc is None:
            return False
        if isinstance(exc, MemoryError):
            return True
        if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
            return True
        text = str(exc)
        if isinstance(exc, RuntimeError) and "can't start new thread" in text:
            return True
        if isinstance(exc, ImportError) and ("failed to map segment" in text or "Cannot allocate memory" in text):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


# A job whose worker sits this close to its memory limit for STUCK_AT_LIMIT_SEC has hit it, even
# when nothing raised: OpenBLAS retries a refused buffer (32 MB) for ever, holding the GIL.
NEAR_LIMIT_BYTES = 48 << 20
STUCK_AT_LIMIT_SEC = 2.0


def _watch_memory(manager: JobManager, gb: float, worker: int) -> None:
    """Run in a small process forked from the worker before it loads anything heavy: when the
    worker stays at its memory limit, kill it and mark its running job failed as out of memory.

    A training killed there never publishes (a version is renamed into place whole; the hidden
    folder of an unfinished one is cleaned by the next worker), and the next look at the jobs
    starts a fresh worker for the jobs still queued. Returns when the worker is gone.
    """
    limit, since = int(gb * (1 << 30)), None
    while True:
        time.sleep(0.1)
        used = _status_bytes("VmData", worker)
        if used is None:  # the worker ended
            return
        if used < limit - NEAR_LIMIT_BYTES:
            since = None
            continue
        since = since or time.monotonic()
        if time.monotonic() - since < STUCK_AT_LIMIT_SEC:
            continue
        # The record first, so no one reads the job as merely stopped; the worker is stuck meanwhile.
        reason = out_of_memory_message(gb)
        for record in manager._records():
            if record.get("pid") == worker:
                manager.end(record["job_id"], "failed", when=lambda r: r.get("pid") == worker
                            and r.get("state") == "running", error=reason, message=reason)
        os.kill(worker, signal.SIGKILL)
        return


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
            if not _try_lock(lock.fileno()):
                return 0  # another worker runs; it picks up every pending job
            try:
                _orphans_failed(manager)
                manager.registry.cleanup()
                manager.prune()
                while (job := _claim_next(manager)) is not None:
                    _run_job(manager, job, memory_gb, refusal)
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
            manager.end(rec["job_id"], "failed", when=lambda r, pid=pid: r.get("state") == "running"
                        and r.get("pid") == pid, error=DEAD_REASON, message=DEAD_REASON)


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


def _run_job(manager: JobManager, job: dict, memory_gb: float | None = None,
             refusal: str | None = None) -> None:
    """Run one claimed job to its final state. `memory_gb` is the limit the worker runs under (for
    the message of a job that hits it); `refusal`, when given, fails the job with that reason."""
    job_id = job["job_id"]
    if refusal is not None:
        manager.end(job_id, "failed", error=refusal, message=refusal)
        return
    try:
        request = TrainRequest.from_dict(job.get("request") or {})
    except TypeError:  # a record written by hand, without what to train
        reason = "the job record does not say what to train (its 'request' lacks the dataset)"
        manager.end(job_id, "failed", error=reason, message=reason)
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

    out_of_memory = False
    try:
        result = run_training(request, manager.root, manager.data_home, progress=progress)
    except Cancelled:
        by = (manager._read(job_id) or {}).get("cancelled_by")
        manager.end(job_id, "cancelled", message=cancelled_message(by))
    except UserError as exc:
        reason = str(exc)
        manager.end(job_id, "failed", error=reason, message=reason)
    except Exception as exc:  # a bug must fail the job, not the worker: the queue goes on
        if _out_of_memory(exc):
            # Recorded below, once the training's frames (and their arrays) are gone with `exc`.
            out_of_memory = True
        else:
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"
            manager.end(job_id, "failed", error=error, message=error)
    else:
        message = (f"plan ready: about {result.get('estimated_sec')} s and "
                   f"{result.get('estimated_peak_gb')} GB" if request.dry_run
                   else f"version '{result['version']}' published")
        manager.end(job_id, "completed", progress=100.0, message=message, result=result,
                    version=result.get("version", job.get("version")))
    if out_of_memory:
        _release_free_memory()
        reason = out_of_memory_message(memory_gb) if memory_gb is not None else "ran out of memory"
        manager.end(job_id, "failed", error=reason, message=reason)
