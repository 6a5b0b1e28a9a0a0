"""Three experts on each step's presence, and the stacking that weighs them.

- the leaf forest's vote (neighbours.py): what items needing the same whole routing share;
- `AdditiveStepModel`: a ridge model per step on the attribute design, which composes options
  never seen together (option A adds a step, option B another);
- `StepTrees`: one small tree per step, splitting on what decides that step alone.

`Stacker` learns how far to trust each from their answers on items they did not see, and
reports each expert's held-out lift; an expert that does not help on this dataset is switched off.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from routing_core.model.config import LOG_GUARD, LOGIT_LIMIT, ExpertConfig
from routing_core.model.vocabulary import varied_tokens

EXPERTS = ("forest", "additive", "step_trees")
BASE_RATE = len(EXPERTS)  # the column of the step's base rate after the experts' log-odds
# Stacking weights before any are learned: intercept, experts, base rate (the experts' odds multiplied).
PRODUCT_OF_ODDS = np.array([0.0, *[1.0] * len(EXPERTS), 1.0 - len(EXPERTS)])


def ridge(Z: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients (features x outputs), intercepts) of a ridge regression with an unpenalised
    intercept (scikit-learn's Ridge, Cholesky solve)."""
    if Z.shape[1] == 0:  # nothing to regress on: the mean
        Y2 = Y.reshape(len(Y), -1)
        return np.zeros((0, Y2.shape[1])), Y2.mean(axis=0)
    model = Ridge(alpha=alpha, solver="cholesky").fit(Z, Y)
    coef = np.atleast_2d(model.coef_)
    return coef.T, np.atleast_1d(model.intercept_)


class AdditiveStepModel:
    """Each step's presence as a ridge regression on the attribute design (a linear probability
    model, clipped): cheap for hundreds of steps at once, and additive where trees cannot be."""

    def __init__(self, config: ExpertConfig | None = None, random_state: int = 0) -> None:
        self.config = config or ExpertConfig()
        self.random_state = random_state

    def fit(self, Z: np.ndarray, presence: np.ndarray) -> AdditiveStepModel:
        c = self.config
        Z = Z.astype(np.float64)
        Y = presence.astype(np.float64)
        if len(Z) > c.linear_rows:
            rows = np.sort(np.random.default_rng(self.random_state).choice(len(Z), c.linear_rows, replace=False))
            Z, Y = Z[rows], Y[rows]
        # Shrink at least as much as a few items' worth: with little data the additive model must
        # not overrule the evidence of similar items.
        coef, intercept = ridge(Z, Y, max(c.linear_alpha * len(Z) / 100, c.linear_min_alpha))
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        self.z_mean_ = Z.mean(axis=0).astype(np.float32)  # the average item, for explanations
        return self

    def contributions(self, z: np.ndarray, step: int) -> np.ndarray:
        """How far each design column moves step's probability from the average item's."""
        return self.coef_[:, step] * (z - self.z_mean_)

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        clip = self.config.linear_clip
        return np.clip(Z @ self.coef_ + self.intercept_, clip, 1 - clip)


class StepTrees:
    """One regression tree per step (for the steps whose presence varies most), leaf means
    shrunk towards the step's base rate. A leaf that never held an item of the query's group (a
    small housing among small shafts) knows nothing of it: there the answer is the additive
    model's, else the step's rate in the group."""

    def __init__(self, config: ExpertConfig | None = None, random_state: int = 0) -> None:
        self.config = config or ExpertConfig()
        self.random_state = random_state

    def fit(self, Xo: np.ndarray, presence: np.ndarray, group_column: int | None = None,
            n_groups: int = 0) -> StepTrees:
        """`group_column`: the column of Xo holding the fallback group's code (None: no group)."""
        c = self.config
        self.group_column_, self.n_groups_ = group_column, n_groups
        self.prior_ = np.clip(presence.mean(axis=0), c.tree_clip, 1 - c.tree_clip)
        self.trees_: dict[int, tuple] = {}
        if Xo.shape[1] == 0:
            return self
        rng = np.random.default_rng(self.random_state + 1)
        rows = np.arange(len(Xo))
        if len(rows) > c.step_tree_rows:
            rows = np.sort(rng.choice(rows, c.step_tree_rows, replace=False))
        X = np.ascontiguousarray(Xo[rows], dtype=np.float32)
        leaf = max(c.step_tree_min_leaf, len(rows) // c.step_tree_leaf_rows)
        prior_all = presence.mean(axis=0)
        group = self._groups(Xo[rows])
        if group is not None:
            ok = group >= 0
            group_size = np.bincount(group[ok], minlength=n_groups).astype(np.float64)
        for t in varied_tokens(presence, c.step_tree_max).tolist():
            y = presence[rows, t].astype(np.float32)
            positives = int(y.sum())
            if positives < c.step_tree_min_positive or len(y) - positives < c.step_tree_min_positive:
                continue
            tree = DecisionTreeRegressor(min_samples_leaf=leaf, max_depth=c.step_tree_depth,
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
            self.trees_[t] = (tree, value.astype(np.float32), support)
        return self

    def _groups(self, Xo: np.ndarray) -> np.ndarray | None:
        j = self.group_column_
        if j is None:
            return None
        return np.where(np.isnan(Xo[:, j]), -1, Xo[:, j]).astype(np.int64)

    def predict_proba(self, Xo: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
        """(n, steps): each step's presence probability (the base rate for a step without a tree)."""
        out = np.tile(self.prior_, (len(Xo), 1))
        if not self.trees_:
            return out
        X = np.ascontiguousarray(Xo, dtype=np.float32)
        g = self._groups(Xo)
        for t, (tree, value, support) in self.trees_.items():
            leaves = tree.apply(X)
            out[:, t] = value[leaves]
            if support is not None and g is not None:
                packed, rate = support
                known = np.flatnonzero((g >= 0) & (g < len(rate)))
                bits = np.unpackbits(packed[leaves[known]], axis=1)[np.arange(len(known)), g[known]]
                strange = known[bits == 0]
                out[strange, t] = rate[g[strange]] if fallback is None else fallback[strange, t]
        clip = self.config.tree_clip
        return np.clip(out, clip, 1 - clip)


def expert_logits(experts: np.ndarray, prior: np.ndarray, config: ExpertConfig) -> np.ndarray:
    """(4, n, steps): the experts' clipped log-odds and the step's base rate's."""
    n = experts[0].shape[0]
    clips = (config.forest_clip, config.linear_clip, config.tree_clip)
    return np.stack([
        *(logit(np.clip(p, clip, 1 - clip)) for p, clip in zip(experts, clips, strict=True)),
        np.tile(logit(prior), (n, 1)),
    ])


def logistic_weights(F: np.ndarray, y: np.ndarray, ridge_per_item: float, config: ExpertConfig | None = None
                     ) -> np.ndarray:
    """(intercept, weights) of an L2-penalised logistic regression of y on the columns of F; the
    penalty is ridge_per_item x rows (scikit-learn, Newton-Cholesky)."""
    config = config or ExpertConfig()
    if len(np.unique(y)) < 2:
        clip = config.forest_clip
        return np.r_[logit(np.clip(y.mean(), clip, 1 - clip)), np.zeros(F.shape[1])]
    clf = LogisticRegression(C=1.0 / (ridge_per_item * len(F)), solver="newton-cholesky", tol=config.stack_tol,
                             max_iter=config.stack_max_iter)
    clf.fit(F, y)
    return np.r_[clf.intercept_, clf.coef_[0]]


def _log_loss(F: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(expit(w[0] + F @ w[1:]), LOG_GUARD, 1 - LOG_GUARD)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


class Stacker:
    """Weights of the experts' log-odds, learned on answers for items they did not see.

    The experts learn from the same items, so multiplying their odds counts the same evidence up
    to three times (a rare one-off step that each sees faintly becomes likely). A logistic model
    of the true presence on the experts' out-of-fold log-odds gives the weight of each. Each
    expert's held-out lift is the rise in log-loss, on half of those answers, of the weights
    fitted on the other half without it; an expert whose lift is not positive, or whose weight
    comes out negative, is switched off (weight 0).
    """

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()

    def fit(self, F: np.ndarray, y: np.ndarray, items: np.ndarray) -> Stacker:
        """F: (cells, 4) out-of-fold log-odds (3 experts, base rate); y: presence; items: the item
        of each cell (the held-out half is a half of the items)."""
        c = self.config
        ridge = c.stack_ridge
        rng = np.random.default_rng(c.stack_seed)
        n_items = int(items.max()) + 1
        # The lift is measured on a sample of the items (their cells stay together), halves of it.
        share = min(1.0, self.config.stack_lift_cells / max(len(items), 1))
        picked = (rng.random(n_items) < share)[items]
        half = (rng.permutation(n_items) % 2 == 0)[items]
        fit, held = picked & half, picked & ~half
        self.lift_ = {}
        use = list(range(BASE_RATE + 1))
        if fit.any() and held.any() and len(np.unique(y[fit])) == 2:
            def loss(cols):
                return _log_loss(F[np.ix_(held, cols)], y[held], logistic_weights(F[np.ix_(fit, cols)], y[fit], ridge, c))
            full = loss(use)
            for e, name in enumerate(EXPERTS):
                self.lift_[name] = round(loss([u for u in use if u != e]) - full, 6)
            use = [u for u in use if u == BASE_RATE or self.lift_[EXPERTS[u]] > 0]
        # An expert is never trusted the wrong way round: one whose weight comes out negative
        # (it adds nothing the others do not say) is left out and the rest refitted.
        while True:
            w = logistic_weights(F[:, use], y, ridge, c)
            negative = [u for u, v in zip(use, w[1:], strict=True) if u < BASE_RATE and v < 0]
            if not negative:
                break
            use.remove(min(negative, key=lambda u: w[1 + use.index(u)]))
        weights = np.zeros(len(PRODUCT_OF_ODDS))
        weights[0] = w[0]
        weights[[1 + u for u in use]] = w[1:]
        self.weights_ = weights
        return self

    def combine(self, logits: np.ndarray) -> np.ndarray:
        """Step presence probabilities from the (4, n, steps) log-odds."""
        w = getattr(self, "weights_", PRODUCT_OF_ODDS)
        return expit(np.clip(w[0] + np.tensordot(w[1:], logits, axes=1), -LOGIT_LIMIT, LOGIT_LIMIT))

    def parts(self) -> dict:
        """Each expert: on or off, its weight and its held-out lift (None: not tested)."""
        w = getattr(self, "weights_", PRODUCT_OF_ODDS)
        lift = getattr(self, "lift_", {})
        return {name: {"on": bool(w[1 + e] > 0), "weight": round(float(w[1 + e]), 4),
                       "lift": lift.get(name)} for e, name in enumerate(EXPERTS)}


def out_of_fold(Xo: np.ndarray, Z: np.ndarray, vocab, new_forest, trust, config: ExpertConfig,
                forest_outputs: int, random_state: int, group_column: int | None, n_groups: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(F, y, items): the experts' log-odds (cells x 4) for items they did not see, the true
    presence of each cell, and its item; None with too few items. The items (a sample of
    stack_rows, at most stack_cells cells) are split in folds, each answered by experts grown on
    the others."""
    c = config
    presence, item_routing, n_routings = vocab.presence_, vocab.item_routing_, len(vocab.routings_)
    n = len(Xo)
    if n < c.stack_min_items:
        return None
    rng = np.random.default_rng(random_state + 2)
    limit = max(c.stack_min_items, min(c.stack_rows, c.stack_cells // max(len(vocab.tokens_), 1)))
    rows = np.sort(rng.choice(n, limit, replace=False)) if n > limit else np.arange(n)
    fold = rng.permutation(len(rows)) % c.stack_folds
    feats, target = [], []
    for k in range(c.stack_folds):
        fit_rows, held = rows[fold != k], rows[fold == k]
        counts = np.bincount(item_routing[fit_rows], minlength=n_routings)
        forest = new_forest().fit(
            Xo[fit_rows], presence[fit_rows][:, varied_tokens(presence[fit_rows], forest_outputs)],
            item_routing[fit_rows], n_routings)
        linear = AdditiveStepModel(c, random_state).fit(Z[fit_rows], presence[fit_rows])
        trees = StepTrees(c, random_state).fit(Xo[fit_rows], presence[fit_rows], group_column, n_groups)
        vote = trust(forest.vote(Xo[held])[0], counts)
        forest_p = np.asarray((vote @ vocab.routing_token_matrix_).todense())
        linear_p = linear.predict_proba(Z[held])
        feats.append(np.stack([forest_p, linear_p, trees.predict_proba(Xo[held], linear_p)]))
        target.append(presence[held])
    logits = expert_logits(np.concatenate(feats, axis=1), vocab.token_prior_c_, c)
    n_held, n_tokens = logits.shape[1], logits.shape[2]
    F = logits.reshape(len(logits), -1).T
    y = np.concatenate(target).ravel().astype(np.float64)
    return F, y, np.repeat(np.arange(n_held), n_tokens)
