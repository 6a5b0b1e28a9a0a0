"""RoutingModel: the parts of the model (routing_core/model/*) fitted in turn and asked in turn.
The architecture is described in docs/architecture.md."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from routing_core.mapping.schema import ITEM
from routing_core.model.candidates import CandidateBuilder, ItemQuery, fallback_group
from routing_core.model.config import (
    FIT_PROGRESS,
    SAVE_COMPRESSION,
    SHOWN_VALUES,
    ModelConfig,
    ParamDefaults,
)
from routing_core.model.durations import DurationModel, StepEvidence
from routing_core.model.experts import (
    AdditiveStepModel,
    Stacker,
    StepTrees,
    expert_logits,
    out_of_fold,
)
from routing_core.model.features import Encoded, ItemFeaturizer
from routing_core.model.forest import LeafForest
from routing_core.model.imputation import BlankImputer
from routing_core.model.memo import remembered
from routing_core.model.neighbours import Neighbours
from routing_core.model.output import ItemPrediction, predictions_frame, probability
from routing_core.model.trial import baseline_trial, code_dropout
from routing_core.model.vocabulary import (
    Vocabulary,
    check_ops,
    item_frame,
    pool_rare_processes,
    query_frame,
    split_attributes,
)
from routing_core.platform.errors import UserError

Progress = Callable[[float, str], None]
_P = ParamDefaults()


def _quiet(fraction: float, message: str) -> None:
    pass


@dataclass
class Answer:
    """What every part says about a batch of items (RoutingModel._answer): its codes and encoding,
    the neighbour queries (qn, codeless) and neighbours, the imputation design Z, the rows its blank
    attributes expand to (each row's item, features and weight) and, with votes, the forest's votes,
    each row's step probabilities and each item's."""

    codes: list
    enc: Encoded
    qn: np.ndarray
    codeless: np.ndarray
    nn_idx: np.ndarray
    nn_sim: np.ndarray
    Z: np.ndarray
    rows: np.ndarray
    exp_X: np.ndarray
    weights: np.ndarray
    vote: Any = None
    probs: np.ndarray | None = None
    item_probs: np.ndarray | None = None


class RoutingModel(BaseEstimator):
    """Proposes ranked candidate routings for items from their attributes and item code.

    Fitted on a canonical operations table. Three experts estimate each step's presence (the leaf
    forest's vote, one tree per step, an additive model), weighed by stacking; candidates are
    the voted routings and the most likely step sets, ranked by vote and joint step probability;
    times come from per-process log-linear models, operation attributes from similar items.
    Blank attributes are tried with their likely values; an item unlike anything known gets a
    flagged fallback. `config` holds the tuning constants of every part (ModelConfig).
    """

    def __init__(self, top_k: int = _P.top_k, similarity_threshold: float = _P.similarity_threshold,
                 n_neighbors: int = _P.n_neighbors, random_state: int = 0, use_item_code: bool = True,
                 n_estimators: int = _P.n_estimators, min_samples_leaf: int = _P.min_samples_leaf,
                 max_features: float = _P.max_features, vote_weight: float = _P.vote_weight,
                 min_split_gain: float = _P.min_split_gain, max_samples: float = _P.max_samples, n_jobs: int | None = None,
                 baseline_check: bool = True, config: ModelConfig | None = None) -> None:
        self.top_k = top_k
        self.similarity_threshold = similarity_threshold
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.use_item_code = use_item_code
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.vote_weight = vote_weight
        self.min_split_gain = min_split_gain
        self.max_samples = max_samples
        self.n_jobs = n_jobs
        self.baseline_check = baseline_check
        self.config = config

    # ------------------------------------------------------------------ fit
    @remembered
    def fit(self, ops: pd.DataFrame, item_attributes: list[str] | None = None,
            operation_attributes: list[str] | None = None, progress: Progress | None = None) -> RoutingModel:
        """Learn from a canonical operations table (Dataset.ops)."""
        # A configuration as recorded in a manifest (a dict) is accepted too.
        given = self.config
        cfg = self.config_ = given if isinstance(given, ModelConfig) else ModelConfig.from_dict(given)
        progress = progress or _quiet
        progress(0.0, "Preparing routings")
        ops = check_ops(ops)
        ops, self.pooled_processes_, self.pooled_as_ = pool_rare_processes(
            ops, cfg.vocabulary.max_process_codes, cfg.vocabulary.pooled_name)
        self.item_attributes_, self.operation_attributes_ = split_attributes(ops, item_attributes, operation_attributes)
        progress(FIT_PROGRESS["routings"], "Routings and step order")
        v = self.vocab_ = Vocabulary(cfg.vocabulary).fit(ops, self.operation_attributes_)
        progress(FIT_PROGRESS["features"], "Item features")
        items = item_frame(ops, v.items_, self.item_attributes_)
        f = self.featurizer_ = ItemFeaturizer(attributes=self.item_attributes_, use_code=self.use_item_code,
                                              config=cfg.features, text=cfg.text).fit(items, v.item_routing_, steps=v.presence_)
        enc = f.encode(items)
        Z = f.imputation_design(enc)[0]
        Xo = code_dropout(f, f.ordinal(enc), cfg.trial.code_dropout, self.random_state, cfg.trial.dropout_seed)
        progress(FIT_PROGRESS["forest"], "Forest of step trees")
        group_column, group_routing = fallback_group(f, items, v.item_routing_)
        self.neighbours_ = Neighbours(self._new_forest(), cfg.neighbours).fit(f.dense(enc), Xo, f, v)
        progress(FIT_PROGRESS["imputation"], "Models of blank attributes")
        self.imputer_ = BlankImputer(cfg.imputation, self.random_state).fit(f, Xo, Z, enc, group_column)
        progress(FIT_PROGRESS["additive"], "Additive step model")
        self.additive_ = AdditiveStepModel(cfg.experts, self.random_state).fit(Z, v.presence_)
        progress(FIT_PROGRESS["step_trees"], "One tree per step")
        j = f.categorical_.index(group_column) if group_column in f.categorical_ else None
        tree_group = (None, 0) if j is None else (len(f.numeric_) + j, len(f.categories_[group_column]))
        self.step_trees_ = StepTrees(cfg.experts, self.random_state).fit(Xo, v.presence_, *tree_group)
        progress(FIT_PROGRESS["stacking"], "How far to trust each step model")
        self.stacker_ = Stacker(cfg.experts)
        answers = out_of_fold(Xo, Z, v, self._new_forest, self.neighbours_.trust_recurring, cfg.experts,
                              cfg.neighbours.forest_max_outputs, self.random_state, *tree_group)
        if answers is not None:
            self.stacker_.fit(*answers)
        progress(FIT_PROGRESS["durations"], "Times and fallback groups")
        self.durations_ = DurationModel(cfg.durations, self.random_state).fit(Z, v)
        self.baseline_trial_ = None
        if self.baseline_check:
            progress(FIT_PROGRESS["trial"], "Checking against the most frequent routing")
            self.baseline_trial_ = baseline_trial(self, ops, items, cfg.trial)
        self.baseline_leads_ = bool(self.baseline_trial_ and not self.baseline_trial_["model_wins"])
        self.candidates_ = CandidateBuilder(
            v, self.neighbours_, StepEvidence(cfg.durations).fit(v), cfg.candidates, n_neighbors=self.n_neighbors,
            similarity_threshold=self.similarity_threshold, vote_weight=self.vote_weight,
            group_column=group_column, group_routing=group_routing, baseline_trial=self.baseline_trial_,
            baseline_leads=self.baseline_leads_)
        progress(1.0, "Done")
        return self

    def _new_forest(self) -> LeafForest:
        return LeafForest(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                          max_features=self.max_features, min_split_gain=self.min_split_gain,
                          max_samples=self.max_samples, random_state=self.random_state, n_jobs=self.n_jobs,
                          max_rows=self.config_.neighbours.forest_max_rows)

    # ------------------------------------------------------------------ predict
    def check_fitted(self) -> None:
        if not hasattr(self, "candidates_"):
            raise RuntimeError("RoutingModel is not fitted yet; call fit() first.")

    def _batches(self, items: pd.DataFrame):
        self.check_fitted()
        frame = query_frame(items)
        size = self.config_.candidates.batch
        for start in range(0, len(frame), size):
            yield frame.iloc[start : start + size]

    def _answer(self, frame: pd.DataFrame, ignore_history: bool = False, votes: bool = True) -> Answer:
        """What every part says about a batch of items: neighbours, the rows its blank attributes
        expand to (with weights), the forest's votes and each step's probability per row."""
        f, nb = self.featurizer_, self.neighbours_
        codes = frame[ITEM].tolist()
        enc = f.encode(frame)
        X, Xo = f.dense(enc), f.ordinal(enc)
        self_idx = np.array([self.vocab_.item_index_.get(c, -1) for c in codes]) if ignore_history else None
        qn, codeless, size = nb.queries(X, enc)
        nn_idx, nn_sim = nb.search(qn, nb.forest_.apply(Xo), self.n_neighbors, exclude=self_idx,
                                   codeless=codeless, size=size)
        Z = f.imputation_design(enc)[0]
        rows, exp_X, weights = self.imputer_.expand(Xo, nn_idx, Z, enc)
        out = Answer(codes, enc, qn, codeless, nn_idx, nn_sim, Z, rows, exp_X, weights)
        if not votes:
            return out
        vote, exp_leaves = nb.forest_.vote(exp_X)
        if self_idx is not None and (self_idx >= 0).any():
            vote = nb.drop_self_votes(vote, exp_leaves, self_idx[rows])
        vote = nb.trust_recurring(vote)
        linear = self.additive_.predict_proba(Z)[rows]
        experts = np.stack([nb.step_probabilities(vote), linear, self.step_trees_.predict_proba(exp_X, linear)])
        out.probs = self.stacker_.combine(expert_logits(experts, self.vocab_.token_prior_c_, self.config_.experts))
        out.vote = vote
        item_probs = np.zeros((len(frame), experts.shape[2]))
        np.add.at(item_probs, rows, out.probs * weights[:, None])
        out.item_probs = probability(item_probs)  # a weighted sum of probabilities
        return out

    @remembered
    def predict(self, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False
                ) -> list[ItemPrediction]:
        """Ranked candidate routings for each item (one row per item; long form accepted)."""
        top_k = max(1, int(top_k or self.top_k))
        out: list[ItemPrediction] = []
        for frame in self._batches(items):
            out.extend(self._predict_batch(frame, top_k, ignore_history))
        return out

    def _predict_batch(self, frame: pd.DataFrame, top_k: int, ignore_history: bool) -> list[ItemPrediction]:
        a = self._answer(frame, ignore_history)
        build, vote, rows, enc = self.candidates_, a.vote, a.rows, a.enc
        knn_share = self.config_.neighbours.knn_share
        familiar = self.featurizer_.familiarity(enc)
        evidence = build.evidence.batch(a.nn_idx)
        evidence["model"] = self.durations_.predict(a.Z)
        groups = None
        if build.group_column is not None and build.group_column in enc.cat:
            names = self.featurizer_.categories_[build.group_column]
            groups = [names[c] if c >= 0 else None for c in enc.cat[build.group_column].tolist()]
        bounds = np.searchsorted(rows, np.arange(len(frame) + 1))
        order_cache: dict[frozenset, list[int]] = {}  # step orders of composed sets, this batch
        out = []
        for i, code in enumerate(a.codes):
            lo, hi = bounds[i], bounds[i + 1]
            votes = []
            for e in range(lo, hi):
                s, t = vote.indptr[e], vote.indptr[e + 1]
                votes.append(dict(zip(vote.indices[s:t].tolist(), vote.data[s:t].tolist(), strict=True)))
            near = self.neighbours_.near_vote(a.nn_idx[i], a.nn_sim[i])
            if near:
                votes = [{r: (1 - knn_share) * ve.get(r, 0.0) + knn_share * near.get(r, 0.0)
                          for r in ve.keys() | near.keys()} for ve in votes]
            scored = build.rank(a.probs[lo:hi], votes, a.weights[lo:hi], top_k, order_cache)
            item = ItemQuery(i, code, a.nn_idx[i], a.nn_sim[i], None if groups is None else groups[i],
                             float(familiar[i]), a.qn[i], bool(a.codeless[i]), a.item_probs[i])
            out.append(build.assemble(item, scored, evidence, top_k, ignore_history))
        return out

    @remembered
    def predict_frame(self, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False
                      ) -> pd.DataFrame:
        """Predictions in long form: one row per candidate step."""
        return predictions_frame(self.predict(items, top_k=top_k, ignore_history=ignore_history),
                                 list(self.operation_attributes_))

    @remembered
    def step_probabilities(self, items: pd.DataFrame) -> np.ndarray:
        """(items, steps): how likely each step (tokens_) is in each item's routing."""
        parts = [self._answer(frame).item_probs for frame in self._batches(items)]
        return np.vstack(parts) if parts else np.zeros((0, len(self.tokens_)))

    @remembered
    def neighbors(self, items: pd.DataFrame, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, similarities) of the most similar training items, best first (-1 pads)."""
        self.check_fitted()
        f, nb = self.featurizer_, self.neighbours_
        enc = f.encode(query_frame(items))
        qn, codeless, size = nb.queries(f.dense(enc), enc)
        return nb.search(qn, nb.forest_.apply(f.ordinal(enc)), n_neighbors or self.n_neighbors,
                         codeless=codeless, size=size)

    @remembered
    def likely_values(self, items: pd.DataFrame, limit: int = SHOWN_VALUES) -> pd.DataFrame:
        """What a prediction takes each blank attribute of each item to be: one row per (item,
        attribute, value) with the weight the prediction gives the value, the likeliest `limit`
        values, likeliest first. (An item predicted from its own history weighs nothing.)"""
        out = []
        for frame in self._batches(items):
            if not self.imputer_.blanks(self.featurizer_.encode(frame)).any():
                continue
            a = self._answer(frame, votes=False)
            out += self.imputer_.likely_values(a.codes, a.rows, a.exp_X, a.weights, a.enc, limit)
        return pd.DataFrame(out, columns=[ITEM, "attribute", "value", "probability"])

    # ------------------------------------------------------------------ what it reads
    def reading(self) -> dict:
        """What the fitted model reads (ItemFeaturizer.reading) and the process codes it pooled."""
        self.check_fitted()
        return {**self.featurizer_.reading(), "pooled_process_codes": len(self.pooled_processes_),
                "pooled_as": self.pooled_as_, "process_codes": len(self.processes_)}

    @remembered
    def text_reading(self, items: pd.DataFrame) -> pd.DataFrame:
        """The learned words and keyed numbers each item's free-text attributes hold."""
        self.check_fitted()
        from routing_core.model.explain import text_words

        return text_words(self.featurizer_, query_frame(items))

    def parts(self) -> dict:
        """Which parts are on for this dataset, with the held-out figures that decided it."""
        self.check_fitted()
        return {"experts": self.stacker_.parts(), "features": dict(getattr(self.featurizer_, "lift_", {}) or {}),
                "size_evidence": self.imputer_.trials_, "baseline_trial": self.baseline_trial_,
                "most_frequent_leads": self.baseline_leads_}

    n_items_ = property(lambda self: self.vocab_.n_items_)
    processes_ = property(lambda self: self.vocab_.processes_)
    tokens_ = property(lambda self: self.vocab_.tokens_)
    routings_ = property(lambda self: self.vocab_.routings_)
    item_index_ = property(lambda self: self.vocab_.item_index_)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model with joblib (atomically)."""
        import io

        from routing_core.platform.atomic import atomic_write_bytes

        buf = io.BytesIO()
        joblib.dump(self, buf, compress=SAVE_COMPRESSION)
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RoutingModel:
        """Read a model written by save()."""
        try:
            model = joblib.load(Path(path))
        except Exception as exc:  # joblib says KeyError, EOFError, … for a file that is no model
            raise UserError(f"{path} does not hold a routing model (it cannot be read).") from exc
        if not isinstance(model, cls):
            raise UserError(f"{path} does not hold a routing model.")
        return model
