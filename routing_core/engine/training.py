"""Training (docs/design.md, 'Training jobs'): one synchronous `run_training` that validates, profiles, splits, fits,
evaluates and publishes a version, and the estimate of a dry run.

Jobs, their queue and the worker live in `routing_core.engine.jobs` and `routing_core.engine.worker`. This module never imports streamlit and imports the heavy
libraries only when a training runs, so a worker starts quickly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routing_core.engine.jobs import (
    CANCELLED_MESSAGE,
)
from routing_core.engine.train_request import (
    Cancelled,
    TrainRequest,
    check_request,
    unique_version_name,
)
from routing_core.mapping.units import unit_of_mapping
from routing_core.platform.errors import UserError
from routing_core.platform.limits import TRAIN_MEMORY_GB
from routing_core.platform.memory import (
    memory_used,
    memory_warning,
    process_memory,
    release_free_memory,
)
from routing_core.platform.names import check_name
from routing_core.versions.registry import Registry

__all__ = [
    "DATASET_STATS_KEYS",
    "DRY_RUN_STAGES",
    "STAGES",
    "SUMMARY_METRICS",
    "run_training",
    "store_has",
    "summarise_metrics",
]

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
    *,
    user: Any,
    hold: Callable[[], Any] | None = None,
) -> dict:
    """Validate, profile, split, fit, evaluate and publish one version; returns a summary dict.

    `user` (a User, or the name of the job's owner) is who publishes the version, in the activity
    log; `hold`, the worker's check that its job still runs, is passed to `Registry.publish`.

    `progress(stage, percent, message)` is called as the work goes; `cancel()` returning True
    stops it (raises Cancelled) before anything is published. A dry run stops after planning and
    writes nothing. `dataset` may be a Dataset already in memory (the CLI's file); otherwise
    `request.dataset` names one in the dataset store.
    """
    from routing_core.datasets import DatasetStore, item_table
    from routing_core.datasets.stats import compute_stats
    from routing_core.mapping.schema import ITEM, PROCESS
    from routing_core.model import RoutingModel
    from routing_core.scoring.evaluation import evaluate_model
    from routing_core.scoring.holdout import NEWEST, describe_split, split_ops

    started = time.perf_counter()
    from routing_core.users.activity import ActivityLog

    registry = Registry(models_dir, activity=ActivityLog(data_home) if data_home is not None else None)
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
    if request.split == NEWEST and request.date_column not in dataset.item_attributes:
        raise UserError(f"Dataset '{request.dataset}' has no item attribute '{request.date_column}' "
                        "to hold out the newest items by.")
    train_ops, test_ops, split = split_ops(ops, float(request.test_size), request.seed,
                                           {"kind": request.split, "date_column": request.date_column})
    n_train, n_test = int(train_ops[ITEM].nunique()), int(test_ops[ITEM].nunique())
    if n_train == 0 or n_test == 0:
        raise UserError(
            f"Dataset '{request.dataset}' has too few items ({n_items}) for a test share of "
            f"{request.test_size}: the split leaves {n_train} to learn from and {n_test} to test on."
        )
    report("split", 1.0, f"{n_train:,} items to learn from, {n_test:,} to test on ({describe_split(split)})")

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
        # source column -> target: files given to the version are read the same way (a log's case column)
        "mapping": dict(getattr(dataset, "mapping", None) or {}),
        "duration_unit": unit_of_mapping(getattr(dataset, "mapping", None) or {}),
    }
    accepted = (getattr(dataset, "source", None) or {}).get("accepted_routings")
    if isinstance(accepted, int) and not isinstance(accepted, bool):
        dataset_info["accepted_routings"] = accepted  # routings analysts accepted, learned from

    if request.dry_run:
        limit_gb = TRAIN_MEMORY_GB.value  # a bad setting is refused before the timing starts
        report("features", 0.1, "timing a small fit to estimate the training time and memory")
        estimate, peak_bytes = dry_run_estimate(RoutingModel, model_params, PlannedTraining(
            train_ops, test_ops, item_attrs, op_attrs, n_items, request.refit))
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
            "split": split,
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
        "split": split,
        "dataset_stats": _dataset_stats(stats),
        # Whether the published model puts the most frequent routing first (its trial on items it
        # did not see found it no closer to the recorded routings), and the trial's figures.
        "most_frequent_leads": bool(getattr(final, "baseline_leads_", False)),
        "baseline_trial": getattr(final, "baseline_trial_", None),
        "reading": final.reading(),
        # Which parts of the model are on for this dataset, with the held-out lift behind each.
        "parts": final.parts(),
        "training_duration_sec": round(time.perf_counter() - started, 3),
        "created_at": created_at,
    })
    params = {**final.get_params(), "config": final.config_.to_dict(), "test_size": float(request.test_size),
              "seed": request.seed, "split": split,
              "refit": request.refit}
    training_request = {**request.to_dict(), "version": version, "dataset_sha256": dataset_sha,
                        "submitted_at": created_at}
    report("save", 0.5, f"writing version '{version}'")  # last chance to cancel
    info = registry.publish(version, final, metrics, dataset_info, params, training_request, user=user,
                            hold=hold)
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


@dataclass(frozen=True)
class PlannedTraining:
    """What a dry run estimates: the holdout split it would fit and evaluate, the columns it would
    read, how many items the whole dataset has and whether the model is then fitted on all of them."""

    train_ops: Any
    test_ops: Any
    item_attributes: list[str]
    operation_attributes: list[str]
    n_items: int
    refit: bool


def dry_run_estimate(model_cls, params: dict, plan: PlannedTraining, sample_items: int = 1000,
                     test_sample: int = 100) -> tuple[float, int]:
    """Time and measure fits of two samples of items and an evaluation, and scale them to the whole
    dataset: (seconds, peak bytes of the process).

    Time: a fit costs less than linearly more with more items (parts of it work on capped samples):
    the growth exponent comes from the two fits, kept within [0.6, 1.1] since small timings are
    noisy on a shared server. The evaluation scales linearly with the test items.

    Memory (`memory_used` around the larger fit and the evaluation): a fit's peak and what its
    model keeps grow linearly with the items, at the bytes per item of the larger sample — more
    in proportion when the whole dataset has more process codes than the sample (counted up to
    MAX_PROCESS_CODES + 1 of `routing_core.model`, the rest being pooled). The evaluation's peak
    grows with the held-out items up to one prediction batch (`BATCH` items). The training's peak
    is the process's memory now (imports, the dataset and its split, as in the worker that will
    train) plus the largest of: the holdout fit; the holdout model and the refit on every item;
    both models and the evaluation. Parts of the model work on capped samples, so large trainings
    need less than this says, and the resident size of a small fit varies from run to run (which
    thread's allocator arena grows). Estimates against measured peaks: docs/benchmarks.md,
    'Training estimate against the measured peak'.
    """
    import numpy as np

    from routing_core.mapping.schema import ITEM, PROCESS
    from routing_core.model import BATCH, MAX_PROCESS_CODES
    from routing_core.scoring.evaluation import evaluate_model

    train_ops, test_ops, n_items, refit = plan.train_ops, plan.test_ops, plan.n_items, plan.refit
    item_attrs, op_attrs = plan.item_attributes, plan.operation_attributes
    release_free_memory()
    baseline = process_memory()
    rng = np.random.default_rng(0)
    train_codes = train_ops[ITEM].unique()
    test_codes = test_ops[ITEM].unique()
    n_train, n_test = len(train_codes), len(test_codes)
    codes = train_codes if n_train <= sample_items else rng.choice(train_codes, sample_items, replace=False)
    tcodes = test_codes if n_test <= test_sample else rng.choice(test_codes, test_sample, replace=False)
    tsample = test_ops[test_ops[ITEM].isin(set(tcodes))]

    def fit(sample_codes) -> tuple[float, dict, object]:
        sample = train_ops[train_ops[ITEM].isin(set(sample_codes))]
        with memory_used() as memory:
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
    with memory_used() as eval_memory:
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
