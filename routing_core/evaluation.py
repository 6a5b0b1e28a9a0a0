"""Holdout evaluation of a routing model and the baselines it must beat (DESIGN §5)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from routing_core.errors import UserError
from routing_core.features import ItemFeaturizer, attribute_codes, mutual_information
from routing_core.schema import DURATION, ITEM, PROCESS, SEQ

PAD = "<none>"
TOP_KS = (1, 3, 5)
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


# ---------------------------------------------------------------- metric pieces


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance between two sequences (insert, delete, substitute cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def sequence_similarity(pred: Sequence, true: Sequence) -> float:
    """1 − Levenshtein(pred, true) / max(len): 1 for equal sequences, 0 for nothing in common."""
    longest = max(len(pred), len(true))
    return 1.0 if longest == 0 else 1.0 - levenshtein(pred, true) / longest


def aligned_steps(pred: Sequence[str], true: Sequence[str]) -> tuple[list[str], list[str]]:
    """Position-aligned step labels, the shorter side padded with <none>."""
    n = max(len(pred), len(true))
    return list(true) + [PAD] * (n - len(true)), list(pred) + [PAD] * (n - len(pred))


def true_routings(ops: pd.DataFrame) -> dict[str, Routing]:
    """item_code -> (process codes in seq order, durations) from a labelled operations table."""
    ops = ops.sort_values([ITEM, SEQ], kind="stable") if SEQ in ops else ops
    dur = ops[DURATION] if DURATION in ops else pd.Series(np.nan, index=ops.index)
    frame = pd.DataFrame({"i": ops[ITEM].astype("str").to_numpy(), "p": ops[PROCESS].astype("str").to_numpy(),
                          "d": pd.to_numeric(dur, errors="coerce").to_numpy()})
    out = {}
    for code, g in frame.groupby("i", sort=False):
        out[str(code)] = (g["p"].tolist(), [None if np.isnan(x) else float(x) for x in g["d"]])
    return out


def score_routings(
    truth: Sequence[Routing],
    ranked: Sequence[Sequence[Routing]],
    covered: Sequence[bool] | None = None,
) -> dict:
    """DESIGN §5 metrics from true routings and each item's ranked predicted routings."""
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


def routing_metrics(model, test_ops: pd.DataFrame, top_k: int = 5, ignore_history: bool = True,
                    batch_size: int = 5000) -> dict:
    """DESIGN §5 model metrics on a labelled operations table (history ignored by default)."""
    truth = true_routings(test_ops)
    items = test_ops.groupby(test_ops[ITEM].astype("str"), sort=False).first()
    items.index.name = ITEM
    items = items.drop(columns=[c for c in (PROCESS, SEQ, DURATION) if c in items]).reset_index()
    ranked, covered = [], []
    threshold = float(getattr(model, "similarity_threshold", 0.8))
    for start in range(0, len(items), batch_size):
        preds = model.predict(items.iloc[start : start + batch_size], top_k=max(top_k, max(TOP_KS)),
                              ignore_history=ignore_history)
        for p in preds:
            ranked.append([(c.processes, [s.duration_min for s in c.steps]) for c in p.candidates])
            top = p.candidates[0]
            best = max((s for _, s in top.references), default=0.0)
            covered.append(not p.fallback and best >= threshold)
    codes = items[ITEM].tolist()
    return score_routings([truth[c] for c in codes], ranked, covered)


# ---------------------------------------------------------------- baselines


def _item_routings(ops: pd.DataFrame) -> tuple[list[str], list[tuple[str, ...]]]:
    r = true_routings(ops)
    return list(r), [tuple(v[0]) for v in r.values()]


def _process_medians(ops: pd.DataFrame) -> dict[str, float]:
    if DURATION not in ops:
        return {}
    med = pd.to_numeric(ops[DURATION], errors="coerce").groupby(ops[PROCESS].astype("str")).median()
    return {str(k): float(v) for k, v in med.items() if not np.isnan(v)}


def _with_times(routing: tuple[str, ...], medians: dict[str, float]) -> Routing:
    return list(routing), [medians.get(p) for p in routing]


class MostFrequentBaseline:
    """The k most frequent routings overall, for every item."""

    name = "most_frequent"

    def fit(self, train_ops: pd.DataFrame, item_attributes: list[str]) -> MostFrequentBaseline:
        _, routings = _item_routings(train_ops)
        self.medians_ = _process_medians(train_ops)
        self.ranked_ = [r for r, _ in Counter(routings).most_common(max(TOP_KS))]
        return self

    def predict(self, items: pd.DataFrame) -> list[list[Routing]]:
        cands = [_with_times(r, self.medians_) for r in self.ranked_]
        return [cands for _ in range(len(items))]


class BestAttributeBaseline:
    """The most frequent routings per value of the single most informative item attribute."""

    name = "best_attribute"

    def fit(self, train_ops: pd.DataFrame, item_attributes: list[str]) -> BestAttributeBaseline:
        codes, routings = _item_routings(train_ops)
        items = train_ops.groupby(train_ops[ITEM].astype("str"), sort=False)[item_attributes].first()
        items = items.reindex(codes)
        self.medians_ = _process_medians(train_ops)
        self.overall_ = [r for r, _ in Counter(routings).most_common(max(TOP_KS))]
        y = pd.factorize(pd.Series(routings, dtype=object))[0]
        best, best_info = None, -1.0
        for col in item_attributes:
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

    def fit(self, train_ops: pd.DataFrame, item_attributes: list[str]) -> NeighbourVoteBaseline:
        codes, routings = _item_routings(train_ops)
        items = train_ops.groupby(train_ops[ITEM].astype("str"), sort=False)[item_attributes].first()
        items = items.reindex(codes)
        items.index.name = ITEM
        items = items.reset_index()
        self.featurizer_ = ItemFeaturizer(item_attributes, use_code=False, weighting=False, min_frequency=1).fit(items)
        X = self.featurizer_.transform(items)
        self.X_ = _unit(X)
        self.routings_ = routings
        self.medians_ = _process_medians(train_ops)
        self.overall_ = [r for r, _ in Counter(routings).most_common(max(TOP_KS))]
        # Durations of each training item, to average over the voters.
        self.durations_ = [t[1] for t in true_routings(train_ops).values()]
        return self

    def predict(self, items: pd.DataFrame) -> list[list[Routing]]:
        q = _unit(self.featurizer_.transform(items))
        idx, sims = top_k_cosine(q, self.X_, self.n_neighbors)
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


def top_k_cosine(q: np.ndarray, X: np.ndarray, k: int, block_cells: int = 16_000_000
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows of X by dot product with each row of q (best first; -1 pads).

    Brute force in blocks (memory stays bounded); a column sample gives each query a lower
    bound of its k-th best score, so only the few scores above it are sorted.
    """
    n_q, n = len(q), len(X)
    k = max(1, min(k, n))
    idx = np.full((n_q, k), -1, dtype=np.int64)
    sim = np.zeros((n_q, k), dtype=np.float32)
    sample = np.random.default_rng(0).choice(n, size=min(n, max(64 * k, 2048)), replace=False)
    chunk = max(1, block_cells // max(n, 1))
    for a in range(0, n_q, chunk):
        block = q[a : a + chunk] @ X.T
        if len(sample) < n:
            bound = np.partition(block[:, sample], len(sample) - k, axis=1)[:, len(sample) - k]
            r, c = np.nonzero(block >= bound[:, None])
        else:
            r, c = np.nonzero(np.ones_like(block, dtype=bool))
        v = block[r, c]
        order = np.lexsort((c, -v, r))
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


def baseline_metrics(train_ops: pd.DataFrame, test_ops: pd.DataFrame, item_attributes: list[str]) -> dict:
    """The same metrics for each baseline, fitted on train_ops and scored on test_ops."""
    truth = true_routings(test_ops)
    codes = list(truth)
    cols = [c for c in item_attributes if c in test_ops]
    items = test_ops.groupby(test_ops[ITEM].astype("str"), sort=False)[cols].first().reindex(codes)
    items.index.name = ITEM
    items = items.reset_index()
    out = {}
    for cls in BASELINES:
        base = cls().fit(train_ops, [c for c in item_attributes if c in train_ops])
        metrics = score_routings([truth[c] for c in codes], base.predict(items))
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
) -> dict:
    """Model metrics on the holdout (fitting the model on train_ops if it is not fitted) + baselines."""
    progress = progress or (lambda f, m: None)
    timings = {}
    if not hasattr(model, "n_items_"):
        progress(0.0, "Training the model")
        t0 = time.perf_counter()
        model.fit(train_ops, item_attributes=item_attributes)
        timings["training_duration_sec"] = round(time.perf_counter() - t0, 3)
    if item_attributes is None:
        item_attributes = list(model.item_attributes_)
    progress(0.5, "Scoring the holdout")
    t0 = time.perf_counter()
    metrics = routing_metrics(model, test_ops, top_k=max(TOP_KS), ignore_history=True)
    timings["evaluation_duration_sec"] = round(time.perf_counter() - t0, 3)
    progress(0.8, "Scoring the baselines")
    metrics["baselines"] = baseline_metrics(train_ops, test_ops, item_attributes)
    lift = {name: round(metrics["routing_accuracy"] - b["routing_accuracy"], 6)
            for name, b in metrics["baselines"].items()}
    best = max(metrics["baselines"], key=lambda k: metrics["baselines"][k]["routing_accuracy"])
    metrics["lift"] = lift
    metrics["best_baseline"] = best
    metrics["lift_over_best"] = lift[best]
    metrics["beats_baseline"] = bool(lift[best] > 0)
    metrics["training_samples"] = int(len(train_ops))
    metrics["training_items"] = int(train_ops[ITEM].nunique())
    metrics.update(timings)
    progress(1.0, "Evaluation done")
    return metrics
