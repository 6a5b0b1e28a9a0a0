"""A plain scikit-learn reference for the routing model: what a careful analyst would build first.

It reads a canonical operations table (item_code, process_code, seq, duration_min, attributes)
and knows nothing else about the data. Which column is what, by one rule each, decided on the
training operations (the item code, process, sequence and duration are never features):

- an **item attribute** holds at most one distinct non-blank value in at least 95 % of the
  items; other columns vary within items (work centers, ...) and are left out;
- **numeric** when the reader gave it a number dtype (digits kept as text, such as codes with
  leading zeros, are not numbers): the median fills blanks (``SimpleImputer``), the value is
  passed through;
- **text** when its non-blank cells hold two words or more on average (split on white space):
  a binary bag of words (``CountVectorizer(binary=True)``, lower case, its default tokens);
- **categorical** otherwise: ``OneHotEncoder(handle_unknown="ignore", min_frequency=5)`` with
  a blank as its own value.

A ``RandomForestClassifier`` (one multi-output forest) learns which steps an item has; a
process the n-th time in one routing is its own step (``AOI#2``). Candidates for top-k are the
distinct training routings, scored by the joint probability of their step sets under the forest
(steps taken as independent; equal sets ranked by how often they occur), plus the predicted set
itself (the steps with probability 0.5 or more) when it is no training routing's set, its steps
ordered by their mean position in the training routings. Times are each process's median.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.scoring.evaluation import (
    TOP_KS,
    Routing,
    labelled_items,
    score_routings,
    true_routings,
)

ITEM_SHARE = 0.95  # share of items a column must be constant in to be an item attribute
TEXT_WORDS = 2.0  # mean words per non-blank cell from which a column is text
BLANK = "<blank>"
P_CLIP = 1e-3


def column_kinds(ops: pd.DataFrame) -> dict[str, str]:
    """{column: "numeric" | "text" | "categorical"} for the item attributes of an operations table."""
    kinds: dict[str, str] = {}
    items = ops[ITEM].astype("str")
    for col in ops.columns:
        if col in (ITEM, PROCESS, SEQ, DURATION):
            continue
        values = ops[col]
        if values.notna().sum() == 0 or values.groupby(items).nunique().le(1).mean() < ITEM_SHARE:
            continue
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            kinds[col] = "numeric"
        elif values.dropna().astype("str").str.split().str.len().mean() >= TEXT_WORDS:
            kinds[col] = "text"
        else:
            kinds[col] = "categorical"
    return kinds


def _as_numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _as_labels(frame: pd.DataFrame) -> np.ndarray:
    return frame.astype(object).where(frame.notna(), BLANK).astype("str").to_numpy(dtype=object)


def _as_text(column: pd.Series) -> np.ndarray:
    return column.astype(object).where(column.notna(), "").astype("str").to_numpy(dtype=object)


class ReferencePipeline:
    """Bag of words + one-hot + numbers, a multi-output random forest on step presence, and
    training routings ranked by the joint probability of their steps."""

    def __init__(self, n_estimators: int = 200, min_frequency: int = 5, random_state: int = 0,
                 n_jobs: int | None = None) -> None:
        self.n_estimators = n_estimators
        self.min_frequency = min_frequency
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _transformer(self) -> ColumnTransformer:
        parts = []
        for col, kind in self.kinds_.items():
            if kind == "numeric":
                parts.append((f"num:{col}", make_pipeline(FunctionTransformer(_as_numbers),
                                                          SimpleImputer(strategy="median",
                                                                        keep_empty_features=True)), [col]))
            elif kind == "text":
                parts.append((f"text:{col}", make_pipeline(FunctionTransformer(_as_text),
                                                           CountVectorizer(binary=True)), col))
            else:
                parts.append((f"cat:{col}", make_pipeline(
                    FunctionTransformer(_as_labels),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=self.min_frequency)), [col]))
        return ColumnTransformer(parts, remainder="drop")

    def fit(self, ops: pd.DataFrame) -> ReferencePipeline:
        self.kinds_ = column_kinds(ops)
        truth = true_routings(ops)
        items = labelled_items(ops).set_index(ITEM).loc[list(truth)].reset_index()
        routings = [tuple(t[0]) for t in truth.values()]
        # steps: a process the n-th time in a routing is its own step
        steps = [tuple(_tokens(r)) for r in routings]
        self.tokens_ = sorted({t for s in steps for t in s})
        index = {t: i for i, t in enumerate(self.tokens_)}
        Y = np.zeros((len(steps), len(self.tokens_)), dtype=np.int8)
        position = np.zeros(len(self.tokens_))
        for i, s in enumerate(steps):
            for j, t in enumerate(s):
                Y[i, index[t]] = 1
                position[index[t]] += j
        self.position_ = position / np.maximum(Y.sum(axis=0), 1)
        self.varied_ = np.flatnonzero((Y.min(axis=0) == 0) & (Y.max(axis=0) == 1))
        self.constant_ = Y.mean(axis=0)  # 1.0 for a step every routing has
        self.transformer_ = self._transformer()
        X = self.transformer_.fit_transform(items)
        self.forest_ = None
        if len(self.varied_):
            self.forest_ = RandomForestClassifier(n_estimators=self.n_estimators, random_state=self.random_state,
                                                  n_jobs=self.n_jobs)
            self.forest_.fit(X, Y[:, self.varied_])
        counts = Counter(routings)
        self.routings_ = list(counts)
        self.counts_ = np.array([counts[r] for r in self.routings_], dtype=float)
        self.sets_ = {frozenset(_tokens(r)): None for r in self.routings_}
        M = np.zeros((len(self.routings_), len(self.tokens_)))
        for i, r in enumerate(self.routings_):
            M[i, [index[t] for t in _tokens(r)]] = 1.0
        self.members_ = M
        med = pd.to_numeric(ops[DURATION], errors="coerce").groupby(ops[PROCESS].astype("str")).median() \
            if DURATION in ops else pd.Series(dtype=float)
        self.medians_ = {str(k): float(v) for k, v in med.items() if v == v}
        return self

    def step_probabilities(self, items: pd.DataFrame) -> np.ndarray:
        """(items × steps) probability that each step is in the item's routing."""
        P = np.tile(self.constant_, (len(items), 1))
        if self.forest_ is not None:
            proba = self.forest_.predict_proba(self.transformer_.transform(items))
            proba = proba if isinstance(proba, list) else [proba]
            for k, (p, classes) in enumerate(zip(proba, self.forest_.classes_, strict=True)):
                col = list(classes).index(1) if 1 in classes else None
                P[:, self.varied_[k]] = p[:, col] if col is not None else 0.0
        return np.clip(P, P_CLIP, 1 - P_CLIP)

    def rank(self, items: pd.DataFrame, top_k: int = max(TOP_KS)) -> list[list[Routing]]:
        """Each item's ranked candidate routings (processes, median times)."""
        P = self.step_probabilities(items)
        log_p, log_q = np.log(P), np.log1p(-P)
        scores = log_q.sum(axis=1, keepdims=True) + (log_p - log_q) @ self.members_.T
        out = []
        for i in range(len(items)):
            order = np.lexsort((-self.counts_, -scores[i]))[:top_k]
            ranked = [(float(scores[i, j]), self.routings_[j]) for j in order]
            chosen = np.flatnonzero(P[i] >= 0.5)
            if frozenset(self.tokens_[j] for j in chosen) not in self.sets_:
                own = float(log_p[i, chosen].sum() + np.delete(log_q[i], chosen).sum())
                steps = [self.tokens_[j].split("#")[0] for j in chosen[np.argsort(self.position_[chosen], kind="stable")]]
                ranked = sorted([(own, tuple(steps)), *ranked], key=lambda x: -x[0])[:top_k]
            out.append([(list(r), [self.medians_.get(p) for p in r]) for _, r in ranked])
        return out


def _tokens(routing) -> list[str]:
    seen: Counter = Counter()
    out = []
    for p in routing:
        seen[p] += 1
        out.append(p if seen[p] == 1 else f"{p}#{seen[p]}")
    return out


def reference_metrics(train_ops: pd.DataFrame, test_ops: pd.DataFrame, **params) -> dict:
    """The routing metrics (``score_routings``) of the reference pipeline fitted on train_ops and
    scored on the items of test_ops."""
    model = ReferencePipeline(**params).fit(train_ops)
    truth = true_routings(test_ops)
    items = labelled_items(test_ops)
    metrics = score_routings([truth[c] for c in items[ITEM]], model.rank(items))
    metrics["columns"] = model.kinds_
    return metrics
