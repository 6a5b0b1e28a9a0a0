"""Holdout evaluation of a routing model and the baselines it must beat (docs/design.md, 'Evaluation')."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.model.config import FeatureConfig
from routing_core.model.features import ItemFeaturizer, attribute_codes, mutual_information
from routing_core.model.similarity import sequence_similarity
from routing_core.platform.errors import UserError

PAD = "<none>"
TOP_KS = (1, 3, 5)
EVALUATION_ITEMS = 20_000  # held-out items the model is scored on (a seeded sample when more)
BASELINE_ITEMS = 5000  # test items the baselines are scored on (a seeded sample when more)
Progress = Callable[[float, str], None]
# A routing as predicted: process codes in order, and the time of each step (None = unknown).
Routing = tuple[list[str], list[float | None]]


# ---------------------------------------------------------------- split


def split_items(ops: pd.DataFrame, test_size: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train_ops, test_ops): a seeded split by item, never by row."""
    if not 0.0 < test_size < 1.0:
        raise UserError(f"test_size must lie between 0 and 1 (exclusive), not {test_size}.")
    items = pd.unique(ops[ITEM])
    if len(items) < 2:
        raise UserError("At least two items are needed to hold some out for evaluation.")
    rng = np.random.default_rng(seed)
    n_test = min(max(1, int(round(test_size * len(items)))), len(items) - 1)
    test_items = set(np.asarray(items, dtype=object)[rng.permutation(len(items))[:n_test]].tolist())
    is_test = ops[ITEM].isin(test_items).to_numpy()
    return ops[~is_test].reset_index(drop=True), ops[is_test].reset_index(drop=True)


MIN_TEST_ITEMS = 20  # fewer held-out items than this: the metrics are said to be rough


def holdout_warning(test_items: int | float | None) -> str | None:
    """A plain sentence when the metrics rest on too few held-out items to mean much, else None."""
    if test_items is None or test_items >= MIN_TEST_ITEMS:
        return None
    n = int(test_items)
    step = 100.0 / n if n else 100.0
    return (f"The metrics rest on only {n} held-out item{'s' if n != 1 else ''} (fewer than "
            f"{MIN_TEST_ITEMS}): one item more or less right moves routing accuracy by {step:.0f} points. "
            "Treat them as rough; a larger dataset or test share gives figures to rely on.")


# ---------------------------------------------------------------- metric pieces


def aligned_steps(pred: Sequence[str], true: Sequence[str]) -> tuple[list[str], list[str]]:
    """Position-aligned step labels, the shorter side padded with <none>."""
    n = max(len(pred), len(true))
    return list(true) + [PAD] * (n - len(true)), list(pred) + [PAD] * (n - len(pred))


def true_routings(ops: pd.DataFrame) -> dict[str, Routing]:
    """item_code -> (process codes in seq order, durations) from a labelled operations table."""
    items = ops[ITEM].astype("str").to_numpy(dtype=object)
    codes, uniques = pd.factorize(items, sort=False)
    seq = pd.to_numeric(ops[SEQ], errors="coerce").to_numpy(dtype="float64", na_value=np.nan) \
        if SEQ in ops else np.zeros(len(ops))
    order = np.lexsort((np.arange(len(ops)), seq, codes))
    procs = ops[PROCESS].astype("str").to_numpy(dtype=object)[order]
    dur = pd.to_numeric(ops[DURATION], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)[order] \
        if DURATION in ops else np.full(len(ops), np.nan)
    sorted_codes = codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    dur_l = [None if d != d else float(d) for d in dur.tolist()]
    proc_l = procs.tolist()
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(ops)]
    names = [str(uniques[c]) for c in sorted_codes[starts].tolist()] if len(ops) else []
    return {
        name: (proc_l[a:b], dur_l[a:b]) for name, a, b in zip(names, starts, ends, strict=True)
    }


def score_routings(
    truth: Sequence[Routing],
    ranked: Sequence[Sequence[Routing]],
    covered: Sequence[bool] | None = None,
) -> dict:
    """The metrics of docs/design.md, 'Evaluation', from true routings and each item's ranked predicted routings."""
    n = len(truth)
    if n == 0:
        raise UserError("There are no items to evaluate.")
    top1_hits, sims = [], []
    hits = {k: [] for k in TOP_KS}
    y_true: list[str] = []
    y_pred: list[str] = []
    abs_err: list[float] = []
    pct_err: list[float] = []
    for (t_proc, t_dur), cands in zip(truth, ranked, strict=True):
        procs = [list(c[0]) for c in cands]
        for k in TOP_KS:
            hits[k].append(any(p == t_proc for p in procs[:k]))
        p_proc, p_dur = (list(cands[0][0]), list(cands[0][1])) if cands else ([], [])
        top1_hits.append(p_proc == t_proc)
        sims.append(sequence_similarity(p_proc, t_proc))
        a, b = aligned_steps(p_proc, t_proc)
        y_true.extend(a)
        y_pred.extend(b)
        for j in range(min(len(p_proc), len(t_proc))):
            if p_proc[j] != t_proc[j] or p_dur[j] is None or t_dur[j] is None:
                continue
            err = abs(float(p_dur[j]) - float(t_dur[j]))
            abs_err.append(err)
            if t_dur[j] > 0:
                pct_err.append(err / float(t_dur[j]))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    out = {
        "routing_accuracy": float(np.mean(top1_hits)),
        **{f"top_{k}_accuracy": float(np.mean(hits[k])) for k in TOP_KS},
        "sequence_similarity": float(np.mean(sims)),
        "step_accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_weighted": float(precision),
        "recall_weighted": float(recall),
        "f1_weighted": float(f1),
        "sample_count": len(y_true),
        "test_items": n,
        "duration_mae_min": float(np.mean(abs_err)) if abs_err else None,
        "duration_mape": float(np.mean(pct_err)) if pct_err else None,
        "duration_mdape": float(np.median(pct_err)) if pct_err else None,
        "duration_steps": len(abs_err),
    }
    if covered is not None:
        out["coverage"] = float(np.mean(covered))
    return out


# ---------------------------------------------------------------- model metrics


def labelled_items(test_ops: pd.DataFrame) -> pd.DataFrame:
    """One row per test item: item_code and its attributes (first non-blank value of each)."""
    items = test_ops.groupby(test_ops[ITEM].astype("str"), sort=False).first()
    items.index.name = ITEM
    return items.drop(columns=[c for c in (PROCESS, SEQ, DURATION) if c in items]).reset_index()


def predict_rankings(model, items: pd.DataFrame, top_k: int = 5, ignore_history: bool = True,
                     batch_size: int = 5000, progress: Progress | None = None
                     ) -> tuple[list[list[Routing]], list[bool]]:
    """Each item's ranked candidate routings (processes, times) and whether it is covered (its top
    candidate clears the model's similarity threshold)."""
    ranked, covered = [], []
    threshold = float(getattr(model, "similarity_threshold", 0.8))
    for start in range(0, len(items), batch_size):
        preds = model.predict(items.iloc[start : start + batch_size], top_k=top_k,
                              ignore_history=ignore_history)
        for p in preds:
            ranked.append([(c.processes, [s.duration_min for s in c.steps]) for c in p.candidates])
            top = p.candidates[0]
            best = max((s for _, s in top.references), default=0.0)
            covered.append(not p.fallback and best >= threshold)
        if progress is not None:
            progress(min(1.0, (start + batch_size) / max(len(items), 1)), "Predicting the holdout")
    return ranked, covered


def routing_metrics(model, test_ops: pd.DataFrame, top_k: int = 5, ignore_history: bool = True,
                    batch_size: int = 5000) -> dict:
    """The model metrics of docs/design.md, 'Evaluation', on a labelled operations table (history ignored by default).

    This is also how a model is evaluated on a labelled file a user supplies.
    """
    truth = true_routings(test_ops)
    items = labelled_items(test_ops)
    ranked, covered = predict_rankings(model, items, max(top_k, max(TOP_KS)), ignore_history, batch_size)
    return score_routings([truth[c] for c in items[ITEM]], ranked, covered)


# ---------------------------------------------------------------- baselines


@dataclass
class TrainingView:
    """What the baselines learn from, computed once: each training item's routing, times and
    attributes, and the median time of each process."""

    codes: list[str]
    routings: list[tuple[str, ...]]
    durations: list[list[float | None]]
    items: pd.DataFrame  # one row per item (same order as codes), item_code + attributes
    medians: dict[str, float]


def training_view(train_ops: pd.DataFrame, item_attributes: list[str]) -> TrainingView:
    truth = true_routings(train_ops)
    codes = list(truth)
    cols = [c for c in item_attributes if c in train_ops]
    items = train_ops.groupby(train_ops[ITEM].astype("str"), sort=False)[cols].first().reindex(codes)
    items.index.name = ITEM
    medians: dict[str, float] = {}
    if DURATION in train_ops:
        med = pd.to_numeric(train_ops[DURATION], errors="coerce").groupby(train_ops[PROCESS].astype("str")).median()
        medians = {str(k): float(v) for k, v in med.items() if not np.isnan(v)}
    return TrainingView(codes, [tuple(v[0]) for v in truth.values()], [v[1] for v in truth.values()],
                        items.reset_index(), medians)


def _with_times(routing: tuple[str, ...], medians: dict[str, float]) -> Routing:
    return list(routing), [medians.get(p) for p in routing]


class MostFrequentBaseline:
    """The k most frequent routings overall, for every item."""

    name = "most_frequent"

    def fit(self, view: TrainingView) -> MostFrequentBaseline:
        self.medians_ = view.medians
        self.ranked_ = [r for r, _ in Counter(view.routings).most_common(max(TOP_KS))]
        return self

    def predict(self, items: pd.DataFrame) -> list[list[Routing]]:
        cands = [_with_times(r, self.medians_) for r in self.ranked_]
        return [cands for _ in range(len(items))]


class BestAttributeBaseline:
    """The most frequent routings per value of the single most informative item attribute."""

    name = "best_attribute"

    def fit(self, view: TrainingView) -> BestAttributeBaseline:
        items, routings = view.items, view.routings
        self.medians_ = view.medians
        self.overall_ = [r for r, _ in Counter(routings).most_common(max(TOP_KS))]
        y = pd.factorize(pd.Series(routings, dtype=object))[0]
        best, best_info = None, -1.0
        for col in [c for c in items.columns if c != ITEM]:
            numeric = pd.api.types.is_numeric_dtype(items[col]) and not pd.api.types.is_bool_dtype(items[col])
            x = attribute_codes(items, col, numeric, 5)
            info = mutual_information(x, y)
            if info > best_info:
                best, best_info = col, info
        self.attribute_ = best
        self.table_: dict[object, list[tuple[str, ...]]] = {}
        self.edges_ = None
        if best is not None:
            keys = self._keys(items[best], fit=True)
            by_key: dict[object, Counter] = {}
            for k, r in zip(keys, routings, strict=True):
                by_key.setdefault(k, Counter())[r] += 1
            self.table_ = {k: [r for r, _ in c.most_common(max(TOP_KS))] for k, c in by_key.items()}
        return self

    def _keys(self, values: pd.Series, fit: bool = False) -> list[object]:
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric:
            v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            if fit:
                ok = v[~np.isnan(v)]
                self.edges_ = np.unique(np.quantile(ok, np.linspace(0, 1, 11)[1:-1])) if len(ok) else np.array([])
            bins = np.searchsorted(self.edges_, v, side="right")
            return [None if np.isnan(x) else int(b) for x, b in zip(v, bins, strict=True)]
        return [None if pd.isna(x) else str(x) for x in values]

    def predict(self, items: pd.DataFrame) -> list[list[Routing]]:
        if self.attribute_ is None or self.attribute_ not in items:
            keys = [None] * len(items)
        else:
            keys = self._keys(items[self.attribute_])
        return [[_with_times(r, self.medians_) for r in self.table_.get(k, self.overall_)] for k in keys]


class NeighbourVoteBaseline:
    """The prior system: cosine top-k neighbours over standardised attributes, threshold, vote."""

    name = "neighbour_vote"

    def __init__(self, n_neighbors: int = 10, threshold: float = 0.8) -> None:
        self.n_neighbors = n_neighbors
        self.threshold = threshold

    def fit(self, view: TrainingView) -> NeighbourVoteBaseline:
        attrs = [c for c in view.items.columns if c != ITEM]
        # Plain z-scores and one-hot categories, blanks imputed: no log scaling, no missing
        # indicators, no item code, no learned weights (the prior system had none of them).
        plain = FeatureConfig(weighting=False, min_frequency=1, log_skewed=False, missing_indicators=False,
                              read_text=False)
        self.featurizer_ = ItemFeaturizer(attrs, use_code=False, config=plain).fit(view.items)
        self.X_ = _unit(self.featurizer_.transform(view.items))
        self.routings_ = view.routings
        self.medians_ = view.medians
        self.overall_ = [r for r, _ in Counter(view.routings).most_common(max(TOP_KS))]
        self.durations_ = view.durations  # to average over the voters
        return self

    def predict(self, items: pd.DataFrame) -> list[list[Routing]]:
        q = _unit(self.featurizer_.transform(items))
        idx, sims = top_k_cosine(q, self.X_, self.n_neighbors, floor=self.threshold)
        out = []
        for row_idx, row_sim in zip(idx, sims, strict=True):
            votes: dict[tuple[str, ...], float] = {}
            voters: dict[tuple[str, ...], list[int]] = {}
            for i, sim in zip(row_idx.tolist(), row_sim.tolist(), strict=True):
                if i >= 0 and sim >= self.threshold:
                    r = self.routings_[i]
                    votes[r] = votes.get(r, 0.0) + sim
                    voters.setdefault(r, []).append(i)
            ranked = sorted(votes, key=lambda r: -votes[r])
            cands = []
            for j, r in enumerate(ranked[: max(TOP_KS)]):
                if j == 0:  # times of the top candidate: mean over its voters, step by step
                    times = np.array([[np.nan if x is None else x for x in self.durations_[i]]
                                      for i in voters[r]], dtype=float)
                    ok = ~np.isnan(times)
                    mean = np.where(ok.any(axis=0), np.nansum(times, axis=0) / np.maximum(ok.sum(axis=0), 1), np.nan)
                    cands.append((list(r), [None if np.isnan(x) else float(x) for x in mean]))
                else:
                    cands.append(_with_times(r, self.medians_))
            for r in self.overall_:
                if len(cands) >= max(TOP_KS):
                    break
                if r not in votes:
                    cands.append(_with_times(r, self.medians_))
            out.append(cands)
        return out


def top_k_cosine(q: np.ndarray, X: np.ndarray, k: int, floor: float = -np.inf,
                 block_cells: int = 16_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows of X by dot product with each row of q, among those scoring at least
    `floor` (best first; -1 pads).

    Brute force in blocks (memory stays bounded); a column sample gives each query a lower
    bound of its k-th best score, so only the few scores above it are sorted.
    """
    n_q, n = len(q), len(X)
    k = max(1, min(k, n))
    idx = np.full((n_q, k), -1, dtype=np.int64)
    sim = np.zeros((n_q, k), dtype=np.float32)
    sample = np.random.default_rng(0).choice(n, size=min(n, max(256 * k, 8192)), replace=False)
    chunk = max(1, block_cells // max(n, 1))
    # Buffers reused across blocks: fresh large arrays would page-fault on every block.
    buf = np.empty((min(chunk, n_q), n), dtype=np.float32)
    mask = np.empty((min(chunk, n_q), n), dtype=bool)
    XT = X.T
    for a in range(0, n_q, chunk):
        rows = q[a : a + chunk]
        block = buf[: len(rows)]
        np.matmul(rows, XT, out=block)
        hits = mask[: len(rows)]
        if len(sample) < n:
            bound = np.partition(block[:, sample], len(sample) - k, axis=1)[:, len(sample) - k]
            np.greater_equal(block, np.maximum(bound, floor)[:, None], out=hits)
        else:
            np.greater_equal(block, floor, out=hits)
        r, c = np.nonzero(hits)
        v = block[r, c]
        # r is ascending already; one float key orders each row's scores best first.
        order = np.argsort(r + (1.0 - v.astype(np.float64)) / 2.5, kind="stable")
        r, c, v = r[order], c[order], v[order]
        first = np.searchsorted(r, np.arange(len(block)))
        rank = np.arange(len(r)) - first[r]
        keep = rank < k
        idx[a + r[keep], rank[keep]] = c[keep]
        sim[a + r[keep], rank[keep]] = v[keep]
    return idx, sim


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1.0)).astype(np.float32)


BASELINES = (MostFrequentBaseline, BestAttributeBaseline, NeighbourVoteBaseline)


def baseline_metrics(train_ops: pd.DataFrame, test_ops: pd.DataFrame, item_attributes: list[str],
                     items: list[str] | None = None) -> dict:
    """The same metrics for each baseline, fitted on train_ops and scored on test_ops (or on the
    given test item codes only)."""
    view = training_view(train_ops, item_attributes)
    truth = true_routings(test_ops)
    codes = list(truth) if items is None else [c for c in items if c in truth]
    cols = [c for c in item_attributes if c in test_ops]
    frame = test_ops.groupby(test_ops[ITEM].astype("str"), sort=False)[cols].first().reindex(codes)
    frame.index.name = ITEM
    frame = frame.reset_index()
    out = {}
    for cls in BASELINES:
        base = cls().fit(view)
        metrics = score_routings([truth[c] for c in codes], base.predict(frame))
        if isinstance(base, BestAttributeBaseline):
            metrics["attribute"] = base.attribute_
        out[base.name] = metrics
    return out


# ---------------------------------------------------------------- all together


def evaluate_model(
    model,
    train_ops: pd.DataFrame,
    test_ops: pd.DataFrame,
    item_attributes: list[str] | None = None,
    progress: Progress | None = None,
    baseline_items: int | None = BASELINE_ITEMS,
    seed: int = 0,
    evaluation_items: int | None = EVALUATION_ITEMS,
) -> dict:
    """Model metrics on the holdout (fitting the model on train_ops if it is not fitted), the
    baselines, and the model's lift over each.

    The baselines (the prior system's brute-force neighbour search is slow on big data) are
    scored on a seeded sample of at most `baseline_items` test items (None: all); the lift
    compares the model with them on that same sample. The model itself is scored on a seeded
    sample of at most `evaluation_items` test items (None: all): 20,000 items pin a top-1 share
    within about ±0.4 points (95 %), and answering every one of a big holdout would spend the
    training's time budget on evaluation.
    """
    progress = progress or (lambda f, m: None)
    timings = {}
    if not hasattr(model, "n_items_"):
        progress(0.0, "Training the model")
        t0 = time.perf_counter()
        model.fit(train_ops, item_attributes=item_attributes)
        timings["training_duration_sec"] = round(time.perf_counter() - t0, 3)
    if item_attributes is None:
        item_attributes = list(model.item_attributes_)
    t0 = time.perf_counter()
    truth = true_routings(test_ops)
    items = labelled_items(test_ops)
    held_out = len(items)
    if evaluation_items is not None and held_out > evaluation_items:
        keep = np.sort(np.random.default_rng(seed + 1).choice(held_out, evaluation_items, replace=False))
        items = items.iloc[keep].reset_index(drop=True)
    codes = items[ITEM].tolist()
    ranked, covered = predict_rankings(
        model, items, max(TOP_KS), True, progress=lambda f, m: progress(0.1 + 0.6 * f, m)
    )
    true_list = [truth[c] for c in codes]
    metrics = score_routings(true_list, ranked, covered)
    timings["evaluation_duration_sec"] = round(time.perf_counter() - t0, 3)

    progress(0.7, "Scoring the baselines")
    subset = np.arange(len(codes))
    if baseline_items is not None and len(codes) > baseline_items:
        subset = np.sort(np.random.default_rng(seed).choice(len(codes), baseline_items, replace=False))
    sub_codes = [codes[i] for i in subset]
    metrics["baselines"] = baseline_metrics(train_ops, test_ops, item_attributes, items=sub_codes)
    metrics["baseline_items"] = len(sub_codes)
    reference = metrics
    if len(sub_codes) < len(codes):
        reference = score_routings([true_list[i] for i in subset], [ranked[i] for i in subset],
                                   [covered[i] for i in subset])
        metrics["model_on_baseline_items"] = {k: reference[k] for k in ("routing_accuracy", "top_3_accuracy", "f1_weighted")}
    lift = {name: round(reference["routing_accuracy"] - b["routing_accuracy"], 6)
            for name, b in metrics["baselines"].items()}
    best = max(metrics["baselines"], key=lambda k: metrics["baselines"][k]["routing_accuracy"])
    metrics["lift"] = lift
    metrics["best_baseline"] = best
    metrics["lift_over_best"] = lift[best]
    metrics["beats_baseline"] = bool(lift[best] > 0)
    metrics["held_out_items"] = held_out
    metrics["evaluated_items"] = len(items)  # the metrics rest on these (all held-out items up to 20,000)
    metrics["training_samples"] = int(len(train_ops))
    metrics["training_items"] = int(train_ops[ITEM].nunique())
    metrics.update(timings)
    progress(1.0, "Evaluation done")
    return metrics
