"""The routing model: ranked candidate routings, with times, for items old and new (DESIGN §4)."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from routing_core.errors import UserError
from routing_core.features import ItemFeaturizer, attribute_codes, mutual_information
from routing_core.schema import DURATION, ITEM, PROCESS, SEQ

Progress = Callable[[float, str], None]
CANONICAL = (ITEM, PROCESS, SEQ, DURATION)
SEPARATOR = ">"


@dataclass
class Step:
    seq: int
    process_code: str
    duration_min: float | None
    duration_low: float | None
    duration_high: float | None
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass
class Candidate:
    rank: int
    score: float
    steps: list[Step]
    total_duration_min: float | None
    references: list[tuple[str, float]]
    kind: str  # "known" | "model" | "fallback"
    note: str = ""

    @property
    def processes(self) -> list[str]:
        return [s.process_code for s in self.steps]


@dataclass
class ItemPrediction:
    item_code: str
    candidates: list[Candidate]
    known: bool
    fallback: bool
    message: str = ""

    @property
    def best_similarity(self) -> float:
        """Similarity of the closest reference behind the top candidate (0 when there is none)."""
        top = self.candidates[0] if self.candidates else None
        return max((s for _, s in top.references), default=0.0) if top else 0.0


def _none_if_nan(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _quiet(fraction: float, message: str) -> None:
    return None


class RoutingModel(BaseEstimator):
    """Proposes ranked candidate routings for items from their attributes and item code.

    Learns from a canonical operations table: per-step presence (so new combinations of options
    compose routings never seen whole), whole routings of similar items, the learned order of
    steps, and per-step times and operation attributes from the most similar items.
    """

    def __init__(
        self,
        top_k: int = 5,
        similarity_threshold: float = 0.8,
        n_neighbors: int = 10,
        random_state: int = 0,
        use_item_code: bool = True,
        step_model: str = "auto",
    ) -> None:
        self.top_k = top_k
        self.similarity_threshold = similarity_threshold
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.use_item_code = use_item_code
        self.step_model = step_model

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        ops: pd.DataFrame,
        item_attributes: list[str] | None = None,
        operation_attributes: list[str] | None = None,
        progress: Progress | None = None,
    ) -> RoutingModel:
        """Learn from a canonical operations table (Dataset.ops)."""
        progress = progress or _quiet
        progress(0.0, "Preparing routings")
        ops = _check_ops(ops)
        item_attributes, operation_attributes = _attributes(ops, item_attributes, operation_attributes)
        self.item_attributes_ = item_attributes
        self.operation_attributes_ = operation_attributes

        item_idx, items = pd.factorize(ops[ITEM], sort=False)
        self.items_ = np.asarray(items, dtype=object)
        n_items = len(self.items_)
        self.n_items_ = n_items
        self.n_rows_ = len(ops)
        self.item_index_ = {code: i for i, code in enumerate(self.items_)}

        proc_idx, processes = pd.factorize(ops[PROCESS], sort=True)
        self.processes_ = [str(p) for p in processes]
        # Tokens: a process the n-th time in one routing is its own step ("INSPECT#2").
        occ = ops.groupby([item_idx, proc_idx], sort=False).cumcount().to_numpy()
        token_key = proc_idx.astype(np.int64) * 64 + np.minimum(occ, 63)
        tok_idx, tok_keys = pd.factorize(token_key, sort=True)
        self.token_process_ = (tok_keys // 64).astype(np.int64)
        self.token_occurrence_ = (tok_keys % 64).astype(np.int64)
        self.tokens_ = [
            self.processes_[p] + (f"#{o + 1}" if o else "")
            for p, o in zip(self.token_process_, self.token_occurrence_, strict=True)
        ]
        n_tokens = len(self.tokens_)

        counts = np.bincount(item_idx, minlength=n_items)
        self.item_ptr_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.row_token_ = tok_idx.astype(np.int32)
        self.row_process_ = proc_idx.astype(np.int32)
        self.row_duration_ = ops[DURATION].to_numpy(dtype="float64", na_value=np.nan) if DURATION in ops \
            else np.full(len(ops), np.nan)
        # ops are sorted by item then seq, so rows of an item are contiguous; factorize keeps
        # first-appearance order, which is the row order.
        self.op_values_: dict[str, list[object]] = {}
        self.row_op_: dict[str, np.ndarray] = {}
        for col in operation_attributes:
            codes, uniques = pd.factorize(ops[col], sort=False)
            self.op_values_[col] = [_plain(v) for v in uniques]
            self.row_op_[col] = codes.astype(np.int32)

        progress(0.1, "Routings and step order")
        signature = pd.Series(self.row_process_).groupby(item_idx, sort=False).agg(
            lambda s: tuple(s.tolist())
        )
        rid, routings = pd.factorize(signature.to_numpy(), sort=False)
        self.item_routing_ = rid.astype(np.int32)
        self.routings_ = [tuple(int(p) for p in r) for r in routings]
        self.routing_count_ = np.bincount(rid, minlength=len(self.routings_))
        self._fit_order(item_idx, tok_idx, counts)

        progress(0.2, "Item features")
        item_frame = self._item_frame(ops)
        y_sig = self.item_routing_
        self.featurizer_ = ItemFeaturizer(
            attributes=item_attributes, use_code=self.use_item_code
        ).fit(item_frame, y_sig)
        X = self.featurizer_.transform(item_frame)
        self.X_ = _normalise_rows(X)

        presence = np.zeros((n_items, n_tokens), dtype=bool)
        presence[item_idx, tok_idx] = True
        self.token_prior_ = presence.mean(axis=0)

        progress(0.4, "Step models")
        self._fit_step_models(item_frame, presence, progress)

        progress(0.85, "Times and fallback groups")
        self._fit_durations()
        self._fit_groups(item_frame)
        progress(1.0, "Done")
        return self

    def _routing_token_list(self, routing: tuple[int, ...]) -> list[int]:
        seen: Counter = Counter()
        toks = []
        for p in routing:
            toks.append(self.token_lookup_[(p, seen[p])])
            seen[p] += 1
        return toks

    def _fit_order(self, item_idx: np.ndarray, tok_idx: np.ndarray, counts: np.ndarray) -> None:
        """Mean relative position of each step, and how often step a comes before step b."""
        n_tokens = len(self.tokens_)
        self.token_lookup_ = {
            (int(p), int(o)): t
            for t, (p, o) in enumerate(zip(self.token_process_, self.token_occurrence_, strict=True))
        }
        self.routing_token_lists_ = [self._routing_token_list(r) for r in self.routings_]
        self.routing_tokens_ = [frozenset(t) for t in self.routing_token_lists_]
        # The most frequent order of each set of steps.
        by_set: dict[frozenset, int] = {}
        for r in np.argsort(-self.routing_count_, kind="stable"):
            by_set.setdefault(self.routing_tokens_[r], int(r))
        self.routing_by_set_ = by_set
        pos = np.arange(len(tok_idx)) - self.item_ptr_[item_idx]
        length = counts[item_idx]
        rel = np.where(length > 1, pos / np.maximum(length - 1, 1), 0.5)
        self.token_position_ = np.bincount(tok_idx, weights=rel, minlength=n_tokens) / np.maximum(
            np.bincount(tok_idx, minlength=n_tokens), 1
        )
        # Pairwise "before" counts, computed per distinct routing (weighted by its count).
        before = np.zeros((n_tokens, n_tokens), dtype=np.float64)
        for r, toks in enumerate(self.routing_token_lists_):
            t = np.asarray(toks)
            i, j = np.triu_indices(len(t), k=1)
            np.add.at(before, (t[i], t[j]), self.routing_count_[r])
        self.before_ = before

    def _item_frame(self, ops: pd.DataFrame) -> pd.DataFrame:
        cols = [c for c in self.item_attributes_ if c in ops]
        frame = ops.groupby(ITEM, sort=False)[cols].first()
        frame = frame.reindex(self.items_)
        frame.index.name = ITEM
        return frame.reset_index()

    def _fit_step_models(self, item_frame: pd.DataFrame, presence: np.ndarray, progress: Progress) -> None:
        """Per-step presence models (neighbour votes are used when there is none)."""
        self.step_models_: dict[int, object] = {}

    def _fit_durations(self) -> None:
        """Per step: overall median and p10–p90 of times, and most common operation attributes."""
        n_tokens = len(self.tokens_)
        d = self.row_duration_
        ok = ~np.isnan(d)
        self.token_duration_ = np.full((n_tokens, 3), np.nan)
        self.process_duration_ = np.full((len(self.processes_), 3), np.nan)
        if ok.any():
            frame = pd.DataFrame({"t": self.row_token_[ok], "p": self.row_process_[ok], "d": d[ok]})
            for key, target in (("t", self.token_duration_), ("p", self.process_duration_)):
                q = frame.groupby(key)["d"].quantile([0.5, 0.1, 0.9]).unstack()
                target[q.index.to_numpy()] = q[[0.5, 0.1, 0.9]].to_numpy()
        self.token_op_mode_: dict[str, np.ndarray] = {}
        for col, codes in self.row_op_.items():
            mode = np.full(n_tokens, -1, dtype=np.int64)
            has = codes >= 0
            if has.any():
                frame = pd.DataFrame({"t": self.row_token_[has], "v": codes[has]})
                top = frame.groupby(["t", "v"]).size().reset_index(name="n")
                top = top.sort_values(["t", "n"], ascending=[True, False]).drop_duplicates("t")
                mode[top["t"].to_numpy()] = top["v"].to_numpy()
            self.token_op_mode_[col] = mode

    def _fit_groups(self, item_frame: pd.DataFrame) -> None:
        """The fallback group: the categorical column that tells most about the routing."""
        raw = self.featurizer_._derived(item_frame)
        y = self.item_routing_
        best, best_info = None, 0.0
        for col in self.featurizer_.categorical_:
            x = attribute_codes(raw, col, False, 1)
            info = mutual_information(x, y)
            if info > best_info:
                best, best_info = col, info
        self.group_column_ = best
        self.top_routing_ = int(np.argmax(self.routing_count_))
        self.group_routing_: dict[str, tuple[int, int]] = {}
        if best is not None:
            values = raw[best].astype("str").where(raw[best].notna(), None)
            frame = pd.DataFrame({"g": values.to_numpy(), "r": y}).dropna()
            top = frame.groupby(["g", "r"]).size().reset_index(name="n")
            top = top.sort_values(["g", "n"], ascending=[True, False]).drop_duplicates("g")
            self.group_routing_ = {
                str(g): (int(r), int(n)) for g, r, n in top.itertuples(index=False)
            }

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RuntimeError("RoutingModel is not fitted yet; call fit() first.")

    def _query_frame(self, items: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(items, pd.DataFrame):
            raise UserError("Items to predict must be a table with an item_code column.")
        if ITEM not in items:
            raise UserError(f"The items to predict have no '{ITEM}' column.")
        frame = items.copy()
        frame[ITEM] = frame[ITEM].astype("str").str.strip()
        if frame[ITEM].duplicated().any():
            frame = frame.groupby(ITEM, sort=False).first().reset_index()
        return frame.reset_index(drop=True)

    def neighbors(self, items: pd.DataFrame, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, similarities) of the most similar training items, best first, per item."""
        self._check_fitted()
        q = _normalise_rows(self.featurizer_.transform(self._query_frame(items)))
        return self._neighbors(q, n_neighbors or self.n_neighbors)

    def _neighbors(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, self.n_items_))
        n = len(q)
        idx = np.zeros((n, k), dtype=np.int64)
        sim = np.zeros((n, k), dtype=np.float32)
        # Chunks keep the similarity block near 64 MB whatever the number of training items.
        chunk = max(1, int(16_000_000 // max(self.n_items_, 1)))
        for start in range(0, n, chunk):
            block = q[start : start + chunk] @ self.X_.T
            if k < block.shape[1]:
                part = np.argpartition(-block, k - 1, axis=1)[:, :k]
            else:
                part = np.tile(np.arange(block.shape[1]), (len(block), 1))
            vals = np.take_along_axis(block, part, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            idx[start : start + chunk] = np.take_along_axis(part, order, axis=1)
            sim[start : start + chunk] = np.take_along_axis(vals, order, axis=1)
        return idx, np.clip(sim, 0.0, 1.0)

    def _step_probabilities(self, frame: pd.DataFrame, nn_idx: np.ndarray, nn_sim: np.ndarray) -> np.ndarray:
        """Probability of each step token per item: similarity-weighted neighbour vote, smoothed."""
        n, k = nn_idx.shape
        n_tokens = len(self.tokens_)
        probs = np.zeros((n, n_tokens))
        w = nn_sim.astype(np.float64) + 1e-6
        for j in range(k):
            rows = nn_idx[:, j]
            for r_item, (i, weight) in enumerate(zip(rows, w[:, j], strict=True)):
                toks = self.row_token_[self.item_ptr_[i] : self.item_ptr_[i + 1]]
                probs[r_item, toks] += weight
        total = w.sum(axis=1, keepdims=True)
        alpha = 0.5
        return (probs + alpha * self.token_prior_) / (total + alpha)

    def predict(self, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False) -> list[ItemPrediction]:
        """Ranked candidate routings for each item (one row per item; long form accepted)."""
        self._check_fitted()
        top_k = int(top_k or self.top_k)
        frame = self._query_frame(items)
        if frame.empty:
            return []
        q = _normalise_rows(self.featurizer_.transform(frame))
        nn_idx, nn_sim = self._neighbors(q, self.n_neighbors)
        probs = self._step_probabilities(frame, nn_idx, nn_sim)
        group_values = None
        if self.group_column_ is not None:
            raw = self.featurizer_._derived(frame)
            group_values = raw[self.group_column_]
        out = []
        for i, code in enumerate(frame[ITEM].tolist()):
            g = None if group_values is None else group_values.iloc[i]
            out.append(
                self._predict_one(code, probs[i], nn_idx[i], nn_sim[i], g, top_k, ignore_history)
            )
        return out

    def _predict_one(self, code, probs, nn_idx, nn_sim, group, top_k, ignore_history) -> ItemPrediction:
        candidates: list[Candidate] = []
        known = not ignore_history and code in self.item_index_
        evidence = self._evidence(nn_idx, nn_sim)
        if known:
            candidates.append(self._known_candidate(self.item_index_[code]))
        scored = self._rank_sets(probs, nn_idx, nn_sim)
        best_sim = float(nn_sim[0]) if len(nn_sim) else 0.0
        fallback = not known and best_sim < self.similarity_threshold
        message = ""
        if fallback:
            fb = self._fallback_candidate(group, best_sim)
            candidates.append(fb)
            message = fb.note
            scale = fb.score
            scored = [(s * scale, toks, r) for s, toks, r in scored]
        seen = {tuple(c.processes) for c in candidates}
        for score, toks, routing in scored:
            if len(candidates) >= top_k:
                break
            steps_proc = [self.processes_[self.token_process_[t]] for t in toks]
            if tuple(steps_proc) in seen:
                continue
            seen.add(tuple(steps_proc))
            refs = self._references(toks, routing, nn_idx, nn_sim)
            candidates.append(self._candidate(toks, score, refs, evidence, "model", ""))
        for rank, c in enumerate(candidates, start=1):
            c.rank = rank
        if known:
            message = "Known item: candidate 1 is its routing in the training data."
        return ItemPrediction(str(code), candidates[:top_k], known, fallback, message)

    def _rank_sets(self, probs: np.ndarray, nn_idx: np.ndarray, nn_sim: np.ndarray) -> list[tuple[float, list[int], int | None]]:
        """Candidate step sets scored by their joint probability, each with its step order."""
        p = np.clip(probs, 1e-4, 1 - 1e-4)
        lp1, lp0 = np.log(p), np.log1p(-p)
        base = lp0.sum()
        gain = lp1 - lp0
        sets: dict[frozenset, float] = {}
        best = frozenset(np.flatnonzero(p >= 0.5).tolist())
        uncertain = np.argsort(np.abs(p - 0.5))[:5]
        proposals = [best]
        for t in uncertain:
            proposals.append(best ^ {int(t)})
        for a in range(len(uncertain)):
            for b in range(a + 1, len(uncertain)):
                proposals.append(best ^ {int(uncertain[a]), int(uncertain[b])})
        for i in nn_idx:
            proposals.append(self.routing_tokens_[self.item_routing_[i]])
        for s in proposals:
            if not s or s in sets or not self._consistent(s):
                continue
            sets[s] = float(np.exp(base + gain[list(s)].sum()))
        ranked = sorted(sets.items(), key=lambda kv: -kv[1])
        out = []
        for s, score in ranked[: max(self.top_k, 5) * 2]:
            routing = self.routing_by_set_.get(s)
            toks = self._order(s, routing)
            out.append((score, toks, routing))
        return out

    def _consistent(self, tokens: frozenset) -> bool:
        """A step's n-th occurrence needs its (n-1)-th."""
        for t in tokens:
            o = self.token_occurrence_[t]
            if o and self.token_lookup_.get((int(self.token_process_[t]), int(o) - 1)) not in tokens:
                return False
        return True

    def _order(self, tokens: frozenset, routing: int | None) -> list[int]:
        if routing is not None:
            return list(self.routing_token_lists_[routing])
        toks = list(tokens)
        wins = {t: 0.0 for t in toks}
        for a in toks:
            for b in toks:
                if a != b:
                    ab, ba = self.before_[a, b], self.before_[b, a]
                    if ab + ba > 0:
                        wins[a] += ab / (ab + ba)
                    else:
                        wins[a] += float(self.token_position_[a] < self.token_position_[b])
        ordered = sorted(toks, key=lambda t: (-wins[t], self.token_position_[t]))
        # Keep repeated processes in their occurrence order.
        by_proc: dict[int, list[int]] = {}
        for t in ordered:
            by_proc.setdefault(int(self.token_process_[t]), []).append(t)
        for p, lst in by_proc.items():
            by_proc[p] = sorted(lst, key=lambda t: self.token_occurrence_[t])
        cursor = {p: 0 for p in by_proc}
        out = []
        for t in ordered:
            p = int(self.token_process_[t])
            out.append(by_proc[p][cursor[p]])
            cursor[p] += 1
        return out

    def _evidence(self, nn_idx: np.ndarray, nn_sim: np.ndarray) -> dict[int, dict]:
        """Per step token: times and operation attribute values of the neighbours that have it."""
        ev: dict[int, dict] = {}
        for i in nn_idx:
            lo, hi = self.item_ptr_[i], self.item_ptr_[i + 1]
            for r in range(lo, hi):
                t = int(self.row_token_[r])
                e = ev.setdefault(t, {"d": [], "op": {c: [] for c in self.row_op_}})
                e["d"].append(self.row_duration_[r])
                for c, codes in self.row_op_.items():
                    e["op"][c].append(codes[r])
        return ev

    def _step(self, seq: int, token: int, evidence: dict[int, dict]) -> Step:
        e = evidence.get(token)
        d = np.asarray(e["d"], dtype=float) if e else np.array([])
        d = d[~np.isnan(d)]
        if len(d):
            mid, low, high = np.median(d), np.quantile(d, 0.1), np.quantile(d, 0.9)
        else:
            mid, low, high = self.token_duration_[token]
            if np.isnan(mid):
                mid, low, high = self.process_duration_[self.token_process_[token]]
        attrs = {}
        for col, values in self.op_values_.items():
            codes = [c for c in (e["op"][col] if e else []) if c >= 0]
            code = Counter(codes).most_common(1)[0][0] if codes else int(self.token_op_mode_[col][token])
            attrs[col] = values[code] if code >= 0 else None
        return Step(
            seq=seq,
            process_code=self.processes_[self.token_process_[token]],
            duration_min=_none_if_nan(mid),
            duration_low=_none_if_nan(low),
            duration_high=_none_if_nan(high),
            attributes=attrs,
        )

    def _candidate(self, toks, score, refs, evidence, kind, note) -> Candidate:
        steps = [self._step(10 * (j + 1), t, evidence) for j, t in enumerate(toks)]
        durations = [s.duration_min for s in steps if s.duration_min is not None]
        total = float(sum(durations)) if durations else None
        return Candidate(0, float(min(max(score, 0.0), 1.0)), steps, total, refs, kind, note)

    def _references(self, toks, routing, nn_idx, nn_sim) -> list[tuple[str, float]]:
        target = frozenset(toks)
        refs = []
        for i, s in zip(nn_idx, nn_sim, strict=True):
            if self.routing_tokens_[self.item_routing_[i]] == target:
                refs.append((str(self.items_[i]), round(float(s), 4)))
        if not refs:
            # A composed routing: the similar items sharing most of its steps.
            scored = []
            for i, s in zip(nn_idx, nn_sim, strict=True):
                other = self.routing_tokens_[self.item_routing_[i]]
                overlap = len(target & other) / max(len(target | other), 1)
                if overlap >= 0.5:
                    scored.append((overlap * float(s), str(self.items_[i]), float(s)))
            refs = [(code, round(s, 4)) for _, code, s in sorted(scored, reverse=True)]
        return refs[: self.n_neighbors]

    def _known_candidate(self, i: int) -> Candidate:
        lo, hi = self.item_ptr_[i], self.item_ptr_[i + 1]
        steps = []
        for j, r in enumerate(range(lo, hi)):
            d = _none_if_nan(self.row_duration_[r])
            attrs = {c: (self.op_values_[c][codes[r]] if codes[r] >= 0 else None) for c, codes in self.row_op_.items()}
            steps.append(Step(10 * (j + 1), self.processes_[self.row_process_[r]], d, d, d, attrs))
        durations = [s.duration_min for s in steps if s.duration_min is not None]
        return Candidate(
            rank=1,
            score=1.0,
            steps=steps,
            total_duration_min=float(sum(durations)) if durations else None,
            references=[(str(self.items_[i]), 1.0)],
            kind="known",
            note="The item's own routing in the training data.",
        )

    def _fallback_candidate(self, group, best_sim: float) -> Candidate:
        key = None if group is None or (isinstance(group, float) and math.isnan(group)) else str(group)
        if key is not None and key in self.group_routing_:
            routing, n = self.group_routing_[key]
            where = f"the most frequent routing of items with {self.group_column_} = {key} ({n} items)"
        else:
            routing = self.top_routing_
            where = f"the most frequent routing overall ({int(self.routing_count_[routing])} items)"
        note = (
            f"No training item is similar enough (best similarity {best_sim:.2f} < "
            f"{self.similarity_threshold:.2f}); proposing {where}."
        )
        toks = self._order(self.routing_tokens_[routing], routing)
        evidence: dict[int, dict] = {}
        score = 0.25 * max(best_sim, 0.0) + 0.05
        examples = np.flatnonzero(self.item_routing_ == routing)[:3]
        refs = [(str(self.items_[i]), 0.0) for i in examples]
        return self._candidate(toks, score, refs, evidence, "fallback", note)

    def predict_frame(self, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False) -> pd.DataFrame:
        """Predictions in long form: one row per candidate step."""
        return predictions_frame(self.predict(items, top_k=top_k, ignore_history=ignore_history),
                                 list(getattr(self, "operation_attributes_", [])))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model with joblib (atomically)."""
        import io

        from routing_core.atomic import atomic_write_bytes

        buf = io.BytesIO()
        joblib.dump(self, buf, compress=3)
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RoutingModel:
        """Read a model written by save()."""
        model = joblib.load(Path(path))
        if not isinstance(model, cls):
            raise UserError(f"{path} does not hold a routing model.")
        return model


def predictions_frame(predictions: list[ItemPrediction], operation_attributes: list[str]) -> pd.DataFrame:
    """Long form: item_code, rank, score, kind, seq, process_code, durations, op attributes, references."""
    rows = []
    for pred in predictions:
        for c in pred.candidates:
            refs = "; ".join(f"{code} ({sim:.2f})" for code, sim in c.references)
            for s in c.steps:
                row = {
                    ITEM: pred.item_code, "rank": c.rank, "score": round(c.score, 4), "kind": c.kind,
                    SEQ: s.seq, PROCESS: s.process_code, DURATION: s.duration_min,
                    "duration_low": s.duration_low, "duration_high": s.duration_high,
                }
                for col in operation_attributes:
                    row[col] = s.attributes.get(col)
                row["references"] = refs
                row["note"] = c.note
                rows.append(row)
    columns = [ITEM, "rank", "score", "kind", SEQ, PROCESS, DURATION, "duration_low", "duration_high",
               *operation_attributes, "references", "note"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- helpers


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def _normalise_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _check_ops(ops: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(ops, pd.DataFrame):
        raise UserError("Training data must be an operations table.")
    missing = [c for c in (ITEM, PROCESS) if c not in ops]
    if missing:
        raise UserError(f"The training table lacks column(s) {', '.join(missing)}.")
    ops = ops[ops[ITEM].notna() & ops[PROCESS].notna()]
    if ops.empty:
        raise UserError("The training table has no rows with both item_code and process_code.")
    ops = ops.copy()
    ops[ITEM] = ops[ITEM].astype("str")
    ops[PROCESS] = ops[PROCESS].astype("str")
    if SEQ not in ops:
        ops[SEQ] = ops.groupby(ITEM, sort=False).cumcount().astype("float64") + 1
    if DURATION not in ops:
        ops[DURATION] = np.nan
    ops[DURATION] = pd.to_numeric(ops[DURATION], errors="coerce")
    # Rows of one item together, in seq order; items in first-appearance order.
    first = pd.factorize(ops[ITEM], sort=False)[0]
    ops["_item"] = first
    ops = ops.sort_values(["_item", SEQ], kind="stable").drop(columns="_item").reset_index(drop=True)
    return ops


def _attributes(ops, item_attributes, operation_attributes) -> tuple[list[str], list[str]]:
    others = [c for c in ops.columns if c not in CANONICAL]
    if item_attributes is None or operation_attributes is None:
        from routing_core.datasets import classify_attributes

        auto_item, auto_op, _ = classify_attributes(ops, others)
        item_attributes = auto_item if item_attributes is None else item_attributes
        operation_attributes = auto_op if operation_attributes is None else operation_attributes
    item_attributes = [c for c in item_attributes if c in ops and c not in CANONICAL]
    operation_attributes = [c for c in operation_attributes if c in ops and c not in CANONICAL]
    return list(item_attributes), list(operation_attributes)
