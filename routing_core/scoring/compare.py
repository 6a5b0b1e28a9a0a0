"""Head-to-head comparison of model versions on the same labelled items.

Each version predicts the same items (its history ignored, as in the holdout evaluation); the
metrics are set side by side, each version's difference from the first in percentage points
with a 95 % paired-bootstrap interval over items, and a per-item table shows where the
versions' first candidates disagree and who was right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from routing_core.mapping.schema import ITEM
from routing_core.model.similarity import sequence_similarity
from routing_core.platform.errors import UserError
from routing_core.platform.formatting import number, points
from routing_core.scoring.evaluation import (
    TOP_KS,
    Routing,
    labelled_items,
    predict_rankings,
    score_routings,
    true_routings,
)

N_BOOT = 2000  # bootstrap resamples
BOOT_SEED = 0
LEVEL = 0.95
ARROW = " → "
# Per-item metrics (a mean over items, so a paired bootstrap over items applies), in table order.
PAIRED = ("routing_accuracy", "top_3_accuracy", "sequence_similarity")
# Whole-set metrics shown beside them without an interval.
SIDE = ("f1_weighted", "step_accuracy", "coverage")
LABELS = {
    "routing_accuracy": "routing accuracy",
    "top_3_accuracy": "top-3 accuracy",
    "sequence_similarity": "sequence similarity",
    "f1_weighted": "F1 (weighted)",
    "step_accuracy": "step accuracy",
    "coverage": "coverage",
}


@dataclass
class Comparison:
    """The outcome of comparing versions on one set of labelled items."""

    versions: list[str]
    source: str  # where the items come from, in words
    n_items: int
    metrics: pd.DataFrame  # one row per metric: metric, each version's value, differences and intervals
    per_item: pd.DataFrame  # one row per item: item, recorded routing, first candidates, right or not
    scores: dict[str, dict]  # each version's full metrics (evaluation.score_routings) on these items

    @property
    def disagreements(self) -> pd.DataFrame:
        """The items whose first candidates are not the same for every version."""
        return self.per_item[~self.per_item["agree"]].drop(columns="agree").reset_index(drop=True)


# ---------------------------------------------------------------- per-item scores and the bootstrap


def per_item_scores(truth: Sequence[Routing], ranked: Sequence[Sequence[Routing]]) -> dict[str, np.ndarray]:
    """Per item: first candidate exactly right (0/1), right among the first three (0/1), sequence
    similarity of the first candidate (0–1). Their means are the metrics of the same names."""
    top1, top3, sims = [], [], []
    for (t_proc, _), cands in zip(truth, ranked, strict=True):
        procs = [list(c[0]) for c in cands]
        first = procs[0] if procs else []
        top1.append(float(first == list(t_proc)))
        top3.append(float(any(p == list(t_proc) for p in procs[:3])))
        sims.append(sequence_similarity(first, t_proc))
    return {
        "routing_accuracy": np.asarray(top1, dtype=float),
        "top_3_accuracy": np.asarray(top3, dtype=float),
        "sequence_similarity": np.asarray(sims, dtype=float),
    }


def bootstrap_indices(n: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> np.ndarray:
    """(n_boot, n) item indices drawn with replacement, seeded: the same draws for every pair."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


# Indices drawn per block of resamples: the interval is the same as from one (n_boot, n) draw (the
# generator's stream is the same), in memory bounded by this many indices (16 MB) at any size.
BOOT_BLOCK_CELLS = 2_000_000


def bootstrap_means(d: np.ndarray, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> np.ndarray:
    """The mean of `d` over each of `n_boot` resamples of its items with replacement (seeded), drawn
    a block of resamples at a time: equal to `d[bootstrap_indices(len(d), n_boot, seed)].mean(axis=1)`
    without its n_boot × n matrix (320 MB at 20,000 items)."""
    n = len(d)
    rng = np.random.default_rng(seed)
    block = max(1, BOOT_BLOCK_CELLS // max(n, 1))
    out = np.empty(n_boot, dtype=float)
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        out[start:start + rows] = d[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                      level: float = LEVEL) -> tuple[float, float, float]:
    """(mean(b) − mean(a), low, high): the difference of two per-item scores of the same items and
    its paired-bootstrap interval (items resampled with replacement, both versions together;
    percentiles of the resampled differences)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired scores must be two 1-D arrays of the same length")
    if len(a) == 0:
        raise UserError("There are no items to compare on.")
    d = b - a
    boot = bootstrap_means(d, n_boot, seed)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    return float(d.mean()), float(low), float(high)


def verdict(reference: str, other: str, diff_pts: float | None, low: float | None, high: float | None,
            metric: str = "routing accuracy") -> str:
    """One line on a head-to-head difference (`other` − `reference`, in percentage points with its
    95 % interval): who is better and by how much, or that the items cannot tell them apart (the
    interval includes 0). Figures rounded as every page rounds them."""
    if diff_pts is None or low is None or high is None or any(v != v for v in (diff_pts, low, high)):
        return f"No interval for {metric}: the versions cannot be told apart on these items."
    if low <= 0.0 <= high:
        return (f"No difference the items can show in {metric} between {other} and {reference} "
                f"({points(diff_pts / 100, unit='points')}, 95 % interval {_pts(low)} to {_pts(high)}).")
    better, worse = (other, reference) if diff_pts > 0 else (reference, other)
    size, a, b = (diff_pts, low, high) if diff_pts > 0 else (-diff_pts, -high, -low)
    return (f"{better} is better than {worse} by {number(size, 1)} points of {metric}, "
            f"95 % interval {number(a, 1)}–{number(b, 1)}.")


def _pts(value: float) -> str:
    return points(value / 100, unit="").strip()


def verdicts(c: Comparison) -> list[str]:
    """The verdict of every version against the first on routing accuracy (one line each)."""
    row = c.metrics[c.metrics["metric"] == LABELS["routing_accuracy"]].iloc[0].to_dict()
    ref = c.versions[0]
    return [verdict(ref, n, row[f"{n} − {ref} (pts)"], row[f"{n} − {ref} 95% low"], row[f"{n} − {ref} 95% high"])
            for n in c.versions[1:]]


# ---------------------------------------------------------------- the comparison


def routing_text(processes: Sequence[str]) -> str:
    return ARROW.join(str(p) for p in processes) if len(processes) else "(none)"


def _who(names: Sequence[str], right: Sequence[bool]) -> str:
    winners = [n for n, r in zip(names, right, strict=True) if r]
    if not winners:
        return "neither" if len(names) == 2 else "none"
    if len(winners) == len(names):
        return "both" if len(names) == 2 else "all"
    return ", ".join(winners) + " only"


def compare_rankings(truth: Mapping[str, Routing], items: Sequence[str],
                     ranked: Mapping[str, Sequence[Sequence[Routing]]],
                     covered: Mapping[str, Sequence[bool]] | None = None,
                     source: str = "", n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> Comparison:
    """Compare the versions' ranked candidates (same item order) against the recorded routings."""
    names = list(ranked)
    if len(names) < 2:
        raise UserError("Select two or more versions to compare.")
    if not items:
        raise UserError("There are no labelled items to compare the versions on.")
    true = [truth[i] for i in items]
    scores = {n: score_routings(true, ranked[n], None if covered is None else covered[n]) for n in names}
    item_scores = {n: per_item_scores(true, ranked[n]) for n in names}
    ref = names[0]
    rows = []
    for key in (*PAIRED, *SIDE):
        row: dict = {"metric": LABELS[key]}
        for n in names:
            row[n] = scores[n].get(key)
        for n in names[1:]:
            col = f"{n} − {ref}"
            if key in PAIRED:
                diff, low, high = paired_difference(item_scores[ref][key], item_scores[n][key], n_boot, seed)
                row[f"{col} (pts)"] = 100.0 * diff
                row[f"{col} 95% low"] = 100.0 * low
                row[f"{col} 95% high"] = 100.0 * high
            else:
                a, b = scores[ref].get(key), scores[n].get(key)
                row[f"{col} (pts)"] = None if a is None or b is None else 100.0 * (b - a)
                row[f"{col} 95% low"] = None
                row[f"{col} 95% high"] = None
        rows.append(row)
    metrics = pd.DataFrame(rows)

    firsts = {n: [list(c[0][0]) if c else [] for c in ranked[n]] for n in names}
    table: dict[str, list] = {"item": list(items), "recorded routing": [routing_text(t[0]) for t in true]}
    right = {}
    for n in names:
        table[f"{n}: first candidate"] = [routing_text(f) for f in firsts[n]]
        right[n] = [f == list(t[0]) for f, t in zip(firsts[n], true, strict=True)]
        table[f"{n} right"] = right[n]
    table["who was right"] = [_who(names, [right[n][i] for n in names]) for i in range(len(items))]
    table["agree"] = [all(firsts[n][i] == firsts[ref][i] for n in names) for i in range(len(items))]
    per_item = pd.DataFrame(table)
    return Comparison(names, source, len(items), metrics, per_item, scores)


def compare_models(models: Mapping[str, object], ops: pd.DataFrame, source: str = "",
                   ignore_history: bool = True, n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                   progress: Callable[[float, str], None] | None = None) -> Comparison:
    """Predict the items of a labelled operations table with each model and compare them."""
    truth = true_routings(ops)
    items = labelled_items(ops)
    ranked, covered = {}, {}
    for i, (name, model) in enumerate(models.items()):
        if progress is not None:
            progress(i / max(len(models), 1), f"Predicting with {name}")
        ranked[name], covered[name] = predict_rankings(model, items, max(TOP_KS), ignore_history)
    if progress is not None:
        progress(1.0, "Comparing")
    return compare_rankings(truth, [str(c) for c in items[ITEM]], ranked, covered, source, n_boot, seed)


# ---------------------------------------------------------------- items none of the versions trained on


def training_items(ops: pd.DataFrame, test_size: float, seed: int, refit: bool,
                   split: Mapping | None = None) -> set[str]:
    """The item codes a version's published model learned from, recomputed from its recorded split
    (`split`: random by seed or the newest items by a date; all items when it was refitted on the
    whole dataset)."""
    from routing_core.scoring.holdout import split_ops

    codes = ops[ITEM].astype("str")
    if refit:
        return set(codes.unique().tolist())
    train, _, _ = split_ops(ops, test_size, seed, split)
    return set(train[ITEM].astype("str").unique().tolist())


def recorded_split(params: Mapping, metrics: Mapping | None) -> tuple[float, int, bool]:
    """(test_size, seed, refit) as a version's parameters and metrics record them."""
    metrics = metrics or {}
    test_size = params.get("test_size", metrics.get("test_size"))
    seed = params.get("seed", metrics.get("seed"))
    if test_size is None or seed is None:
        raise UserError("The version does not record its train/test split.")
    return float(test_size), int(seed), bool(params.get("refit", True))


def unseen_ops(ops: pd.DataFrame, trained: Mapping[str, set[str]]) -> tuple[pd.DataFrame, str]:
    """The operations of the items no version trained on, and a sentence saying how many are left."""
    seen = set().union(*trained.values()) if trained else set()
    keep = ~ops[ITEM].astype("str").isin(seen)
    n_all = int(ops[ITEM].nunique())
    out = ops[keep.to_numpy()].reset_index(drop=True)
    n_left = int(out[ITEM].nunique())
    note = f"{n_left:,} of the dataset's {n_all:,} items were not used to train any of the selected versions"
    if n_left == 0:
        raise UserError(
            f"Every one of the dataset's {n_all:,} items was used to train at least one of the selected "
            "versions (versions refitted on a dataset learn from all its items), so there is nothing "
            "fair left to compare on. Compare them on a shared holdout of the dataset (each fitted again on the "
            "same items) or on a labelled file the versions have not seen instead."
        )
    return out, note


def split_differences(infos: Sequence) -> list[str]:
    """Sentences on how the versions' own holdouts differ (dataset, test share or seed), or []."""
    facts = []
    for info in infos:
        params = info.params or {}
        metrics = info.metrics or {}
        split = metrics.get("split") or {}
        facts.append((info.name, (info.dataset or {}).get("name"), (info.dataset or {}).get("sha256"),
                      params.get("test_size", metrics.get("test_size")),
                      params.get("seed", metrics.get("seed")) if split.get("kind") != "newest"
                      else f"newest by {split.get('date_column')}"))
    out = []
    if len({(f[1], f[2]) for f in facts}) > 1:
        out.append("They were trained on different datasets: "
                   + "; ".join(f"{f[0]} on {f[1]}" for f in facts) + ".")
    elif len({(f[3], f[4]) for f in facts}) > 1:
        out.append("They held out different test items (test share / seed: "
                   + "; ".join(f"{f[0]} {f[3]} / {f[4]}" for f in facts) + ").")
    return out


# A labelled file whose rows' process codes are known to the versions at less than this share is
# not read the way they were trained (another mapping, another plant): no score is fair.
MIN_KNOWN_SHARE = 0.2


def _known_share(codes: pd.Series, vocabulary: set[str]) -> tuple[float, int]:
    """(share of the rows whose code is in `vocabulary`, distinct codes in it)."""
    distinct = codes.unique()
    return (float(codes.isin(vocabulary).mean()) if len(codes) else 0.0,
            int(np.isin(distinct, list(vocabulary)).sum()))


def vocabulary_overlap(ops: pd.DataFrame, models: Mapping[str, object]) -> str | None:
    """None when the versions together know the labelled rows' process codes; else why no score
    would mean anything, in words (said before any score is shown)."""
    codes = ops["process_code"].astype("str")
    vocabulary = {str(p) for m in models.values() for p in (getattr(m, "processes_", ()) or ())}
    if not vocabulary:
        return None
    share, shared = _known_share(codes, vocabulary)
    if share >= MIN_KNOWN_SHARE:
        return None
    distinct = codes.unique()
    examples = ", ".join(str(c) for c in distinct[:5]) + (" …" if len(distinct) > 5 else "")
    whom = f"version {next(iter(models))}" if len(models) == 1 else "the versions"
    return (f"The file's process codes share almost nothing with what {whom} learned: {shared:,} of its "
            f"{len(distinct):,} codes ({examples}) and {share:.0%} of its rows are known. Its columns are "
            "probably mapped differently (is the process code column the right one?) or it comes from "
            "another plant; no score would mean anything.")


def unknown_to(ops: pd.DataFrame, models: Mapping[str, object]) -> list[str]:
    """The versions that know hardly any of the labelled rows' process codes (the others do):
    each scores near zero on this file for that reason alone."""
    codes = ops["process_code"].astype("str")
    return [name for name, model in models.items()
            if (vocab := {str(p) for p in (getattr(model, "processes_", ()) or ())})
            and _known_share(codes, vocab)[0] < MIN_KNOWN_SHARE]
