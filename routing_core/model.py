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
from routing_core.features import (
    BLANK,
    Encoded,
    ItemFeaturizer,
    attribute_codes,
    mutual_information,
)
from routing_core.schema import DURATION, ITEM, PROCESS, SEQ

# The format this code saves; bump it when the learned state changes. MODEL_FORMATS_READ are the
# formats it loads: a version in any other is reported as needing a retrain, and code that does not
# know this format refuses it with that message instead of failing on its contents.
MODEL_FORMAT = 3  # 3: words of text attributes, the item code only where it earns its place
# 2: size evidence for blank categories, step trees with the groups they held
MODEL_FORMATS_READ = (1, 2, 3)
Progress = Callable[[float, str], None]
CANONICAL = (ITEM, PROCESS, SEQ, DURATION)
SEPARATOR = ">"
BATCH = 2000  # items per prediction batch (bounds the memory of one batch)
OCCURRENCES = 64  # a process the n-th time in one routing is its own step up to this n
MAX_PROCESS_CODES = 2_000  # process codes modelled; those on fewest items beyond are pooled ...
POOLED = "OTHER_PROCESS"  # ... into this one
# Blank categorical attributes: each is tried with its likely values.
MAX_IMPUTED_VALUES = 4  # values tried for one blank cell
MIN_IMPUTED_SHARE = 0.1  # ... each at least this likely
MAX_IMPUTED_ROWS = 8  # rows per item after expanding all its blanks
IMPUTER_ROWS = 5_000  # training items per attribute model (a sample is plenty)
IMPUTER_MAX_CLASSES = 12  # attributes with more values use the similar items' values instead
SIZE_EVIDENCE = True  # blank categories also weighed by how the item's sizes fit each value
SIZE_MIN_ROWS = 20  # rows a group needs for its own spread of the log sizes (else all rows')
SIZE_MAX_NATS = 12.0  # the sizes shift a value's log-odds by at most this much
SIZE_FILLED = 0.9  # a measurement joins a group's evidence when this share of its items have it
SIZE_T_DOF = 4.0  # degrees of freedom of the Student t the log measurements follow
NEWTON_MAX_SIZE = 1200  # features x classes of an attribute model fitted by Newton steps (else L-BFGS)
IMPUTE_MODE = "model"  # "model" (attribute models) or "neighbours" (similar items' values)
# Fallback for items unlike anything in training.
FAMILIAR_SHARE = 0.5  # below this share of known attribute values, a dissimilar item falls back
# The additive step model.
LINEAR_ROWS = 50_000  # training items it is fitted on (a sample when more)
LINEAR_ALPHA = 1.0  # ridge penalty, in % of the number of items ...
LINEAR_MIN_ALPHA = 3.0  # ... and at least this (small data)
LINEAR_CLIP = 0.001  # its probabilities stay within [clip, 1 - clip]
# Times.
DURATION_ROWS = 20_000  # rows per process the time model is fitted on (a sample when more)
DURATION_MIN_ROWS = 8  # fewer rows: no model, times of similar items only
DURATION_MODE = "model"  # "model", "neighbours" or "blend"
# One tree per step.
STEP_TREES = True
STEP_TREE_ROWS = 30_000  # training items they are grown on (a sample when more)
STEP_TREE_MIN_LEAF = 5  # items per leaf at least (more for big data: n / 2000)
STEP_TREE_DEPTH = 10
STEP_TREE_MIN_POSITIVE = 3  # a step on fewer items (or missing from fewer) gets no tree
STEP_TREE_GROUP_SUPPORT = True  # a leaf that never held the query's group defers to the additive model
STEP_TREE_MAX = 64  # trees for the steps whose presence varies most; the rest use the others
FOREST_MAX_OUTPUTS = 64  # the forest's trees split on the presence of at most this many steps
# Candidates.
FALLBACK_REFERENCE_POOL = 20_000  # items of the fallback routing searched for its references
MAX_VOTED = 12  # routings taken from the vote per row
MAX_UNSURE = 5  # least certain steps whose presence is flipped to compose alternatives
MATE_WINDOW = 8  # training items per leaf considered as neighbours of a query
KNN_SHARE = 0.5  # share of the routing vote given to the most similar items (rest: forest leaves)
KNN_SHARPNESS = 16  # similarity exponent of that vote: an identical item outweighs close ones
VOTE_PRIOR_COUNT = 2.0  # votes of a routing seen n times weigh n / (n + this)
# Weighing the step experts (cross-fitted stacking).
CODE_DROPOUT = 0.3  # share of items whose code tokens are blanked when the trees are grown

BASELINE_TRIAL_MIN_ITEMS = 400  # fewer items: no trial against the most frequent routing
BASELINE_TRIAL_HELD = 1_000  # items the trial answers ...
BASELINE_TRIAL_FIT = 4_000  # ... with a model fitted on at most this many others

STACK_FOLDS = 3
STACK_ROWS = 4_000  # training items answered out of fold (a sample when more)
STACK_CELLS = 2_000_000  # ... and at most this many (item, step) pairs
STACK_MIN_ITEMS = 60  # fewer items: the experts' odds are simply multiplied


@dataclass
class Step:
    """One operation of a proposed routing."""

    seq: int
    process_code: str
    duration_min: float | None
    duration_low: float | None
    duration_high: float | None
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass
class Candidate:
    """One proposed routing of an item."""

    rank: int
    score: float
    steps: list[Step]
    total_duration_min: float | None
    references: list[tuple[str, float]]
    kind: str  # "known" | "model" | "baseline" (the most frequent routing leads) | "fallback"
    note: str = ""

    @property
    def processes(self) -> list[str]:
        return [s.process_code for s in self.steps]


@dataclass
class ItemPrediction:
    """The ranked candidates for one item (never empty)."""

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

    Fitted on a canonical operations table. A routing is a set of steps ("INSPECT#2" for a
    second inspection) in a learned order. Three experts estimate each step's presence: a forest
    of multi-output trees (whose leaves also vote for whole routings), one small tree per step,
    and an additive model (which composes combinations of options never seen together); their
    log-odds are added with weights learned on items each expert did not see (stacking).
    Candidates are the voted routings and the most likely step sets, ranked by vote and joint
    step probability; steps of a set never seen whole are ordered by learned precedence. Times come from per-process log-linear models (p10-p90 of residuals as the
    range), operation attributes from the most similar items. Blank attributes are tried with
    their likely values; an item unlike anything known gets a flagged fallback.
    """

    baseline_check = False  # the value of models saved before the trial existed

    def __init__(
        self,
        top_k: int = 5,
        similarity_threshold: float = 0.8,
        n_neighbors: int = 10,
        random_state: int = 0,
        use_item_code: bool = True,
        n_estimators: int = 12,
        min_samples_leaf: int = 2,
        max_features: float = 0.5,
        vote_weight: float = 0.1,
        min_split_gain: float = 0.0,
        max_samples: float = 0.8,
        n_jobs: int | None = None,
        baseline_check: bool = True,
    ) -> None:
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
        ops, self.pooled_processes_, self.pooled_as_ = _pool_rare_processes(ops, MAX_PROCESS_CODES)
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
        token_key = proc_idx.astype(np.int64) * OCCURRENCES + np.minimum(occ, OCCURRENCES - 1)
        tok_idx, tok_keys = pd.factorize(token_key, sort=True)
        self.token_process_ = (tok_keys // OCCURRENCES).astype(np.int64)
        self.token_occurrence_ = (tok_keys % OCCURRENCES).astype(np.int64)
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
        max_len = int(counts.max())
        pos = np.arange(len(ops)) - self.item_ptr_[item_idx]
        padded = np.full((n_items, max_len), -1, dtype=np.int32)
        padded[item_idx, pos] = self.row_process_
        routings, rid = np.unique(padded, axis=0, return_inverse=True)
        rid = rid.ravel()
        self.item_routing_ = rid.astype(np.int32)
        self.routings_ = [tuple(int(p) for p in r if p >= 0) for r in routings]
        self.routing_count_ = np.bincount(rid, minlength=len(self.routings_))
        self._fit_order(item_idx, tok_idx, counts)

        progress(0.2, "Item features")
        item_frame = self._item_frame(ops)
        presence = np.zeros((n_items, n_tokens), dtype=bool)
        presence[item_idx, tok_idx] = True
        self.token_prior_ = presence.mean(axis=0)
        self.token_prior_c_ = np.clip(self.token_prior_, 1e-3, 1 - 1e-3)
        self.featurizer_ = ItemFeaturizer(
            attributes=item_attributes, use_code=self.use_item_code
        ).fit(item_frame, self.item_routing_, steps=presence)
        enc = self.featurizer_.encode(item_frame)
        X = self.featurizer_._dense(enc)
        self.X_ = _normalise_rows(X)
        # The length of each item's vector without its code tokens: an item asked without a
        # familiar code is compared on its attributes alone (cosine over those columns).
        code = self.featurizer_.code_columns_out_
        self.attr_norm_ = np.sqrt(np.maximum(1.0 - (self.X_[:, code] ** 2).sum(axis=1), 0.0)).astype(np.float32) \
            if len(code) else None

        progress(0.4, "Forest of step trees")
        self._fit_groups(item_frame)
        Z = self.featurizer_.imputation_design(enc)[0]
        self._fit_step_models(self._code_dropout(self.featurizer_._ordinal(enc)), Z, presence, progress, enc)

        progress(0.85, "Times and fallback groups")
        self._fit_durations()
        self._fit_duration_model(Z)
        self._fit_step_defaults()
        self.baseline_trial_ = None
        if self.baseline_check:
            progress(0.9, "Checking against the most frequent routing")
            self.baseline_trial_ = self._baseline_trial(ops)
        self.baseline_leads_ = bool(self.baseline_trial_ and not self.baseline_trial_["model_wins"])
        progress(1.0, "Done")
        return self

    def _baseline_trial(self, ops: pd.DataFrame) -> dict | None:
        """Whether the model's first candidates beat the most frequent routing on items it did not
        see: a model fitted on part of the items (BASELINE_TRIAL_FIT at most) answers others
        (BASELINE_TRIAL_HELD at most, a quarter of the items), and both answers are scored by
        sequence similarity to the recorded routings; the model loses when it is worse by more
        than two standard errors of the paired difference. On data whose attributes say little (a job-shop log with only a
        short description), the most frequent routing can be the closer guess on average: then
        it leads the candidates, and the trial's figures say why."""
        from sklearn.base import clone

        from routing_core.evaluation import sequence_similarity

        n = self.n_items_
        if n < BASELINE_TRIAL_MIN_ITEMS:
            return None
        rng = np.random.default_rng(self.random_state + 4)
        order = rng.permutation(n)
        n_held = min(BASELINE_TRIAL_HELD, n // 4)
        held, fit = order[:n_held], order[n_held : n_held + BASELINE_TRIAL_FIT]
        fit_codes = set(self.items_[fit].tolist())
        trial = clone(self).set_params(baseline_check=False)
        trial.fit(ops[ops[ITEM].isin(fit_codes)], self.item_attributes_, self.operation_attributes_)
        held = np.sort(held)
        frame = self._item_frame(ops).iloc[held].reset_index(drop=True)
        firsts = [p.candidates[0].processes for p in trial.predict(frame, top_k=1, ignore_history=True)]
        common = self.routings_[np.bincount(self.item_routing_[fit], minlength=len(self.routings_)).argmax()]
        common = [self.processes_[p] for p in common]
        model_sim, base_sim = [], []
        for i, first in zip(held.tolist(), firsts, strict=True):
            truth = [self.processes_[p] for p in self.routings_[self.item_routing_[i]]]
            model_sim.append(sequence_similarity(first, truth))
            base_sim.append(sequence_similarity(common, truth))
        diff = np.asarray(model_sim) - np.asarray(base_sim)
        m, b = float(np.mean(model_sim)), float(np.mean(base_sim))
        # The baseline leads only when the model is worse by more than chance (two standard errors
        # of the paired difference): a trial on a few hundred items is noisy, and a wrong lead
        # costs every prediction.
        margin = 2.0 * float(diff.std(ddof=1)) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
        return {"items": int(n_held), "model_similarity": round(m, 4),
                "most_frequent_similarity": round(b, 4), "margin": round(margin, 4),
                "model_wins": not (b - m > margin)}

    def _code_dropout(self, Xo: np.ndarray) -> np.ndarray:
        """The tree features with the code tokens of a share of the items blanked (CODE_DROPOUT).

        Trees grown only on items with codes send an item without one down whichever branch held
        more items at every split on the code; grown with some items codeless, they learn where
        those go, and split them further on the attributes."""
        cols = self.featurizer_.code_columns_ordinal_
        if not len(cols) or CODE_DROPOUT <= 0:
            return Xo
        rng = np.random.default_rng(self.random_state + 3)
        rows = rng.random(len(Xo)) < CODE_DROPOUT
        out = Xo.copy()
        out[np.ix_(rows, cols)] = np.nan
        return out

    def _routing_token_list(self, routing: tuple[int, ...]) -> list[int]:
        seen: Counter = Counter()
        toks = []
        for p in routing:
            toks.append(self.token_lookup_[(p, min(seen[p], OCCURRENCES - 1))])
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
        set_total: Counter = Counter()
        for r, toks in enumerate(self.routing_tokens_):
            set_total[toks] += int(self.routing_count_[r])
        self.set_count_ = np.array([set_total[t] for t in self.routing_tokens_], dtype=np.float64)
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

    def _fit_step_models(self, Xo: np.ndarray, Z: np.ndarray, presence: np.ndarray, progress: Progress,
                         enc: Encoded) -> None:
        """The forest over step presence, and which steps each routing has."""
        from scipy import sparse

        self.forest_ = self._new_forest().fit(
            Xo, presence[:, self._varied_tokens(presence, FOREST_MAX_OUTPUTS)], self.item_routing_,
            len(self.routings_), order=self._fit_size_score())
        n_num = len(self.featurizer_.numeric_)
        cat = Xo[:, n_num : n_num + len(self.featurizer_.categorical_)]
        self.train_cat_ = np.where(np.isnan(cat), -1, cat).astype(np.int16)
        self.cat_values_, self.cat_share_ = [], []
        for j in range(cat.shape[1]):
            v, c = np.unique(self.train_cat_[:, j][self.train_cat_[:, j] >= 0], return_counts=True)
            self.cat_values_.append(v.astype(np.float64))
            self.cat_share_.append(c / max(c.sum(), 1))
        progress(0.65, "Models of blank attributes")
        self._fit_imputers(Z, enc)
        progress(0.7, "Additive step model")
        self._fit_linear(Z, presence)
        progress(0.75, "One tree per step")
        self._fit_step_trees(Xo, presence)
        rows = np.repeat(np.arange(len(self.routings_)), [len(t) for t in self.routing_token_lists_])
        cols = np.concatenate([np.asarray(t, dtype=np.int64) for t in self.routing_token_lists_])
        self.routing_token_matrix_ = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(self.routings_), len(self.tokens_)),
        )
        progress(0.8, "How far to trust each step model")
        self._fit_stacker(Xo, Z, presence)

    def _new_forest(self) -> LeafForest:
        return LeafForest(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            min_split_gain=self.min_split_gain,
            max_samples=self.max_samples,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def _expert_probabilities(self, Xo: np.ndarray, Z: np.ndarray, forest: LeafForest, linear: tuple,
                              trees: dict, counts: np.ndarray | None = None) -> np.ndarray:
        """(3, n, tokens): each expert's presence probability, as they enter the combination."""
        vote = self._trust_recurring(forest.vote(Xo)[0], counts)
        forest_p = np.asarray((vote @ self.routing_token_matrix_).todense())
        linear_p = Z @ linear[0] + linear[1]
        trees_p = self._step_tree_probabilities(Xo, trees, np.clip(linear_p, LINEAR_CLIP, 1 - LINEAR_CLIP))
        return np.stack([forest_p, linear_p, trees_p])

    def _fit_stacker(self, Xo: np.ndarray, Z: np.ndarray, presence: np.ndarray) -> None:
        """How far to trust each expert, learned from their answers on items they did not see.

        The experts learn from the same items, so multiplying their odds counts the same evidence
        up to three times (a rare one-off step that each sees faintly becomes likely). The items
        are split in folds; each fold is answered by experts grown on the others, and a logistic
        model of the true presence on the experts' log-odds gives the weight of each.
        """
        self.stack_weights_ = np.array([0.0, 1.0, 1.0, 1.0, -2.0])  # the product of the odds
        n = len(Xo)
        if n < STACK_MIN_ITEMS:
            return
        rng = np.random.default_rng(self.random_state + 2)
        limit = max(STACK_MIN_ITEMS, min(STACK_ROWS, STACK_CELLS // max(len(self.tokens_), 1)))
        rows = np.sort(rng.choice(n, limit, replace=False)) if n > limit else np.arange(n)
        fold = rng.permutation(len(rows)) % STACK_FOLDS
        feats, target = [], []
        for k in range(STACK_FOLDS):
            fit_rows, held = rows[fold != k], rows[fold == k]
            counts = np.bincount(self.item_routing_[fit_rows], minlength=len(self.routings_))
            forest = self._new_forest().fit(
                Xo[fit_rows], presence[fit_rows][:, self._varied_tokens(presence[fit_rows], FOREST_MAX_OUTPUTS)],
                self.item_routing_[fit_rows], len(self.routings_))
            linear = self._linear_model(Z[fit_rows], presence[fit_rows])
            trees = self._step_tree_models(Xo[fit_rows], presence[fit_rows])
            feats.append(self._expert_probabilities(Xo[held], Z[held], forest, linear, trees, counts))
            target.append(presence[held])
        F = self._expert_logits(np.concatenate(feats, axis=1))
        F = F.reshape(len(F), -1).T
        y = np.concatenate(target).ravel().astype(np.float64)
        # An expert is never trusted the wrong way round: one whose weight comes out negative
        # (it adds nothing the others do not say) is left out and the rest refitted.
        use = [0, 1, 2, 3]
        while True:
            w = _logistic_fit(F[:, use], y)
            negative = [u for u, v in zip(use, w[1:], strict=True) if u < 3 and v < 0]
            if not negative:
                break
            use.remove(min(negative, key=lambda u: w[1 + use.index(u)]))
        weights = np.zeros(5)
        weights[0] = w[0]
        weights[[1 + u for u in use]] = w[1:]
        self.stack_weights_ = weights

    def _expert_logits(self, experts: np.ndarray) -> np.ndarray:
        """(4, n, tokens): the experts' clipped log-odds and the step's base rate's."""
        forest_p, linear_p, trees_p = experts
        n = forest_p.shape[0]
        return np.stack([
            _logit(np.clip(forest_p, 1e-4, 1 - 1e-4)),
            _logit(np.clip(linear_p, LINEAR_CLIP, 1 - LINEAR_CLIP)),
            _logit(np.clip(trees_p, 1e-3, 1 - 1e-3)),
            np.tile(_logit(self.token_prior_c_), (n, 1)),
        ])

    def _fit_imputers(self, Z: np.ndarray, enc: Encoded | None = None) -> None:
        """Per categorical attribute, a model of its value from the others, used to weigh the
        likely values of a blank cell.

        Two parts, multiplied: a multinomial logistic model on the other attributes, and, where the
        items have positive measurements (sizes, weights), how well the item's logs of them fit
        each value. The second is a Student t of the log measurements per value, with the spread
        within the item's group (the fallback group column): within a group, a weight far from
        what the sizes and a material would give rules that material out, which a linear model on
        the same numbers cannot do as sharply. The logistic part then leaves those numbers out.
        The second part is used only for attributes where it scores better on items held out of
        the fit (_size_trial).
        """

        blocks = {j: np.asarray(self.featurizer_.blocks_[col])
                  for j, col in enumerate(self.featurizer_.categorical_)}
        logs = self._log_sizes(enc) if enc is not None and SIZE_EVIDENCE else np.zeros((len(Z), 0))
        size_cols = self._size_columns(Z) if logs.shape[1] else np.array([], dtype=np.int64)
        every = np.arange(Z.shape[1])
        rng = np.random.default_rng(self.random_state)
        self.imputers_: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.size_evidence_: dict[int, tuple] = {}
        for j, col in enumerate(self.featurizer_.categorical_):
            y = self.train_cat_[:, j]
            rows = np.flatnonzero(y >= 0)
            n_classes = len(np.unique(y[rows]))
            # Only attributes of the data (not code tokens: a blank code is not imputed), with few
            # values: a model per attribute stays cheap.
            if col not in self.featurizer_.attributes_ or not 2 <= n_classes <= IMPUTER_MAX_CLASSES:
                continue
            if len(rows) > IMPUTER_ROWS:
                rows = np.sort(rng.choice(rows, size=IMPUTER_ROWS, replace=False))
            classes = np.unique(y[rows]).astype(np.float64)
            plain = np.setdiff1d(every, blocks[j])
            if plain.size == 0:  # no other feature to tell its value from
                continue
            imputer, sizes = _logistic_imputer(Z, y, rows, plain, classes), None
            if logs.shape[1]:
                group = self.group_column_ if self.group_column_ != col else None
                groups = enc.cat[group] if group is not None else np.zeros(len(Z), dtype=np.int64)
                trial = self._size_trial(Z, logs, groups, y, rows, classes, plain,
                                         np.setdiff1d(plain, size_cols), rng)
                if trial:
                    imputer = _logistic_imputer(Z, y, rows, np.setdiff1d(plain, size_cols), classes)
                    sizes = (group, *_size_evidence(logs, y, groups, rows, classes))
            self.imputers_[j] = imputer
            if sizes is not None:
                self.size_evidence_[j] = sizes

    def _size_trial(self, Z, logs, groups, y, rows, classes, plain, without_sizes, rng) -> bool:
        """Whether the item's sizes tell the value better as a Student t per group and value than
        as numbers in the logistic model: both are fitted on two thirds of the items and scored on
        the rest (mean log-probability of the true value)."""
        order = rng.permutation(rows)
        cut = (2 * len(order)) // 3
        fit, held = np.sort(order[:cut]), np.sort(order[cut:])
        if len(held) < SIZE_MIN_ROWS or len(np.unique(y[fit])) < 2:
            return False
        base = _logistic_imputer(Z, y, fit, plain, classes)
        other = _logistic_imputer(Z, y, fit, without_sizes, classes)
        evidence = _size_evidence(logs, y, groups, fit, classes)
        pos = {c: k for k, c in enumerate(classes.astype(int).tolist())}
        truth = np.array([pos[int(c)] for c in y[held]])
        loss = {}
        for name, imp, ev in (("plain", base, None), ("sizes", other, evidence)):
            total = 0.0
            for r, k in zip(held.tolist(), truth.tolist(), strict=True):
                p = _imputed(imp, ev, Z[r], logs[r], int(groups[r]))
                total -= math.log(max(float(p[k]), 1e-9))
            loss[name] = total / len(held)
        return loss["sizes"] < loss["plain"]

    def _log_sizes(self, enc: Encoded) -> np.ndarray:
        """Logs of the numeric attributes that are positive throughout training (NaN: blank, or not
        positive in the item asked about)."""
        cols = [c for c in self.featurizer_.numeric_ if self.featurizer_.log_positive_.get(c, False)]
        if not cols:
            return np.zeros((enc.n, 0))
        out = np.column_stack([np.asarray(enc.num[c], dtype=np.float64) for c in cols])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(out > 0, np.log(np.where(out > 0, out, 1.0)), np.nan)

    def _size_columns(self, Z: np.ndarray) -> np.ndarray:
        """Columns of the imputation design that carry the positive measurements (their values,
        missing flags and logs)."""
        f = self.featurizer_
        cols = [c for c in f.numeric_ if f.log_positive_.get(c, False)]
        dense = [i for c in cols for i in f.blocks_[c]]
        logs = list(range(Z.shape[1] - len(cols), Z.shape[1]))  # imputation_design puts them last
        return np.asarray(dense + logs, dtype=np.int64)

    def _fit_linear(self, Z: np.ndarray, presence: np.ndarray) -> None:
        """An additive model of each step's presence (ridge on the attribute design).

        Trees cannot tell what a combination of options never seen together needs; an additive
        model can (option A adds a step, option B another), so it proposes and scores those."""
        self.linear_coef_, self.linear_intercept_ = self._linear_model(Z, presence)

    def _linear_model(self, Z: np.ndarray, presence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = Z.astype(np.float64)
        Y = presence.astype(np.float64)
        if len(Z) > LINEAR_ROWS:
            rows = np.sort(np.random.default_rng(self.random_state).choice(len(Z), LINEAR_ROWS, replace=False))
            Z, Y = Z[rows], Y[rows]
        zm, ym = Z.mean(axis=0), Y.mean(axis=0)
        Zc = Z - zm
        gram = Zc.T @ Zc
        # Shrink at least as much as a few items' worth: with little data the additive model
        # must not overrule the evidence of similar items.
        gram[np.diag_indices_from(gram)] += max(LINEAR_ALPHA * len(Z) / 100, LINEAR_MIN_ALPHA)
        W = np.linalg.solve(gram, Zc.T @ (Y - ym))
        return W.astype(np.float32), (ym - zm @ W).astype(np.float32)

    @staticmethod
    def _varied_tokens(presence: np.ndarray, limit: int) -> np.ndarray:
        """The steps whose presence varies most between items (at most `limit`): what the trees
        learn from. Leaf votes still cover every step, so exports with hundreds of operation codes
        train in bounded time."""
        p = presence.mean(axis=0)
        order = np.argsort(-(p * (1 - p)), kind="stable")[:limit]
        return np.sort(order)

    def _fit_step_trees(self, Xo: np.ndarray, presence: np.ndarray) -> None:
        """One small tree per step: it splits on what decides that step alone (the forest's trees
        split on what decides the whole routing, and may never look at a rare option)."""
        self.step_trees_ = self._step_tree_models(Xo, presence)

    def _step_tree_models(self, Xo: np.ndarray, presence: np.ndarray) -> dict[int, tuple]:
        from sklearn.tree import DecisionTreeRegressor

        trees: dict[int, tuple] = {}
        if not STEP_TREES or Xo.shape[1] == 0:
            return trees
        rng = np.random.default_rng(self.random_state + 1)
        rows = np.arange(len(Xo))
        if len(rows) > STEP_TREE_ROWS:
            rows = np.sort(rng.choice(rows, STEP_TREE_ROWS, replace=False))
        X = np.ascontiguousarray(Xo[rows], dtype=np.float32)
        leaf = max(STEP_TREE_MIN_LEAF, len(rows) // 2000)
        prior_all = presence.mean(axis=0)
        grouped = self._group_codes(Xo[rows]) if STEP_TREE_GROUP_SUPPORT else None
        group = n_groups = ok = group_size = None
        if grouped is not None:
            group, n_groups = grouped
            ok = group >= 0
            group_size = np.bincount(group[ok], minlength=n_groups).astype(np.float64)
        for t in self._varied_tokens(presence, STEP_TREE_MAX).tolist():
            y = presence[rows, t].astype(np.float32)
            positives = int(y.sum())
            if positives < STEP_TREE_MIN_POSITIVE or len(y) - positives < STEP_TREE_MIN_POSITIVE:
                continue
            tree = DecisionTreeRegressor(min_samples_leaf=leaf, max_depth=STEP_TREE_DEPTH,
                                         random_state=self.random_state).fit(X, y)
            tr = tree.tree_
            # Leaf means shrunk towards the step's base rate by a couple of items.
            n = tr.n_node_samples.astype(np.float64)
            prior = float(prior_all[t])
            value = (tr.value[:, 0, 0] * n + 2.0 * prior) / (n + 2.0)
            support = None
            if group is not None:  # which groups each leaf holds, and the step's rate in each
                in_group = np.bincount(group[ok], weights=y[ok], minlength=n_groups)
                rate = (in_group + 2.0 * prior) / (group_size + 2.0)
                holds = np.zeros((tr.node_count, n_groups), dtype=bool)
                holds[tree.apply(X[ok]), group[ok]] = True
                support = (np.packbits(holds, axis=1), rate.astype(np.float32))
            trees[t] = (tree, value.astype(np.float32), support)
        return trees

    def _group_codes(self, Xo: np.ndarray) -> tuple[np.ndarray, int] | None:
        """(code of the group column per row, -1 blank or new; number of groups), None without."""
        col = self.group_column_
        if col is None or col not in self.featurizer_.categorical_:
            return None
        j = len(self.featurizer_.numeric_) + self.featurizer_.categorical_.index(col)
        codes = np.where(np.isnan(Xo[:, j]), -1, Xo[:, j]).astype(np.int64)
        return codes, len(self.featurizer_.categories_[col])

    def _step_tree_probabilities(self, Xo: np.ndarray, trees: dict | None = None,
                                 fallback: np.ndarray | None = None) -> np.ndarray:
        """(n, tokens) presence probability from each step's own tree (the base rate without one).

        A leaf that never held an item of the query's group (a small housing among small shafts)
        knows nothing of it: there the answer is `fallback` (the additive model's), else the
        step's rate in the group."""
        trees = self.step_trees_ if trees is None else trees
        out = np.tile(self.token_prior_c_, (len(Xo), 1))
        if not trees:
            return out
        X = np.ascontiguousarray(Xo, dtype=np.float32)
        grouped = self._group_codes(Xo)
        for t, (tree, value, *rest) in trees.items():
            leaves = tree.apply(X)
            out[:, t] = value[leaves]
            support = rest[0] if rest else None
            if support is not None and grouped is not None:
                packed, rate = support
                g = grouped[0]
                known = np.flatnonzero((g >= 0) & (g < len(rate)))
                bits = packed[leaves[known], g[known] >> 3] >> (7 - (g[known] & 7)) & 1
                strange = known[bits == 0]
                out[strange, t] = rate[g[strange]] if fallback is None else fallback[strange, t]
        return np.clip(out, 1e-3, 1 - 1e-3)

    def _impute_probabilities(self, z: np.ndarray, j: int, logs_i: np.ndarray | None = None,
                              group_code: int = -1) -> tuple[np.ndarray, np.ndarray] | None:
        model = self.imputers_.get(j)
        if model is None:
            return None
        sizes = getattr(self, "size_evidence_", {}).get(j)
        return model[3], _imputed(model, None if sizes is None else sizes[1:], z, logs_i, group_code)

    def _fit_size_score(self) -> np.ndarray:
        """A score in [0, 1) along the main direction of the numeric attributes (mostly size).

        Leaf mates are taken near a query's score, so references and times come from items of a
        similar size even in large leaves.
        """
        cols = [self.featurizer_.blocks_[c][0] for c in self.featurizer_.numeric_]
        self.size_columns_ = np.asarray(cols, dtype=np.int64)
        self.size_direction_ = np.zeros(len(cols))
        self.size_quantiles_ = np.zeros(1)
        if not cols:
            return np.zeros(self.n_items_)
        Z = self.X_[:, self.size_columns_].astype(np.float64)
        sub = Z[:: max(1, len(Z) // 20000)]
        sub = sub - sub.mean(axis=0)
        if np.allclose(sub, 0):
            return np.zeros(self.n_items_)
        _, _, vt = np.linalg.svd(sub, full_matrices=False)
        self.size_direction_ = vt[0]
        proj = Z @ self.size_direction_
        self.size_quantiles_ = np.quantile(proj, np.linspace(0, 1, 1025))
        return self._size_score(self.X_)

    def _size_score(self, X: np.ndarray) -> np.ndarray:
        if not len(self.size_columns_):
            return np.zeros(len(X))
        proj = X[:, self.size_columns_].astype(np.float64) @ self.size_direction_
        return np.searchsorted(self.size_quantiles_, proj) / (len(self.size_quantiles_) + 1)

    def _fit_duration_model(self, Z: np.ndarray) -> None:
        """Per process, a log-linear model of the time from the item's attributes (sizes, grades),
        with the p10 / p50 / p90 of its residuals for the range."""
        n_proc = len(self.processes_)
        d = Z.shape[1]
        self.duration_coef_ = np.zeros((n_proc, d), dtype=np.float32)
        self.duration_intercept_ = np.zeros(n_proc)
        self.duration_resid_ = np.zeros((n_proc, 3))
        self.duration_offset_ = np.ones(n_proc)
        self.duration_modelled_ = np.zeros(n_proc, dtype=bool)
        self.duration_log_range_ = np.zeros((n_proc, 2))
        ok = ~np.isnan(self.row_duration_)
        if not ok.any() or d == 0:
            return
        row_item = np.repeat(np.arange(self.n_items_), np.diff(self.item_ptr_))
        rng = np.random.default_rng(self.random_state)
        rows_by_proc = pd.Series(np.flatnonzero(ok)).groupby(self.row_process_[ok]).agg(list)
        for proc, rows in rows_by_proc.items():
            rows = np.asarray(rows)
            if len(rows) < max(DURATION_MIN_ROWS, d // 4):
                continue
            if len(rows) > DURATION_ROWS:
                rows = rng.choice(rows, DURATION_ROWS, replace=False)
            dur = self.row_duration_[rows]
            positive = dur[dur > 0]
            # Times of 0 exist (a step booked without time): an offset keeps the log finite.
            offset = 0.05 * float(np.median(positive)) if len(positive) else 1.0
            y = np.log(dur + offset)
            Zp = Z[row_item[rows]].astype(np.float64)
            zm, ym = Zp.mean(axis=0), y.mean()
            Zc = Zp - zm
            gram = Zc.T @ Zc
            gram[np.diag_indices_from(gram)] += max(LINEAR_ALPHA * len(rows) / 100, LINEAR_MIN_ALPHA)
            w = np.linalg.solve(gram, Zc.T @ (y - ym))
            resid = y - (ym + Zc @ w)
            self.duration_coef_[proc] = w
            self.duration_intercept_[proc] = ym - zm @ w
            self.duration_resid_[proc] = np.quantile(resid, [0.5, 0.1, 0.9])
            self.duration_offset_[proc] = offset
            self.duration_log_range_[proc] = (y.min() - 1.0, y.max() + 1.0)
            self.duration_modelled_[proc] = True

    def _duration_estimates(self, Z: np.ndarray) -> np.ndarray | None:
        """(n, processes, 3): modelled time, low and high for each item and process (NaN where the
        process has no model)."""
        if not self.duration_modelled_.any():
            return None
        pred = Z @ self.duration_coef_.T + self.duration_intercept_  # n x P (log)
        # Far outside the training sizes a log-linear model runs away: stay near seen times.
        pred = np.clip(pred, self.duration_log_range_[:, 0], self.duration_log_range_[:, 1])
        out = np.exp(pred[:, :, None] + self.duration_resid_[None, :, :]) - self.duration_offset_[None, :, None]
        out = np.clip(out, 0.0, None)
        out[:, ~self.duration_modelled_, :] = np.nan
        return out

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
        frame[ITEM] = frame[ITEM].astype("str").str.strip().fillna("")
        # Rows of one code are one item (long form: the first filled value of each column); a row
        # without a code is an item of its own (a new item often has none yet).
        coded = frame[ITEM] != ""
        if frame.loc[coded, ITEM].duplicated().any():
            key = frame[ITEM].where(coded, "\0" + pd.Series(np.arange(len(frame)), index=frame.index).astype("str"))
            frame = frame.assign(_key=key).groupby("_key", sort=False).first().reset_index(drop=True)
        return frame.reset_index(drop=True)

    def neighbors(self, items: pd.DataFrame, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, similarities) of the most similar training items, best first (-1 pads)."""
        self._check_fitted()
        enc = self.featurizer_.encode(self._query_frame(items))
        qn, codeless, size = self._queries(self.featurizer_._dense(enc), enc)
        leaves = self.forest_.apply(self.featurizer_._ordinal(enc))
        return self._neighbors(qn, leaves, n_neighbors or self.n_neighbors, codeless=codeless, size=size)

    def _queries(self, X: np.ndarray, enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit rows of X, which rows came without a familiar code, their size scores).

        A codeless row's code columns are zero, so it is normalised over its attributes alone; its
        size score is taken as if its code had the usual weight (training rows are normalised with
        their code), so its leaf mates are of its own size."""
        f = self.featurizer_
        qn = _normalise_rows(X)
        codeless = f.codeless(enc)
        size_rows = qn
        if codeless.any() and f.code_cols_:
            code_norm2 = sum(float(f.column_weight_[f.blocks_[c][0]]) ** 2 for c in f.code_cols_ if c in f.blocks_)
            norm = np.sqrt((X.astype(np.float64) ** 2).sum(axis=1) + np.where(codeless, code_norm2, 0.0))
            size_rows = np.where(codeless[:, None], X / np.maximum(norm, 1e-12)[:, None], qn)
        return qn, codeless, self._size_score(size_rows)

    def _neighbors(self, q: np.ndarray, leaves: np.ndarray, k: int, exclude: np.ndarray | None = None,
                   codeless: np.ndarray | None = None, size: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar (cosine) of the training items sharing a leaf with each query.

        The forest's leaves are where items with the same steps live, so the search is over a few
        dozen items per query instead of all of them (no n x n similarity matrix). Queries marked
        `codeless` (no familiar item code) are compared on the attributes alone.
        """
        n = len(q)
        qi, items = self.forest_.mates(leaves, self._size_score(q) if size is None else size, MATE_WINDOW)
        if exclude is not None:
            keep = items != exclude[qi]
            qi, items = qi[keep], items[keep]
        sims = np.empty(len(qi), dtype=np.float32)
        step = 1 << 18
        for a in range(0, len(qi), step):
            sims[a : a + step] = np.einsum("ij,ij->i", q[qi[a : a + step]], self.X_[items[a : a + step]])
        sims = self._attribute_similarity(sims, items, None if codeless is None else codeless[qi])
        order = np.lexsort((-sims, qi))
        qi, items, sims = qi[order], items[order], sims[order]
        first = np.searchsorted(qi, np.arange(n))
        rank = np.arange(len(qi)) - first[qi]
        keep = rank < k
        idx = np.full((n, k), -1, dtype=np.int64)
        sim = np.zeros((n, k), dtype=np.float32)
        idx[qi[keep], rank[keep]] = items[keep]
        sim[qi[keep], rank[keep]] = sims[keep]
        return idx, np.clip(sim, 0.0, 1.0)

    def _attribute_similarity(self, sims: np.ndarray, items: np.ndarray, codeless: np.ndarray | bool | None
                              ) -> np.ndarray:
        """Cosine similarities of queries without a familiar code (whose code columns are zero)
        to training `items`, rescaled to the items' attribute columns alone."""
        norm = getattr(self, "attr_norm_", None)
        if norm is None or codeless is None or not np.any(codeless):
            return sims
        return np.where(codeless, sims / np.maximum(norm[items], 1e-6), sims).astype(sims.dtype)

    def predict(self, items: pd.DataFrame, top_k: int | None = None, ignore_history: bool = False) -> list[ItemPrediction]:
        """Ranked candidate routings for each item (one row per item; long form accepted)."""
        self._check_fitted()
        top_k = max(1, int(top_k or self.top_k))
        frame = self._query_frame(items)
        out: list[ItemPrediction] = []
        for start in range(0, len(frame), BATCH):
            out.extend(self._predict_batch(frame.iloc[start : start + BATCH], top_k, ignore_history))
        return out

    def _predict_batch(self, frame: pd.DataFrame, top_k: int, ignore_history: bool) -> list[ItemPrediction]:
        codes = frame[ITEM].tolist()
        enc = self.featurizer_.encode(frame)
        X = self.featurizer_._dense(enc)
        Xo = self.featurizer_._ordinal(enc)
        self_idx = np.array([self.item_index_.get(c, -1) for c in codes]) if ignore_history else None
        leaves = self.forest_.apply(Xo)
        qn, codeless, size = self._queries(X, enc)
        nn_idx, nn_sim = self._neighbors(qn, leaves, self.n_neighbors, exclude=self_idx, codeless=codeless,
                                         size=size)
        Z = self.featurizer_.imputation_design(enc)[0]
        linear = np.clip(Z @ self.linear_coef_ + self.linear_intercept_, LINEAR_CLIP, 1 - LINEAR_CLIP)
        # Blank attributes are tried with their likely values; a blank code is not (the trees learned
        # where an item without one goes, _code_dropout).
        blank = np.column_stack([(enc.cat[c] == BLANK) & (c not in self.featurizer_.code_cols_)
                                 for c in self.featurizer_.categorical_]) \
            if self.featurizer_.categorical_ else np.zeros((len(frame), 0), dtype=bool)
        exp_rows, exp_X, exp_w = self._expand_missing(Xo, nn_idx, Z, blank, enc)
        vote, exp_leaves = self.forest_.vote(exp_X)
        if self_idx is not None and (self_idx >= 0).any():
            vote = self._drop_self_votes(vote, exp_leaves, self_idx[exp_rows])
        vote = self._trust_recurring(vote)
        forest_p = np.clip(np.asarray((vote @ self.routing_token_matrix_).todense()), 1e-4, 1 - 1e-4)
        # The experts' log-odds, weighted as learned: the additive model decides where the forest
        # is split (combinations it never saw), the forest and the step trees where they are sure.
        trees_p = self._step_tree_probabilities(exp_X, fallback=linear[exp_rows])
        probs = self._combine(forest_p, linear[exp_rows], trees_p)
        familiar = self.featurizer_.familiarity(enc)
        evidence = self._batch_evidence(nn_idx)
        evidence["model"] = self._duration_estimates(Z)
        groups = None
        if self.group_column_ is not None and self.group_column_ in enc.cat:
            names = self.featurizer_.categories_[self.group_column_]
            groups = [names[c] if c >= 0 else None for c in enc.cat[self.group_column_].tolist()]
        bounds = np.searchsorted(exp_rows, np.arange(len(frame) + 1))
        order_cache: dict[frozenset, list[int]] = {}  # step orders of composed sets, this batch
        out = []
        for i, code in enumerate(codes):
            lo, hi = bounds[i], bounds[i + 1]
            votes = []
            for e in range(lo, hi):
                a, b = vote.indptr[e], vote.indptr[e + 1]
                votes.append(dict(zip(vote.indices[a:b].tolist(), vote.data[a:b].tolist(), strict=True)))
            near = self._neighbour_vote(nn_idx[i], nn_sim[i])
            if near:
                votes = [{r: (1 - KNN_SHARE) * votes_e.get(r, 0.0) + KNN_SHARE * near.get(r, 0.0)
                          for r in votes_e.keys() | near.keys()} for votes_e in votes]
            scored = self._rank_candidates(probs[lo:hi], votes, exp_w[lo:hi], top_k, order_cache)
            group = None if groups is None else groups[i]
            out.append(self._assemble(i, code, scored, nn_idx[i], nn_sim[i], evidence, group, top_k,
                                      ignore_history, float(familiar[i]), qn[i], bool(codeless[i])))
        return out

    def _combine(self, forest_p: np.ndarray, linear_p: np.ndarray, trees_p: np.ndarray) -> np.ndarray:
        """Step presence probabilities: the experts' log-odds weighted as learned (_fit_stacker)."""
        F = self._expert_logits(np.stack([forest_p, linear_p, trees_p]))
        w = getattr(self, "stack_weights_", np.array([0.0, 1.0, 1.0, 1.0, -2.0]))
        logit = w[0] + np.tensordot(w[1:], F, axes=1)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))

    def _trust_recurring(self, vote, counts: np.ndarray | None = None):
        """Votes re-weighted by how established each routing is (count / (count + c)): a routing
        seen once may be a one-off plant variant and speaks with less weight."""
        from scipy import sparse

        if VOTE_PRIOR_COUNT <= 0:
            return vote
        counts = self.routing_count_ if counts is None else counts
        w = counts / (counts + VOTE_PRIOR_COUNT)
        vote = sparse.csr_matrix(vote.multiply(w[None, :].astype(np.float32)))
        total = np.asarray(vote.sum(axis=1)).ravel()
        return sparse.csr_matrix(sparse.diags(np.where(total > 0, 1.0 / np.maximum(total, 1e-12), 0.0)) @ vote)

    def _neighbour_vote(self, nn_idx: np.ndarray, nn_sim: np.ndarray) -> dict[int, float]:
        """Routings of the most similar items, weighted sharply by similarity (an identical item
        counts far more than a merely close one); shares sum to 1."""
        ok = nn_idx >= 0
        if not ok.any():
            return {}
        weights = np.power(np.clip(nn_sim[ok].astype(np.float64), 1e-6, 1.0), KNN_SHARPNESS)
        if VOTE_PRIOR_COUNT > 0:
            counts = self.routing_count_[self.item_routing_[nn_idx[ok]]]
            weights = weights * counts / (counts + VOTE_PRIOR_COUNT)
        total = weights.sum()
        out: dict[int, float] = {}
        for r, w in zip(self.item_routing_[nn_idx[ok]].tolist(), (weights / total).tolist(), strict=True):
            out[r] = out.get(r, 0.0) + w
        return out

    def _expand_missing(self, Xo: np.ndarray, nn_idx: np.ndarray, Z: np.ndarray | None = None,
                        blank: np.ndarray | None = None, enc: Encoded | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows to vote with: an item with a blank category is asked once per likely value.

        The values and their weights come from the attribute's model (_value_shares; else the
        item's most similar training items, else the overall shares), so a blank option counts as
        what it most likely is. At most MAX_IMPUTED_VALUES values of at least MIN_IMPUTED_SHARE per
        attribute, and MAX_IMPUTED_ROWS rows per item; the kept weights sum to 1.
        """
        n = len(Xo)
        n_num = len(self.featurizer_.numeric_)
        cat = Xo[:, n_num : n_num + len(self.featurizer_.categorical_)]
        if cat.shape[1] == 0 or not (np.isnan(cat) & (blank if blank is not None else True)).any():
            return np.arange(n), Xo, np.ones(n)
        logs = self._log_sizes(enc) if enc is not None and getattr(self, "size_evidence_", None) else None
        rows, xs, ws = [], [], []
        for i in range(n):
            # Only blank cells: a value never seen in training is new, not unknown.
            missing = np.flatnonzero(np.isnan(cat[i]) & (blank[i] if blank is not None else True))
            if len(missing) == 0:
                rows.append(i)
                xs.append(Xo[i])
                ws.append(1.0)
                continue
            combos: list[tuple[dict[int, float], float]] = [({}, 1.0)]
            for j in missing:
                v, share = self._value_shares(i, j, Z, enc, logs, nn_idx[i])
                keep = np.argsort(-share)[:MAX_IMPUTED_VALUES]
                keep = keep[share[keep] >= MIN_IMPUTED_SHARE] if (share[keep] >= MIN_IMPUTED_SHARE).any() else keep[:1]
                total = share[keep].sum()
                combos = [
                    ({**assign, int(j): float(v[k])}, w * float(share[k] / total))
                    for assign, w in combos
                    for k in keep
                ]
                combos = sorted(combos, key=lambda aw: -aw[1])[:MAX_IMPUTED_ROWS]
            total = sum(w for _, w in combos)
            for assign, w in combos:
                x = Xo[i].copy()
                for j, value in assign.items():
                    self.featurizer_.set_category(x, j, value)
                rows.append(i)
                xs.append(x)
                ws.append(w / total)
        return np.asarray(rows), np.vstack(xs), np.asarray(ws)

    def _value_shares(self, i: int, j: int, Z: np.ndarray | None, enc: Encoded | None,
                      logs: np.ndarray | None, nn_row: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, shares) that blank categorical j of item i may stand for: the attribute's
        model, else the values of the most similar training items, else the overall shares."""
        if Z is not None and IMPUTE_MODE == "model":
            sizes = getattr(self, "size_evidence_", {})
            group = sizes[j][0] if logs is not None and j in sizes else None
            code = int(enc.cat[group][i]) if group is not None and group in enc.cat else -1
            learned = self._impute_probabilities(Z[i], j, None if logs is None else logs[i], code)
            if learned is not None:
                return learned
        values = np.zeros(0, dtype=np.int16)
        if nn_row is not None:
            values = self.train_cat_[nn_row[nn_row >= 0], j]
            values = values[values >= 0]
        if len(values):
            v, c = np.unique(values, return_counts=True)
            return v.astype(np.float64), c / c.sum()
        return self.cat_values_[j], self.cat_share_[j]

    def reading(self) -> dict:
        """What the fitted model reads (ItemFeaturizer.reading) and the process codes it pooled."""
        self._check_fitted()
        pooled = list(getattr(self, "pooled_processes_", []))
        return {**self.featurizer_.reading(), "pooled_process_codes": len(pooled),
                "pooled_as": getattr(self, "pooled_as_", None), "process_codes": len(self.processes_)}

    def text_reading(self, items: pd.DataFrame) -> pd.DataFrame:
        """What the model reads in each item's free-text attributes: the learned words its text
        holds and the numbers after learned keys (item_code, attribute, words, numbers)."""
        self._check_fitted()
        return self.featurizer_.words(self._query_frame(items))

    def likely_values(self, items: pd.DataFrame, limit: int = 3) -> pd.DataFrame:
        """What a prediction takes each blank attribute of each item to be: one row per (item,
        attribute, value) with the weight the prediction gives the value, the likeliest `limit`
        values, likeliest first. (An item predicted from its own history weighs nothing.)"""
        self._check_fitted()
        frame = self._query_frame(items)
        columns = [ITEM, "attribute", "value", "probability"]
        f = self.featurizer_
        out = []
        for start in range(0, len(frame), BATCH):
            part = frame.iloc[start : start + BATCH]
            enc = f.encode(part)
            if not any((enc.cat[c] == BLANK).any() for c in f.categorical_ if c in f.attributes_):
                continue
            X, Xo = f._dense(enc), f._ordinal(enc)
            qn, codeless, size = self._queries(X, enc)
            nn_idx, _ = self._neighbors(qn, self.forest_.apply(Xo), self.n_neighbors, codeless=codeless, size=size)
            blank = np.column_stack([(enc.cat[c] == BLANK) & (c not in f.code_cols_) for c in f.categorical_])
            rows, xs, ws = self._expand_missing(Xo, nn_idx, f.imputation_design(enc)[0], blank, enc)
            n_num = len(f.numeric_)
            for j, col in enumerate(f.categorical_):
                if col not in f.attributes_:
                    continue
                names = f.categories_[col]
                for i in np.flatnonzero(blank[:, j]):
                    mine = rows == i
                    weight = pd.Series(ws[mine]).groupby(xs[mine, n_num + j].astype(int)).sum()
                    for code, w in weight.sort_values(ascending=False).head(limit).items():
                        out.append((part[ITEM].iloc[i], col, names[int(code)], float(w)))
        return pd.DataFrame(out, columns=columns)

    def _drop_self_votes(self, vote, exp_leaves: np.ndarray, self_rows: np.ndarray):
        """Votes without the queried item's own (for ignore_history on a training item)."""
        from scipy import sparse

        rows = np.flatnonzero(self_rows >= 0)
        leaves = exp_leaves[rows]
        own = self.forest_.train_leaves_[self_rows[rows]]
        vote = vote.tolil()
        n_trees = leaves.shape[1]
        for k, e in enumerate(rows):
            item = int(self_rows[e])
            r = int(self.item_routing_[item])
            acc = np.zeros(len(self.routings_), dtype=np.float64)
            for t in range(n_trees):
                leaf = leaves[k, t]
                a, b = self.forest_.leaf_counts_.indptr[leaf], self.forest_.leaf_counts_.indptr[leaf + 1]
                idx = self.forest_.leaf_counts_.indices[a:b]
                cnt = self.forest_.leaf_counts_.data[a:b].astype(np.float64).copy()
                if leaf == own[k, t]:
                    cnt[idx == r] -= 1.0
                total = cnt.sum()
                if total > 0:
                    acc[idx] += cnt / total
            s = acc.sum()
            vote[e, :] = sparse.csr_matrix(acc / s if s > 0 else acc)
        return vote.tocsr()

    def _rank_candidates(self, probs: np.ndarray, votes: list[dict[int, float]], weights: np.ndarray,
                         top_k: int, cache: dict | None = None) -> list[tuple[float, list[int], int | None]]:
        """Candidate routings scored by the forest's vote for whole routings blended with the
        joint probability of their steps.

        Candidates: the routings of the leaf mates, and step sets composed from step
        probabilities (the most likely set and its variants on the least certain steps), which
        may be routings never seen whole. With several imputed rows (blank attributes), scores
        are their weighted mix.
        """
        p = np.clip(probs, 1e-4, 1 - 1e-4)
        lp1, lp0 = np.log(p), np.log1p(-p)
        base = lp0.sum(axis=1)
        gain = lp1 - lp0
        pool: dict[tuple[int, ...], int | None] = {}
        for e in range(len(p)):
            for r, _ in sorted(votes[e].items(), key=lambda kv: -kv[1])[:MAX_VOTED]:
                pool.setdefault(tuple(self.routing_token_lists_[r]), r)
            best = frozenset(np.flatnonzero(p[e] >= 0.5).tolist())
            unsure = [int(t) for t in np.argsort(np.abs(p[e] - 0.5))[:MAX_UNSURE] if 0.02 < p[e, t] < 0.98]
            proposals = [best] + [best ^ {t} for t in unsure]
            proposals += [best ^ {a, b} for j, a in enumerate(unsure) for b in unsure[j + 1 :]]
            for s in proposals:
                if not s or not self._consistent(s):
                    continue
                routing = self.routing_by_set_.get(s)
                pool.setdefault(tuple(self._order(s, routing, cache)), routing)
        keys = list(pool)
        incidence = np.zeros((len(keys), p.shape[1]))
        order_p = np.ones(len(keys))
        for c, toks in enumerate(keys):
            incidence[c, list(toks)] = 1.0
            r = pool[toks]
            if r is not None:  # how often this set of steps comes in this order
                order_p[c] = self.routing_count_[r] / self.set_count_[r]
        joint = np.exp(base[None, :] + incidence @ gain.T) * order_p[:, None]  # candidates x rows
        voted = np.array([[votes[e].get(pool[k], 0.0) if pool[k] is not None else 0.0
                           for e in range(len(p))] for k in keys])
        w = self.vote_weight
        score = (w * voted + (1 - w) * joint) @ weights
        order = np.argsort(-score, kind="stable")[: top_k * 2 + 2]
        return [(float(score[c]), list(keys[c]), pool[keys[c]]) for c in order]

    def _assemble(self, i, code, scored, nn_idx, nn_sim, evidence, group, top_k, ignore_history,
                  familiar, query, codeless=False) -> ItemPrediction:
        candidates: list[Candidate] = []
        known = not ignore_history and code in self.item_index_
        if known:
            candidates.append(self._known_candidate(self.item_index_[code]))
        best_sim = float(nn_sim[0]) if len(nn_sim) else 0.0
        # Nothing similar enough and most of the item's values unknown to training: fall back. An
        # item whose values are known is answered by the model even when no single training item
        # is close (a new combination of known options), however unsure: the group's most frequent
        # routing was right less often than the model's candidate on such items.
        fallback = not known and best_sim < self.similarity_threshold and familiar < FAMILIAR_SHARE
        message = "Known item: candidate 1 is its routing in the training data." if known else ""
        scale = 1.0
        if not known and not fallback and getattr(self, "baseline_leads_", False):
            lead = self._baseline_candidate(i, nn_idx, nn_sim, evidence)
            candidates.append(lead)
            message = lead.note
        if fallback:
            fb = self._fallback_candidate(i, group, best_sim, query, evidence, codeless)
            candidates.append(fb)
            message = fb.note
            scale = fb.score
        valid = nn_idx >= 0
        nb = (nn_idx[valid], self.item_routing_[nn_idx[valid]], nn_sim[valid])
        seen = {tuple(c.processes) for c in candidates}
        for score, toks, routing in scored:
            if len(candidates) >= top_k:
                break
            procs = tuple(self.processes_[self.token_process_[t]] for t in toks)
            if procs in seen:
                continue
            seen.add(procs)
            refs, exact = self._references(toks, routing, nb, exclude=str(code) if known else None)
            note = "" if exact or not refs else (
                "No similar item has exactly this routing: the reference items share most of its steps.")
            candidates.append(self._candidate(i, toks, score * scale, refs, evidence, "model", note))
        for rank, c in enumerate(candidates, start=1):
            c.rank = rank
        return ItemPrediction(str(code), candidates[:top_k], known, fallback, message)

    def _consistent(self, tokens: frozenset) -> bool:
        """A step's n-th occurrence needs its (n-1)-th."""
        for t in tokens:
            o = self.token_occurrence_[t]
            if o and self.token_lookup_.get((int(self.token_process_[t]), int(o) - 1)) not in tokens:
                return False
        return True

    def _order(self, tokens: frozenset, routing: int | None, cache: dict | None = None) -> list[int]:
        """The steps in order: as trained for a known set of steps, else by learned precedence
        (how often each step came before each other one; their mean position where two never met)."""
        if routing is not None:
            return list(self.routing_token_lists_[routing])
        if cache is not None and tokens in cache:
            return cache[tokens]
        toks = np.fromiter(tokens, dtype=np.int64)
        before = self.before_[np.ix_(toks, toks)]
        met = before + before.T
        pos = self.token_position_[toks]
        earlier = (pos[:, None] < pos[None, :]).astype(np.float64)
        share = np.where(met > 0, before / np.where(met > 0, met, 1.0), earlier)
        np.fill_diagonal(share, 0.0)
        ordered = toks[np.lexsort((pos, -share.sum(axis=1)))].tolist()
        # Repeated processes keep their occurrence order.
        by_proc: dict[int, list[int]] = {}
        for t in ordered:
            by_proc.setdefault(int(self.token_process_[t]), []).append(t)
        for p, lst in by_proc.items():
            by_proc[p] = sorted(lst, key=lambda t: self.token_occurrence_[t])
        cursor = dict.fromkeys(by_proc, 0)
        out = []
        for t in ordered:
            p = int(self.token_process_[t])
            out.append(by_proc[p][cursor[p]])
            cursor[p] += 1
        if cache is not None:
            cache[tokens] = out
        return out

    def _batch_evidence(self, nn_idx: np.ndarray) -> dict:
        """Per (query, step): median and p10–p90 time, and most common operation attributes,
        over the query's most similar training items that have the step."""
        B, k = nn_idx.shape
        n_tokens = len(self.tokens_)
        flat = nn_idx.ravel()
        valid = flat >= 0
        items = flat[valid]
        starts = self.item_ptr_[items]
        lens = self.item_ptr_[items + 1] - starts
        rows = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        q = np.repeat(np.repeat(np.arange(B), k)[valid], lens)
        key = q.astype(np.int64) * n_tokens + self.row_token_[rows]
        d = self.row_duration_[rows]
        order = np.lexsort((d, key))  # NaN sorts last within a key
        key_s, d_s = key[order], d[order]
        uniq, first, count = np.unique(key_s, return_index=True, return_counts=True)
        n_valid = np.add.reduceat(~np.isnan(d_s), first) if len(first) else np.array([], dtype=int)
        stats = np.full((len(uniq), 3), np.nan)
        has = n_valid > 0
        for col, qtl in enumerate((0.5, 0.1, 0.9)):
            pos = qtl * (n_valid[has] - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.ceil(pos).astype(np.int64)
            a = d_s[first[has] + lo]
            b = d_s[first[has] + hi]
            stats[has, col] = a + (pos - lo) * (b - a)
        ops: dict[str, np.ndarray] = {}
        for col, codes in self.row_op_.items():
            c = codes[rows].astype(np.int64)
            ok = c >= 0
            mode = np.full(len(uniq), -1, dtype=np.int64)
            if ok.any():
                n_vals = len(self.op_values_[col]) + 1
                pair = key[ok] * n_vals + c[ok]
                pv, pc = np.unique(pair, return_counts=True)
                o = np.lexsort((-pc, pv // n_vals))
                pv, pc = pv[o], pc[o]
                firsts = np.r_[True, (pv[1:] // n_vals) != (pv[:-1] // n_vals)]
                grp = pv[firsts] // n_vals
                mode[np.searchsorted(uniq, grp)] = pv[firsts] % n_vals
            ops[col] = mode
        stats_l = [[None if np.isnan(x) else float(x) for x in row] for row in stats.tolist()]
        cols = list(ops)
        values = [[self.op_values_[c][v] if v >= 0 else None for v in ops[c].tolist()] for c in cols]
        entries = {}
        for j, key_ in enumerate(uniq.tolist()):
            entries[key_] = (stats_l[j], {c: values[m][j] for m, c in enumerate(cols)})
        return {"entries": entries, "n_tokens": n_tokens}

    def _fit_step_defaults(self) -> None:
        """Per step token: overall time statistics and most common operation attributes."""
        self.step_defaults_ = []
        for t in range(len(self.tokens_)):
            stats = self.token_duration_[t]
            if np.isnan(stats[0]):
                stats = self.process_duration_[self.token_process_[t]]
            attrs = {}
            for col, values in self.op_values_.items():
                code = int(self.token_op_mode_[col][t])
                attrs[col] = values[code] if code >= 0 else None
            self.step_defaults_.append(([_none_if_nan(float(x)) for x in stats], attrs))

    def _step(self, i: int, seq: int, token: int, evidence: dict) -> Step:
        default_stats, default_attrs = self.step_defaults_[token]
        entry = evidence["entries"].get(i * evidence["n_tokens"] + token)
        if entry is None:
            stats, attrs = default_stats, dict(default_attrs)
        else:
            stats = entry[0] if entry[0][0] is not None else default_stats
            attrs = {c: (v if v is not None else default_attrs[c]) for c, v in entry[1].items()}
        modelled = evidence.get("model")
        proc = int(self.token_process_[token])
        if modelled is not None and i >= 0 and not np.isnan(modelled[i, proc, 0]):
            mid, low, high = modelled[i, proc].tolist()
            if DURATION_MODE == "blend" and entry is not None and entry[0][0] is not None:
                # the similar items' median and the model's estimate: a geometric mean
                mid = float(np.sqrt(max(mid, 0.0) * max(entry[0][0], 0.0)))
                low, high = min(low, entry[0][1], mid), max(high, entry[0][2], mid)
            if DURATION_MODE != "neighbours":
                stats = [mid, min(low, mid), max(high, mid)]
        return Step(seq, self.processes_[proc], stats[0], stats[1], stats[2], attrs)

    def _candidate(self, i: int, toks, score, refs, evidence, kind, note) -> Candidate:
        steps = [self._step(i, 10 * (j + 1), t, evidence) for j, t in enumerate(toks)]
        durations = [s.duration_min for s in steps if s.duration_min is not None]
        total = float(sum(durations)) if durations else None
        return Candidate(0, float(min(max(score, 0.0), 1.0)), steps, total, refs, kind, note)

    def _references(self, toks, routing, nb, exclude: str | None = None) -> tuple[list[tuple[str, float]], bool]:
        """The similar items with this routing, most similar first, and True; when none has it
        (a composed routing), those sharing most of its steps, and False. `exclude` is the item
        asked about (its own routing is another candidate)."""
        idx, routings, sims = nb
        if routing is not None:
            found = [(str(self.items_[idx[j]]), round(float(sims[j]), 4)) for j in np.flatnonzero(routings == routing)]
            found = [(c, v) for c, v in found if c != exclude]
            if found:
                return found[: self.n_neighbors], True
        target = frozenset(toks)
        scored = []
        for j in range(len(idx)):
            other = self.routing_tokens_[routings[j]]
            overlap = len(target & other) / max(len(target | other), 1)
            if overlap < 0.5:
                continue
            code = str(self.items_[idx[j]])
            if code != exclude:
                scored.append((overlap * float(sims[j]), code, float(sims[j])))
        best = sorted(scored, reverse=True)[: self.n_neighbors]
        return [(c, round(s, 4)) for _, c, s in sorted(best, key=lambda t: -t[2])], False

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

    def _baseline_candidate(self, i: int, nn_idx: np.ndarray, nn_sim: np.ndarray, evidence: dict) -> Candidate:
        """The most frequent routing, leading the candidates of a model that did not beat it on
        held-out items (_baseline_trial)."""
        trial = self.baseline_trial_
        routing = self.top_routing_
        toks = self._order(self.routing_tokens_[routing], routing)
        valid = nn_idx >= 0
        refs, _ = self._references(toks, routing, (nn_idx[valid], self.item_routing_[nn_idx[valid]], nn_sim[valid]))
        note = (
            "The most frequent routing leads: on items held out in training, the model's first "
            f"candidates were no closer to the recorded routings (sequence similarity "
            f"{trial['model_similarity']:.2f} against {trial['most_frequent_similarity']:.2f}). "
            "The attributes say little about the routing; the model's candidates follow."
        )
        share = float(self.routing_count_[routing] / max(self.n_items_, 1))
        return self._candidate(i, toks, share, refs, evidence, "baseline", note)

    def _fallback_candidate(self, i: int, group, best_sim: float, query: np.ndarray, evidence: dict,
                            codeless: bool = False) -> Candidate:
        """The most frequent routing of the item's group (else overall), with a low score."""
        key = None if group is None or (isinstance(group, float) and math.isnan(group)) else str(group)
        if key is not None and key in self.group_routing_:
            routing, n = self.group_routing_[key]
            where = f"the most frequent routing of items with {_group_words(self.group_column_, key)} ({n} items)"
        else:
            routing = self.top_routing_
            where = f"the most frequent routing overall ({int(self.routing_count_[routing])} items)"
        note = (
            f"No training item is similar enough (best similarity {best_sim:.2f} < "
            f"{self.similarity_threshold:.2f}); proposing {where}."
        )
        toks = self._order(self.routing_tokens_[routing], routing)
        score = 0.25 * max(best_sim, 0.0) + 0.05
        members = np.flatnonzero(self.item_routing_ == routing)[:FALLBACK_REFERENCE_POOL]
        sims = np.clip(self._attribute_similarity(self.X_[members] @ query, members, codeless), 0.0, 1.0)
        best = np.argsort(-sims, kind="stable")[:3]
        refs = [(str(self.items_[members[j]]), round(float(sims[j]), 4)) for j in best]
        return self._candidate(i, toks, score, refs, evidence, "fallback", note)

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
    fixed = {ITEM, "rank", "score", "kind", SEQ, PROCESS, DURATION, "duration_low", "duration_high",
             "references", "note"}
    # An operation attribute that shares a name with an output field gets its own column name.
    out_name = {col: f"{col} (attribute)" if col in fixed else col for col in operation_attributes}
    rows = []
    for pred in predictions:
        for c in pred.candidates:
            refs = "; ".join(f"{code} ({sim:.2f})" for code, sim in c.references)
            for s in c.steps:
                row = {
                    ITEM: pred.item_code, "rank": c.rank, "score": round(c.score, 4), "kind": c.kind,
                    SEQ: s.seq, PROCESS: s.process_code, DURATION: _minutes(s.duration_min),
                    "duration_low": _minutes(s.duration_low), "duration_high": _minutes(s.duration_high),
                }
                for col in operation_attributes:
                    row[out_name[col]] = s.attributes.get(col)
                row["references"] = refs
                row["note"] = c.note
                rows.append(row)
    columns = [ITEM, "rank", "score", "kind", SEQ, PROCESS, DURATION, "duration_low", "duration_high",
               *out_name.values(), "references", "note"]
    return pd.DataFrame(rows, columns=columns)


def _minutes(value: float | None) -> float | None:
    """A time for a table: to the thousandth of a minute (estimates carry no more)."""
    return None if value is None else round(float(value), 3)


# At least this share of a batch falling back says the file is unlike the training data.
FALLBACK_ALERT_SHARE = 0.5


def batch_warnings(model: RoutingModel, items: pd.DataFrame, predictions: pd.DataFrame) -> list[str]:
    """What makes a batch's predictions weak, in words: attributes the model learned from that
    the file lacks, and most items falling back (a file from elsewhere, or mapped otherwise)."""
    warnings = []
    learned = [c for c in getattr(model, "item_attributes_", []) if c != ITEM]
    absent = [c for c in learned if c not in items.columns]
    if learned and len(absent) == len(learned):
        warnings.append(
            f"The file holds none of the attributes this version learned from ({_some(learned)}): "
            "the predictions rest on the item codes alone."
        )
    elif absent:
        warnings.append(
            f"The file lacks {len(absent)} of the {len(learned)} attributes this version learned from "
            f"({_some(absent)}): they count as blank for every item."
        )
    firsts = predictions[predictions["rank"] == 1].drop_duplicates(ITEM)
    fallback = int((firsts["kind"] == "fallback").sum())
    if len(firsts) and fallback / len(firsts) >= FALLBACK_ALERT_SHARE:
        warnings.append(
            f"{fallback:,} of {len(firsts):,} items are unlike every training item and got the most "
            "frequent routing of their group: is the file from another plant, or are its columns "
            "named differently?"
        )
    return warnings


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class LeafForest:
    """Randomised multi-output trees on step presence; what is kept is only their structure.

    Each tree splits items so that the steps they need agree; the training items that share a
    leaf with a query vote for their routings (a supervised neighbourhood). Only split
    structure is stored (compact arrays), not scikit-learn's per-node output values, so the
    model stays small whatever the number of steps.
    """

    def __init__(self, n_estimators: int = 20, min_samples_leaf: int = 2, max_features: float = 0.7,
                 max_samples: float = 0.8, min_split_gain: float = 0.0, random_state: int = 0,
                 n_jobs: int | None = None) -> None:
        self.n_estimators = n_estimators
        self.min_split_gain = min_split_gain
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_samples = max_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, Y: np.ndarray, labels: np.ndarray, n_labels: int,
            order: np.ndarray | None = None) -> LeafForest:
        """Grow the trees on (X, Y) and keep, per leaf, the counts of `labels` of the items in it.

        `order` (values in [0, 1), one per row) sorts the items inside each leaf, so that the
        leaf mates of a query can be taken near its own value (e.g. a size score).
        """
        from joblib import Parallel, delayed
        from sklearn.tree import DecisionTreeRegressor

        X = np.ascontiguousarray(X, dtype=np.float32)
        Y = np.ascontiguousarray(Y, dtype=np.float32)
        n = len(X)
        if X.shape[1] == 0:  # no usable feature: every tree is one leaf holding every item
            X = np.zeros((n, 1), dtype=np.float32)
        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, 2**31 - 1, size=self.n_estimators)
        size = max(2, int(round(self.max_samples * n))) if n > 2 else n

        def grow(seed: int):
            r = np.random.default_rng(seed)
            rows = np.sort(r.choice(n, size=size, replace=False)) if size < n else np.arange(n)
            tree = DecisionTreeRegressor(
                min_samples_leaf=self.min_samples_leaf,
                # In items' worth of one output's variance: a split must explain more than
                # min_split_gain items whose single step disagrees (keeps lone noise out).
                min_impurity_decrease=self.min_split_gain / (len(rows) * max(Y.shape[1], 1)),
                max_features=self.max_features if X.shape[1] > 1 else None,
                random_state=int(seed),
            ).fit(X[rows], Y[rows])
            t = tree.tree_
            return (t.children_left.astype(np.int32), t.children_right.astype(np.int32),
                    t.feature.astype(np.int32), t.threshold.astype(np.float64),
                    np.asarray(t.missing_go_to_left, dtype=bool), tree.apply(X).astype(np.int64))

        jobs = self.n_jobs if self.n_jobs is not None else min(2, os.cpu_count() or 1)
        parts = Parallel(n_jobs=jobs, prefer="threads")(delayed(grow)(int(s)) for s in seeds)
        sizes = np.array([len(p[0]) for p in parts])
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        offsets = self.offsets_
        self.left_ = np.concatenate([np.where(p[0] >= 0, p[0] + o, -1) for p, o in zip(parts, offsets, strict=True)])
        self.right_ = np.concatenate([np.where(p[1] >= 0, p[1] + o, -1) for p, o in zip(parts, offsets, strict=True)])
        self.feature_ = np.concatenate([np.maximum(p[2], 0) for p in parts]).astype(np.int32)
        self.threshold_ = np.concatenate([p[3] for p in parts])
        self.missing_left_ = np.concatenate([p[4] for p in parts])
        self.is_leaf_ = self.left_ < 0
        self.n_nodes_ = int(sizes.sum())
        leaves = np.column_stack([p[5] + o for p, o in zip(parts, offsets, strict=True)])
        del parts
        self.train_leaves_ = leaves.astype(np.int32)
        from scipy import sparse

        flat = leaves.ravel()
        cols = np.repeat(labels.astype(np.int64), leaves.shape[1])
        counts = sparse.csr_matrix(
            (np.ones(len(flat), dtype=np.float32), (flat, cols)), shape=(self.n_nodes_, n_labels)
        )
        counts.sum_duplicates()
        self.leaf_counts_ = counts
        size_per_leaf = np.asarray(counts.sum(axis=1)).ravel()
        inv = np.where(size_per_leaf > 0, 1.0 / np.maximum(size_per_leaf, 1), 0.0)
        self.leaf_dist_ = sparse.csr_matrix(sparse.diags(inv.astype(np.float32)) @ counts)
        # The training items of each leaf sorted by `order`, for finding an item's leaf mates.
        u = np.zeros(n) if order is None else np.clip(np.asarray(order, dtype=np.float64), 0, 0.999999)
        key = flat.astype(np.float64) + np.repeat(u, leaves.shape[1])
        sort = np.argsort(key, kind="stable")
        self.leaf_key_ = key[sort]
        self.leaf_items_ = (sort // leaves.shape[1]).astype(np.int32)
        self.leaf_ptr_ = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=self.n_nodes_))])
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Global leaf id of each row in each tree (n x n_estimators)."""
        X = np.asarray(X, dtype=np.float32)
        n, t = len(X), len(self.offsets_)
        node = np.tile(self.offsets_, n)
        active = np.flatnonzero(~self.is_leaf_[node])
        while len(active):
            nd = node[active]
            v = X[active // t, self.feature_[nd]]
            go_left = np.where(np.isnan(v), self.missing_left_[nd], v <= self.threshold_[nd])
            nxt = np.where(go_left, self.left_[nd], self.right_[nd])
            node[active] = nxt
            active = active[~self.is_leaf_[nxt]]
        return node.reshape(n, t)

    def mates(self, leaves: np.ndarray, order: np.ndarray | None = None, window: int = 8
              ) -> tuple[np.ndarray, np.ndarray]:
        """(query, training item) pairs sharing a leaf, deduplicated: per leaf at most `window`
        items, those nearest the query's `order` value."""
        n, t = leaves.shape
        flat = leaves.ravel()
        u = np.zeros(n) if order is None else np.clip(np.asarray(order, dtype=np.float64), 0, 0.999999)
        lo_b, hi_b = self.leaf_ptr_[flat], self.leaf_ptr_[flat + 1]
        at = np.searchsorted(self.leaf_key_, flat + np.repeat(u, t))
        start = np.clip(at - window // 2, lo_b, np.maximum(hi_b - window, lo_b))
        stop = np.minimum(start + window, hi_b)
        lens = stop - start
        pos = np.repeat(start - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        items = self.leaf_items_[pos].astype(np.int64)
        width = int(items.max(initial=0)) + 1
        key = np.unique(np.repeat(np.repeat(np.arange(n), t), lens).astype(np.int64) * width + items)
        return key // width, key % width

    def vote(self, X: np.ndarray):
        """(votes, leaves): share of the trees' leaf mates per label (sparse n x n_labels, rows sum
        to 1), and the leaf of each row in each tree."""
        from scipy import sparse

        leaves = self.apply(X)
        n, t = leaves.shape
        q = sparse.csr_matrix(
            (np.full(n * t, 1.0 / t, dtype=np.float32), leaves.ravel(), np.arange(0, n * t + 1, t)),
            shape=(n, self.n_nodes_),
        )
        return (q @ self.leaf_dist_).tocsr(), leaves


# ---------------------------------------------------------------- helpers


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def _group_words(column: str, value: str) -> str:
    """A group in words: "item code prefix SH", "material C45"."""
    part = {"code:prefix": "item code prefix", "code:alpha": "item code letters", "code:length": "item code length"}
    if column in part:
        return f"{part[column]} {value}"
    if column.startswith("code:first"):
        return f"item code starting {value}"
    return f"{column} {value}"


def _logistic_imputer(Z: np.ndarray, y: np.ndarray, rows: np.ndarray, keep: np.ndarray,
                      classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keep, coef, intercept, classes): a multinomial logistic model of y from Z[:, keep] on rows;
    a class absent from rows gets a very low intercept."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((len(classes), len(keep)))
    intercept = np.full(len(classes), -30.0)
    present = np.unique(y[rows])
    at = np.searchsorted(classes, present)
    if len(present) == 1 or len(keep) == 0:
        share = np.array([(y[rows] == c).mean() for c in present])
        intercept[at] = np.log(share)
    else:
        # Newton steps cost (features x classes)^2 per item: past a size (words of a text add
        # many features), quasi-Newton steps get there far sooner.
        solver = "newton-cholesky" if len(keep) * len(present) <= NEWTON_MAX_SIZE else "lbfgs"
        clf = LogisticRegression(C=1.0, solver=solver, max_iter=100 if solver == "newton-cholesky" else 300)
        clf.fit(Z[np.ix_(rows, keep)], y[rows])
        c, b = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # binary: one row of coefficients for class 1
            c, b = np.vstack([-c[0] / 2, c[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
        coef[at], intercept[at] = c, b
    return keep, coef.astype(np.float32), intercept.astype(np.float32), classes


def _size_evidence(logs: np.ndarray, y: np.ndarray, groups: np.ndarray, rows: np.ndarray,
                   classes: np.ndarray) -> tuple[dict, tuple | None]:
    """({group code: stats}, stats over all rows or None) of the log measurements per value of y.

    stats = (columns used, means per value (NaN: value not seen), covariance around those means).
    A group uses the measurements most of its items have (a diameter for round parts, a width
    for flat ones), and learns from the items that have all of those."""
    K, p = len(classes), logs.shape[1]

    def stats(sel: np.ndarray) -> tuple | None:
        filled = ~np.isnan(logs[sel])
        cols = filled.mean(axis=0) >= SIZE_FILLED
        sel = sel[filled[:, cols].all(axis=1)] if cols.any() else sel[:0]
        if len(sel) < SIZE_MIN_ROWS:
            return None
        L, at = logs[np.ix_(sel, np.flatnonzero(cols))], np.searchsorted(classes, y[sel])
        n = np.bincount(at, minlength=K).astype(np.float64)
        sums = np.zeros((K, L.shape[1]))
        np.add.at(sums, at, L)
        # Plain means of real items keep the exact relation of sizes and weight (a shrunk or
        # pooled mean would blur it).
        used = np.where(n[:, None] > 0, sums / np.maximum(n, 1)[:, None], np.nan)
        resid = L - used[at]
        cov_used = resid.T @ resid / max(len(L) - int((n > 0).sum()), 1)
        cov_used += np.eye(L.shape[1]) * (1e-12 + 1e-9 * np.trace(cov_used) / L.shape[1])
        means, cov = np.full((K, p), np.nan), np.zeros((p, p))
        means[:, cols] = used
        cov[np.ix_(cols, cols)] = cov_used
        return cols, means, cov

    per_group = {}
    for code in np.unique(groups[rows]).tolist():
        if code >= 0:
            found = stats(rows[groups[rows] == code])
            if found is not None:
                per_group[int(code)] = found
    return per_group, stats(rows)


def _size_log_likelihood(evidence: tuple, logs_i: np.ndarray, group_code: int) -> np.ndarray | None:
    """Log-likelihood of an item's log measurements under each value, up to a constant (a value
    not seen gets the lowest of the others); None when the item has none of them.

    Student's t rather than a Gaussian: an item that fits no value well (a weight far from any
    material's) tips the balance a little, not all the way to the least bad value."""
    per_group, pooled = evidence
    found = per_group.get(int(group_code), pooled)
    if found is None:
        return None
    cols, means, cov = found
    present = cols & ~np.isnan(logs_i)
    seen = ~np.isnan(means[:, np.flatnonzero(cols)[0]])
    if not present.any() or not seen.any():
        return None
    d = logs_i[present][None, :] - means[np.ix_(seen, present)]
    sol = np.linalg.solve(cov[np.ix_(present, present)], d.T)
    ll = np.empty(len(means))
    ll[seen] = -0.5 * (SIZE_T_DOF + present.sum()) * np.log1p(np.einsum("kp,pk->k", d, sol) / SIZE_T_DOF)
    ll[~seen] = ll[seen].min()
    return ll


def _imputed(imputer: tuple, evidence: tuple | None, z: np.ndarray, logs_i: np.ndarray | None,
             group_code: int) -> np.ndarray:
    """Probabilities of each value of a blank attribute (the imputer's classes)."""
    keep, coef, intercept, _ = imputer
    logit = (coef @ z[keep] if len(keep) else 0.0) + intercept
    if evidence is not None and logs_i is not None:
        ll = _size_log_likelihood(evidence, logs_i, group_code)
        if ll is not None:
            logit = logit + np.clip(ll - ll.max(), -SIZE_MAX_NATS, 0.0)
    p = np.exp(logit - logit.max())
    return p / p.sum()


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _logistic_fit(F: np.ndarray, y: np.ndarray, ridge: float = 1e-3, iterations: int = 25) -> np.ndarray:
    """Weights (intercept first) of a logistic regression of y on the columns of F (Newton)."""
    A = np.column_stack([np.ones(len(F)), F])
    w = np.zeros(A.shape[1])
    penalty = ridge * len(A) * np.eye(A.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -30, 30)))
        grad = A.T @ (p - y) + penalty @ w
        hess = (A * (p * (1 - p))[:, None]).T @ A + penalty + 1e-9 * np.eye(A.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


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
    ops[ITEM] = ops[ITEM].astype("str").str.strip()  # as items asked about are
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


def _pool_rare_processes(ops: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, list[str], str | None]:
    """Process codes beyond the `limit` most widespread (by items) pooled into one, POOLED.

    Each process code is a column of the step models and of every prediction (and step order is
    learned between pairs of them), so memory grows with their number, and a code on one item or
    two cannot be learned anyway. Returns the table, the pooled codes and the name they share."""
    codes = ops[PROCESS]
    items_per_code = ops.drop_duplicates([ITEM, PROCESS])[PROCESS].value_counts(sort=True)
    if len(items_per_code) <= limit:
        return ops, [], None
    pooled = items_per_code.index[limit - 1 :]
    name = POOLED
    while name in items_per_code.index[: limit - 1]:
        name = f"{name}_"
    ops = ops.assign(**{PROCESS: codes.where(~codes.isin(pooled), name)})
    return ops, [str(c) for c in pooled], name


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
