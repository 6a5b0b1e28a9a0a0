"""Times of proposed steps: the per-process duration model and the similar items' evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model.config import DurationConfig
from routing_core.model.durations import DurationModel, StepEvidence, small_ridge
from tests.unit.model.tables import fitted_parts

LAWS = {"CUT": (2.0, 0.5), "DRILL": (0.1, 1.2)}  # time = a * size ** b


def power_table(n=300, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, size in enumerate(rng.uniform(10, 100, n)):
        for j, (p, (a, b)) in enumerate(LAWS.items()):
            rows.append({"item_code": f"I{i:03d}", "seq": 10 * (j + 1), "process_code": p,
                         "duration_min": a * size ** b, "size": size})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def power():
    parts = fitted_parts(power_table(), ["size"])
    return parts, DurationModel(DurationConfig()).fit(parts.Z, parts.vocab)


def design(parts, sizes):
    enc = parts.featurizer.encode(pd.DataFrame({"item_code": ["Q"] * len(sizes), "size": sizes}))
    return parts.featurizer.imputation_design(enc)[0]


def test_a_power_law_time_is_predicted_for_an_unseen_size(power):
    parts, model = power
    assert model.modelled_.all()
    sizes = [15.0, 55.0, 95.0]
    pred = model.predict(design(parts, sizes))
    assert pred.shape == (3, 2, 3)
    for k, p in enumerate(parts.vocab.processes_):
        a, b = LAWS[p]
        truth = a * np.asarray(sizes) ** b
        # within 5 %: log(time + 5 % of the median time) bends a power law a little at small sizes
        np.testing.assert_allclose(pred[:, k, 0], truth, rtol=0.05)
        assert (pred[:, k, 1] <= pred[:, k, 0]).all() and (pred[:, k, 0] <= pred[:, k, 2]).all()


def test_far_outside_the_training_sizes_times_stay_near_those_seen(power):
    parts, model = power
    pred = model.predict(design(parts, [1e6]))
    longest = parts.ops.groupby("process_code")["duration_min"].max()
    for k, p in enumerate(parts.vocab.processes_):
        # log(time + offset) clipped at one above the longest seen's, plus the median residual
        off = model.offset_[k]
        assert pred[0, k, 0] == pytest.approx(np.e * (longest[p] + off) * np.exp(model.resid_[k, 0]) - off)
        assert pred[0, k, 0] < 3 * longest[p]


def test_no_times_gives_none_and_few_rows_give_no_model():
    no_times = power_table().assign(duration_min=np.nan)
    parts = fitted_parts(no_times, ["size"])
    assert DurationModel().fit(parts.Z, parts.vocab).predict(parts.Z) is None
    few = power_table(n=40)
    drill_rows = few.index[few["process_code"] == "DRILL"]
    few.loc[drill_rows[5:], "duration_min"] = np.nan  # 5 DRILL times
    parts = fitted_parts(few, ["size"])
    model = DurationModel(DurationConfig(min_rows=8)).fit(parts.Z, parts.vocab)
    pred = model.predict(parts.Z[:2])
    drill = parts.vocab.processes_.index("DRILL")
    assert not model.modelled_[drill] and np.isnan(pred[:, drill]).all()
    assert not np.isnan(pred[:, 1 - drill]).any()


def evidence_table() -> pd.DataFrame:
    rows = []
    times = {"A": [1.0, 5.0], "B": [2.0, 7.0], "C": [4.0, np.nan], "D": [100.0, 200.0]}
    centres = {"A": "WC1", "B": "WC2", "C": "WC2", "D": "WC1"}
    for code, (cut, weld) in times.items():
        rows.append({"item_code": code, "seq": 10, "process_code": "CUT", "duration_min": cut,
                     "work_center": centres[code]})
        rows.append({"item_code": code, "seq": 20, "process_code": "WELD", "duration_min": weld,
                     "work_center": "WC9"})
    rows.append({"item_code": "E", "seq": 10, "process_code": "PAINT", "duration_min": np.nan,
                 "work_center": None})
    rows.append({"item_code": "F", "seq": 10, "process_code": "CUT", "duration_min": np.nan,
                 "work_center": "WC1"})  # WC1 cuts most: 3 items of 5
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def evidence():
    ops = evidence_table()
    parts = fitted_parts(ops.assign(size=1.0), ["size"], ["work_center"])
    return parts, StepEvidence().fit(parts.vocab)


def test_batch_medians_are_those_of_the_neighbours_times(evidence):
    parts, ev = evidence
    v = parts.vocab
    idx = {c: v.item_index_[c] for c in "ABCDE"}
    tok = {t: k for k, t in enumerate(v.tokens_)}
    nn = np.array([[idx["A"], idx["B"], idx["C"], -1], [idx["D"], idx["A"], -1, -1]])
    batch = ev.batch(nn)
    n_tokens = batch["n_tokens"]
    stats, attrs = batch["entries"][0 * n_tokens + tok["CUT"]]
    cut = np.array([1.0, 2.0, 4.0])
    assert stats == pytest.approx([np.median(cut), np.quantile(cut, 0.1), np.quantile(cut, 0.9)])
    assert attrs == {"work_center": "WC2"}  # two of the three
    stats, _ = batch["entries"][0 * n_tokens + tok["WELD"]]  # C has no WELD time
    weld = np.array([5.0, 7.0])
    assert stats == pytest.approx([np.median(weld), np.quantile(weld, 0.1), np.quantile(weld, 0.9)])
    stats, _ = batch["entries"][1 * n_tokens + tok["CUT"]]
    assert stats[0] == pytest.approx(np.median([100.0, 1.0]))
    assert 1 * n_tokens + tok["PAINT"] not in batch["entries"]


def test_step_takes_the_neighbours_else_all_items_else_no_time(evidence):
    parts, ev = evidence
    v = parts.vocab
    tok = {t: k for k, t in enumerate(v.tokens_)}
    nn = np.array([[v.item_index_["A"], v.item_index_["B"]], [v.item_index_["E"], -1]])
    batch = ev.batch(nn)
    step = ev.step(0, 10, tok["CUT"], batch, probability=0.7)
    assert (step.seq, step.process_code, step.probability) == (10, "CUT", 0.7)
    assert step.duration_min == pytest.approx(1.5)
    assert step.duration_low == pytest.approx(np.quantile([1.0, 2.0], 0.1))
    # item 1's neighbours lack CUT: the median over every item
    fallback = ev.step(1, 10, tok["CUT"], batch)
    assert fallback.duration_min == pytest.approx(np.median([1.0, 2.0, 4.0, 100.0]))
    assert fallback.attributes == {"work_center": "WC1"}  # the most common over every item
    # PAINT never has a time: none is made up
    paint = ev.step(1, 10, tok["PAINT"], batch)
    assert paint.duration_min is None and paint.duration_low is None and paint.duration_high is None
    assert paint.attributes == {"work_center": None}


def test_step_prefers_the_duration_model(evidence):
    parts, ev = evidence
    v = parts.vocab
    tok = {t: k for k, t in enumerate(v.tokens_)}
    batch = ev.batch(np.array([[v.item_index_["A"]]]))
    model = np.full((1, len(v.processes_), 3), np.nan)
    model[0, v.processes_.index("CUT")] = [3.0, 2.5, 4.0]
    batch["model"] = model
    step = ev.step(0, 10, tok["CUT"], batch)
    assert (step.duration_min, step.duration_low, step.duration_high) == (3.0, 2.5, 4.0)
    weld = ev.step(0, 20, tok["WELD"], batch)  # no model for WELD: the neighbour's time
    assert weld.duration_min == pytest.approx(5.0)


@pytest.mark.parametrize("shape, alpha", [((40, 3), 1.0), ((12, 6), 0.1), ((200, 15), 25.0), ((5, 8), 2.0)])
def test_small_ridge_is_scikit_learns_ridge(shape, alpha):
    """The written-out solve against sklearn.linear_model.Ridge (intercept fitted, not penalised),
    also with more columns than rows, where only the penalty makes the solution unique."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    Z = rng.normal(size=shape) * rng.uniform(0.5, 20, shape[1]) + rng.normal(0, 3, shape[1])
    y = Z @ rng.normal(size=shape[1]) + 7.0 + rng.normal(0, 0.5, shape[0])
    coef, intercept = small_ridge(Z, y, alpha)
    ref = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(Z, y)
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-8, atol=1e-10)
    assert intercept == pytest.approx(float(ref.intercept_), rel=1e-8, abs=1e-10)
