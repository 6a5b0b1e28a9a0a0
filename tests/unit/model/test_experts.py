"""The three experts on step presence, the stacking that weighs them, and its helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from routing_core.model.config import ExpertConfig
from routing_core.model.experts import (
    EXPERTS,
    AdditiveStepModel,
    Stacker,
    StepTrees,
    expert_logits,
    logistic_weights,
    ridge,
)


def test_ridge_is_the_closed_form_with_an_unpenalised_intercept():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 5)) + rng.normal(size=5) * 3
    Y = Z @ rng.normal(size=(5, 3)) + rng.normal(size=(40, 3)) + np.array([1.0, -2.0, 5.0])
    alpha = 2.5
    coef, intercept = ridge(Z, Y, alpha)
    Zc, Yc = Z - Z.mean(axis=0), Y - Y.mean(axis=0)
    expected = np.linalg.solve(Zc.T @ Zc + alpha * np.eye(5), Zc.T @ Yc)
    assert coef.shape == (5, 3) and intercept.shape == (3,)
    np.testing.assert_allclose(coef, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, Y.mean(axis=0) - Z.mean(axis=0) @ expected, rtol=1e-8)
    # one output: still (features x 1) and one intercept
    coef1, intercept1 = ridge(Z, Y[:, 0], alpha)
    np.testing.assert_allclose(coef1[:, 0], expected[:, 0], rtol=1e-8)
    assert intercept1.shape == (1,)


def test_ridge_without_features_is_the_mean():
    Y = np.array([[1.0, 0.0], [3.0, 1.0]])
    coef, intercept = ridge(np.zeros((2, 0)), Y, 1.0)
    assert coef.shape == (0, 2) and intercept.tolist() == [2.0, 0.5]


def test_additive_model_probabilities_stay_within_the_clip():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(200, 3))
    presence = np.column_stack([Z[:, 0] > 0, Z[:, 0] + Z[:, 1] > 1, np.ones(200, bool)])
    config = ExpertConfig(linear_clip=0.01)
    model = AdditiveStepModel(config).fit(Z, presence)
    far = np.vstack([Z, 10 * rng.normal(size=(50, 3))])  # far outside: linear answers beyond [0, 1]
    p = model.predict_proba(far)
    assert p.shape == (250, 3)
    assert p.min() >= 0.01 - 1e-7 and p.max() <= 0.99 + 1e-7
    assert np.isclose(p, 0.01).any() and np.isclose(p, 0.99).any()  # the clip is what held them
    # and it learned: the step decided by the first column follows it
    assert p[:200, 0][Z[:, 0] > 1].mean() > 0.8 and p[:200, 0][Z[:, 0] < -1].mean() < 0.2


def test_additive_model_fits_a_sample_when_rows_exceed_the_limit():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(300, 2))
    presence = (Z[:, :1] > 0)
    small = AdditiveStepModel(ExpertConfig(linear_rows=100)).fit(Z, presence)
    full = AdditiveStepModel(ExpertConfig()).fit(Z, presence)
    assert small.coef_.shape == full.coef_.shape == (2, 1)
    assert not np.allclose(small.coef_, full.coef_)
    assert small.coef_[0, 0] > 0.2  # still learned from the sample


def test_step_trees_learn_a_step_decided_by_one_attribute():
    rng = np.random.default_rng(3)
    n = 200
    Xo = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.normal(size=n)]).astype(float)
    presence = np.column_stack([Xo[:, 0] == 1, np.ones(n, bool), np.arange(n) < 2])
    trees = StepTrees(ExpertConfig()).fit(Xo, presence)
    assert set(trees.trees_) == {0}  # a step on every item, or on 2 items, gets no tree
    p = trees.predict_proba(np.array([[1.0, 0.0, 0.0], [0.0, 5.0, -5.0]]))
    assert p[0, 0] > 0.95 and p[1, 0] < 0.05
    assert p[:, 1].tolist() == pytest.approx([1 - 1e-3] * 2)  # the clipped base rate
    assert p[:, 2].tolist() == pytest.approx([2 / n] * 2)


def test_step_trees_defer_to_the_fallback_where_a_leaf_never_held_the_group():
    rng = np.random.default_rng(4)
    n = 200
    group = np.where(np.arange(n) < 100, 0.0, 1.0)
    size = rng.uniform(0, 10, n)
    size[group == 1] += 20  # group 1: only large items
    Xo = np.column_stack([size, group])
    presence = (size > 5)[:, None]
    trees = StepTrees(ExpertConfig()).fit(Xo, presence, group_column=1, n_groups=2)
    query = np.array([[2.0, 1.0], [2.0, 0.0]])  # a small item of group 1: no leaf knows one
    fallback = np.array([[0.42], [0.42]])
    p = trees.predict_proba(query, fallback)
    assert p[0, 0] == pytest.approx(0.42)
    assert p[1, 0] < 0.1  # its own group's leaf answers
    # without a fallback, the step's rate in the group (all of group 1 has it), shrunk by 2 items
    rate = (100 + 2 * presence.mean()) / (100 + 2)
    assert trees.predict_proba(query)[0, 0] == pytest.approx(rate, rel=1e-5)


def newton_logistic(F: np.ndarray, y: np.ndarray, lam: float, steps: int = 50) -> np.ndarray:
    """Minimise sum of log-losses + lam / 2 * |w|^2 (intercept unpenalised) by Newton steps."""
    X = np.column_stack([np.ones(len(F)), F])
    penalty = lam * np.diag([0.0] + [1.0] * F.shape[1])
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = expit(X @ w)
        grad = X.T @ (p - y) + penalty @ w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hess, grad)
    return w


def test_logistic_weights_match_a_hand_written_newton_fit():
    rng = np.random.default_rng(5)
    F = rng.normal(size=(300, 3))
    y = (rng.random(300) < expit(0.5 + F @ np.array([1.5, -1.0, 0.0]))).astype(float)
    ridge_per_item = 0.01
    got = logistic_weights(F, y, ridge_per_item)
    expected = newton_logistic(F, y, ridge_per_item * len(F))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_logistic_weights_of_a_constant_target_are_its_log_odds():
    w = logistic_weights(np.ones((4, 2)), np.ones(4), 0.1)
    assert w.tolist() == pytest.approx([logit(1 - 1e-4), 0.0, 0.0])


def stacking_data(seed=6, n_items=600, n_steps=5):
    """Out-of-fold log-odds of three experts: forest and trees tell the truth, the additive model
    says pure noise; the fourth column is the base rate's."""
    rng = np.random.default_rng(seed)
    cells = n_items * n_steps
    truth = rng.normal(size=cells) * 2
    y = (rng.random(cells) < expit(truth)).astype(float)
    F = np.column_stack([truth + rng.normal(size=cells), rng.normal(size=cells) * 2,
                         truth + rng.normal(size=cells), np.zeros(cells)])
    return F, y, np.repeat(np.arange(n_items), n_steps)


def test_stacker_switches_off_a_noise_expert_and_keeps_informative_ones():
    F, y, items = stacking_data(seed=8)
    s = Stacker(ExpertConfig()).fit(F, y, items)
    parts = s.parts()
    assert list(parts) == list(EXPERTS)
    assert parts["additive"]["on"] is False and parts["additive"]["weight"] == 0.0
    assert parts["additive"]["lift"] <= 0
    for name in ("forest", "step_trees"):
        assert parts[name]["on"] is True and parts[name]["weight"] > 0.2
        assert parts[name]["lift"] > 0
    assert s.weights_[2] == 0.0


def test_a_noise_expert_is_off_on_nearly_every_draw_and_never_weighs_much():
    # A lift measured on half the items can come out positive by chance; the weight check
    # catches most of those. Over ten draws the noise expert may survive once, with a tiny weight.
    off, weights = 0, []
    for seed in range(6, 16):
        F, y, items = stacking_data(seed=seed)
        s = Stacker(ExpertConfig()).fit(F, y, items)
        off += not s.parts()["additive"]["on"]
        weights.append(s.weights_[2])
        assert min(s.weights_[1], s.weights_[3]) > 0.3
    assert off >= 9
    assert max(weights) < 0.05


def test_parts_report_on_and_off_as_the_weights_say():
    F, y, items = stacking_data(seed=7)
    s = Stacker(ExpertConfig()).fit(F, y, items)
    for e, part in enumerate(s.parts().values()):
        assert part["on"] == (s.weights_[1 + e] > 0)
        assert part["weight"] == pytest.approx(s.weights_[1 + e], abs=1e-4)
    assert (s.weights_[1:4] >= 0).all()  # never trusted the wrong way round


def test_an_expert_saying_the_opposite_is_never_given_a_negative_weight():
    F, y, items = stacking_data(seed=8)
    F[:, 1] = -F[:, 0]  # the additive model says the forest's answer reversed
    s = Stacker(ExpertConfig()).fit(F, y, items)
    assert (s.weights_[1:4] >= 0).all()
    assert s.parts()["step_trees"]["on"]


def test_unfitted_stacker_multiplies_the_odds():
    s = Stacker()
    experts = np.array([[[0.8]], [[0.6]], [[0.7]]])
    prior = np.array([0.5])
    logits = expert_logits(experts, prior, ExpertConfig(linear_clip=0.001))
    assert logits.shape == (4, 1, 1)
    odds = 0.8 / 0.2 * 0.6 / 0.4 * 0.7 / 0.3 / (0.5 / 0.5) ** 2
    assert s.combine(logits)[0, 0] == pytest.approx(odds / (1 + odds))
    assert all(part["on"] and part["lift"] is None for part in s.parts().values())


def test_expert_logits_clip_each_expert():
    experts = np.array([[[0.0, 1.0]], [[0.0, 1.0]], [[0.0, 1.0]]])
    logits = expert_logits(experts, np.array([0.2, 0.9]), ExpertConfig(linear_clip=0.01))
    assert logits[0, 0].tolist() == pytest.approx([logit(1e-4), logit(1 - 1e-4)])
    assert logits[1, 0].tolist() == pytest.approx([logit(0.01), logit(0.99)])
    assert logits[2, 0].tolist() == pytest.approx([logit(1e-3), logit(1 - 1e-3)])
    assert logits[3, 0].tolist() == pytest.approx([logit(0.2), logit(0.9)])


def test_out_of_fold_answers_every_item_once_per_step():
    from routing_core.model.config import NeighbourConfig
    from routing_core.model.experts import out_of_fold
    from routing_core.model.forest import LeafForest
    from routing_core.model.neighbours import Neighbours
    from tests.unit.model.tables import fitted_parts, options_table

    parts = fitted_parts(options_table(per_combo=20), ["heat", "coat", "size"])
    v = parts.vocab
    nb = Neighbours(LeafForest(n_estimators=4, n_jobs=1), NeighbourConfig()).fit(
        parts.X, parts.Xo, parts.featurizer, v)
    config = ExpertConfig()
    answers = out_of_fold(parts.Xo, parts.Z, v, lambda: LeafForest(n_estimators=4, n_jobs=1),
                          nb.trust_recurring, config, 64, 0, None, 0)
    F, y, items = answers
    n, t = v.n_items_, len(v.tokens_)
    assert F.shape == (n * t, 4) and y.shape == (n * t,)
    assert items.tolist() == np.repeat(np.arange(n), t).tolist()
    # the true presence of every item, each once (in fold order)
    held = sorted(map(tuple, y.reshape(n, t).astype(int).tolist()))
    assert held == sorted(map(tuple, v.presence_.astype(int).tolist()))
    np.testing.assert_allclose(F[:, 3], np.tile(logit(v.token_prior_c_), n))
    # answered out of fold, the experts still tell HEAT apart
    heat = v.tokens_.index("HEAT")
    cells = np.arange(n) * t + heat
    assert np.corrcoef(F[cells, 0], y[cells])[0, 1] > 0.5
    few = options_table(per_combo=10)
    small = fitted_parts(few, ["heat", "coat", "size"])
    assert out_of_fold(small.Xo, small.Z, small.vocab, LeafForest, nb.trust_recurring, config, 64, 0,
                       None, 0) is None  # 30 items < stack_min_items
