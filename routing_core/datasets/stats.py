"""Dataset statistics (docs/design.md, 'Dataset statistics'), vectorised so that a million rows profile quickly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from routing_core.datasets.profiling import blank_count, duplicate_counts
from routing_core.datasets.tables import Dataset
from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.platform.formatting import percent

# Bump when the keys, their meaning or how they are computed change: stored stats.json of another
# version are recomputed.
STATS_VERSION = 4  # 3: item attributes' missing rate counted per item; 4: per row kept beside it
TOP_TRANSITIONS = 30
TOP_PROCESSES = 50
ALERT_MISSING_RATE = 0.05


def routing_keys(item_codes: np.ndarray, process_codes: np.ndarray) -> np.ndarray:
    """One integer per item identifying its ordered process sequence (rows sorted by item, seq).

    Two 64-bit polynomial hashes over the factorised process codes make collisions
    negligible without building a Python string per item.
    """
    n_items = int(item_codes.max()) + 1 if len(item_codes) else 0
    start = np.r_[0, np.flatnonzero(np.diff(item_codes)) + 1]
    pos = np.arange(len(item_codes)) - np.repeat(start, np.diff(np.r_[start, len(item_codes)]))
    with np.errstate(over="ignore"):
        p = process_codes.astype(np.uint64) + np.uint64(1)
        keys = np.zeros(n_items, dtype=np.uint64)
        for base in (np.uint64(1_000_003), np.uint64(998_244_353)):
            powers = _powers(base, int(pos.max()) + 1 if len(pos) else 1)
            h = np.zeros(n_items, dtype=np.uint64)
            np.add.at(h, item_codes, p * powers[pos])
            keys = keys * np.uint64(0x9E3779B97F4A7C15) ^ h
        lengths = np.bincount(item_codes, minlength=n_items).astype(np.uint64)
        return keys ^ (lengths * np.uint64(0xBF58476D1CE4E5B9))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.ones(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(1, n):
            out[i] = out[i - 1] * base
    return out


def _items_without(values: pd.Series, item_codes: np.ndarray, n_items: int) -> float:
    """Share of items with no non-blank value in this column (on any of their rows)."""
    if not n_items:
        return 0.0
    present = values.notna().to_numpy(dtype=bool, na_value=False)
    have = np.bincount(item_codes[present], minlength=n_items)
    return float((have == 0).sum() / n_items)


def _missing(dataset: Dataset, item_codes: np.ndarray, n_items: int) -> tuple[dict, dict]:
    ops = dataset.ops
    n = len(ops)
    per_row = {c: blank_count(ops[c]) / n if n else 0.0 for c in ops.columns}
    missing = dict(per_row)
    for c in dataset.item_attributes:  # an item attribute is missing for an item with no value at all
        if c in ops and missing[c] > 0:
            missing[c] = _items_without(ops[c], item_codes, n_items)
    return missing, per_row


def missing_rates(dataset: Dataset) -> tuple[dict[str, float], dict[str, float]]:
    """(per item, per row) missing shares of every column: per item for an item attribute (items
    with no value on any of their rows; the row share elsewhere), per row for every column. The
    Upload and Dataset pages show both, from here."""
    item_codes = dataset.item_numbers()
    n_items = int(item_codes[-1]) + 1 if len(item_codes) else 0
    return _missing(dataset, item_codes, n_items)


def compute_stats(dataset: Dataset) -> dict:
    """All statistics of docs/design.md, 'Dataset statistics', as plain JSON-ready values."""
    ops = dataset.ops
    n = len(ops)
    item_codes = dataset.item_numbers()
    n_items = int(item_codes[-1]) + 1 if n else 0
    has_duration = DURATION in ops and bool(ops[DURATION].notna().any())
    durations = ops[DURATION].to_numpy(dtype="float64", na_value=np.nan) if has_duration else None
    # Two lanes: numpy's sorts and selections release the GIL, so the duration figures are
    # computed beside the routing figures.
    with ThreadPoolExecutor(max_workers=2) as pool:
        if has_duration:
            summaries = pool.submit(_duration_summaries, durations, item_codes, n_items)
        proc_codes, proc_uniques = pd.factorize(ops[PROCESS], sort=False)
        if has_duration:
            by_process = pool.submit(_by_group, durations, proc_codes, len(proc_uniques))
        lengths = np.bincount(item_codes, minlength=n_items)
        keys = routing_keys(item_codes, proc_codes)
        _, routing_counts = np.unique(keys, return_counts=True)
        length_values, length_counts = np.unique(lengths, return_counts=True)
        transitions = _transitions(item_codes, proc_codes, proc_uniques)
        missing, missing_rows = _missing(dataset, item_codes, n_items)
        duration_by_process = (
            {str(proc_uniques[code]): row for code, row in by_process.result().items()} if has_duration else {}
        )
        duration_summary, routing_duration_summary = summaries.result() if has_duration else (None, None)

    proc_freq = np.bincount(proc_codes, minlength=len(proc_uniques))
    order = np.argsort(-proc_freq, kind="stable")
    process_frequency = {str(proc_uniques[i]): int(proc_freq[i]) for i in order[:TOP_PROCESSES]}

    attributes = dataset.item_attributes + dataset.operation_attributes
    disagreeing = dataset.inconsistent_items
    duplicate_rows, duplicate_item_seq = duplicate_counts(ops, item_codes)

    alerts = []
    for col in sorted(missing, key=missing.get, reverse=True):
        if missing[col] >= ALERT_MISSING_RATE:
            per = "items" if col in dataset.item_attributes else "rows"
            alerts.append(f"{col}: {percent(missing[col])} of {per} missing")
    if duplicate_rows:
        alerts.append(f"{duplicate_rows:,} duplicate rows")
    if duplicate_item_seq:
        alerts.append(f"{duplicate_item_seq:,} rows repeat an ({ITEM}, {SEQ}) pair")
    for col, k in disagreeing.items():
        alerts.append(f"{col}: {k:,} items disagree between rows")
    single = int((lengths == 1).sum())
    if n_items and single / n_items > 0.2:
        alerts.append(f"{single / n_items:.0%} of items have a single-step routing")

    return {
        "stats_version": STATS_VERSION,
        "total_samples": n,
        "unique_items": n_items,
        "unique_processes": len(proc_uniques),
        "missing_item_code": missing.get(ITEM, 0.0),
        "missing_process_code": missing.get(PROCESS, 0.0),
        "missing_duration_min": missing.get(DURATION, 1.0) if has_duration else 1.0,
        "missing_rate": missing,
        "missing_rate_rows": missing_rows,
        "distinct_routings": int(len(routing_counts)),
        "most_common_routing_share": float(routing_counts.max() / n_items) if n_items else 0.0,
        "routing_length": {
            "distribution": {str(int(k)): int(v) for k, v in zip(length_values, length_counts, strict=True)},
            **(_summary(lengths) or {}),
        },
        "duration_min": duration_summary,
        "routing_duration_min": routing_duration_summary,
        "duration_by_process": duration_by_process,
        "process_frequency": process_frequency,
        "transitions": transitions,
        "duplicate_rows": duplicate_rows,
        "duplicate_item_seq": duplicate_item_seq,
        "inconsistent_items": {k: int(v) for k, v in disagreeing.items()},
        "item_attributes": list(dataset.item_attributes),
        "operation_attributes": list(dataset.operation_attributes),
        "attributes": attributes,
        "alerts": alerts,
    }


def _transitions(item_codes: np.ndarray, proc_codes: np.ndarray, proc_uniques: pd.Index) -> list[dict]:
    """The most frequent direct successions of one process by another within a routing."""
    same_item = item_codes[1:] == item_codes[:-1]
    a = proc_codes[:-1][same_item].astype(np.int64)
    b = proc_codes[1:][same_item].astype(np.int64)
    k = len(proc_uniques)
    pairs, pair_counts = np.unique(a * k + b, return_counts=True)
    top = np.argsort(-pair_counts, kind="stable")[:TOP_TRANSITIONS]
    return [
        {"from": str(proc_uniques[pairs[i] // k]), "to": str(proc_uniques[pairs[i] % k]), "count": int(pair_counts[i])}
        for i in top
    ]


def _duration_summaries(durations: np.ndarray, item_codes: np.ndarray, n_items: int) -> tuple[dict | None, dict | None]:
    """Summaries of the step durations and of the routings' total durations (blanks count 0)."""
    filled = ~np.isnan(durations)
    totals = np.bincount(item_codes[filled], weights=durations[filled], minlength=n_items)
    return _summary(durations[filled]), _summary(totals)


def _by_group(values: np.ndarray, groups: np.ndarray, n_groups: int) -> dict[int, dict]:
    """count, mean, median, min, max, std (ddof 1) of the non-blank values of each group."""
    filled = ~np.isnan(values)
    x, g = values[filled], groups[filled]
    # small integer codes sort by radix: the values of each group end up side by side
    x = x[np.argsort(g.astype(np.int16 if n_groups < 2**15 else np.int64), kind="stable")]
    bounds = np.r_[0, np.cumsum(np.bincount(g, minlength=n_groups))]
    out = {}
    for code in range(n_groups):
        part = x[bounds[code]:bounds[code + 1]]
        if not len(part):
            continue
        stats = {"count": len(part), "mean": part.mean(), "median": np.median(part), "min": part.min(),
                 "max": part.max(), "std": part.std(ddof=1) if len(part) > 1 else None}
        out[code] = {k: None if v is None else round(float(v), 4) for k, v in stats.items()}
    return out


def _summary(values: np.ndarray) -> dict | None:
    if len(values) == 0:
        return None
    q = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "count": int(len(values)),
        "mean": round(float(values.mean()), 4),
        "min": round(float(values.min()), 4),
        "p5": round(float(q[0]), 4),
        "p25": round(float(q[1]), 4),
        "median": round(float(q[2]), 4),
        "p75": round(float(q[3]), 4),
        "p95": round(float(q[4]), 4),
        "max": round(float(values.max()), 4),
    }
