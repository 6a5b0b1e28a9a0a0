"""BlankImputer: what a blank category most likely stands for, and the weighted rows it makes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model.config import ImputationConfig
from routing_core.model.features import ItemFeaturizer
from routing_core.model.imputation import BlankImputer


def training_items(n=120, seed=0) -> pd.DataFrame:
    """material is decided by family (A: steel, B: alu); finish and color are random."""
    rng = np.random.default_rng(seed)
    family = rng.choice(["A", "B"], size=n)
    return pd.DataFrame({
        "item_code": [f"I{i:03d}" for i in range(n)],
        "family": family,
        "material": np.where(family == "A", "steel", "alu"),
        "finish": rng.choice(["f1", "f2", "f3", "f4"], size=n),
        "color": rng.choice(["red", "blue", "green"], size=n),
        "size": rng.uniform(10, 50, size=n),
    })


def fit(config=None, items=None):
    items = training_items() if items is None else items
    f = ItemFeaturizer(["family", "material", "finish", "color", "size"], use_code=False).fit(items)
    enc = f.encode(items)
    imp = BlankImputer(config or ImputationConfig()).fit(f, f.ordinal(enc), f.imputation_design(enc)[0], enc, None)
    return f, imp


def ask(f, imp, query, nn=None):
    enc = f.encode(query)
    Z, Xo = f.imputation_design(enc)[0], f.ordinal(enc)
    nn = np.full((len(query), 3), -1) if nn is None else nn
    return enc, Xo, Z, imp.expand(Xo, nn, Z, enc)


def test_a_blank_decided_by_another_attribute_is_imputed_to_its_value():
    f, imp = fit()
    query = pd.DataFrame({"item_code": ["Q1", "Q2"], "family": ["A", "B"], "material": [None, None],
                          "finish": ["f1", "f2"], "color": ["red", "red"], "size": [20.0, 30.0]})
    enc, Xo, Z, (rows, xs, ws) = ask(f, imp, query)
    j = f.categorical_.index("material")
    assert imp.blanks(enc)[:, j].tolist() == [True, True]
    col = len(f.numeric_) + j
    for i, expected in enumerate(["steel", "alu"]):
        mine = rows == i
        assert ws[mine].sum() == pytest.approx(1.0)
        code = f.code_of_["material"][expected]
        assert ws[mine][xs[mine, col] == code].sum() > 0.9
        # its numbers are as asked
        np.testing.assert_array_equal(xs[mine][:, : len(f.numeric_)], np.tile(Xo[i, : len(f.numeric_)], (mine.sum(), 1)))
    values, probs = imp.predict_proba(Z[0], j)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[list(values).index(f.code_of_["material"]["steel"])] > 0.9
    likely = imp.likely_values(["Q1", "Q2"], rows, xs, ws, enc, limit=1)
    assert [(c, a, v) for c, a, v, _ in likely] == [("Q1", "material", "steel"), ("Q2", "material", "alu")]
    assert all(w > 0.9 for *_, w in likely)


def test_expand_weights_sum_to_one_and_respect_max_rows():
    f, imp = fit(ImputationConfig(max_rows=3))
    query = pd.DataFrame({"item_code": ["Q1", "Q2", "Q3"], "family": ["A", "B", "A"],
                          "material": ["steel", "alu", "steel"], "finish": [None, None, "f1"],
                          "color": [None, "red", "red"], "size": [20.0, 30.0, 40.0]})
    _, Xo, _, (rows, xs, ws) = ask(f, imp, query)
    per_item = np.bincount(rows, minlength=3)
    assert per_item[0] == 3  # 4 finishes x 3 colours, cut to the 3 likeliest
    assert 2 <= per_item[1] <= 3  # up to 4 finishes of at least 10 %, at most 3 rows
    assert per_item[2] == 1
    np.testing.assert_allclose(np.bincount(rows, weights=ws, minlength=3), 1.0)
    np.testing.assert_array_equal(xs[rows == 2][0], Xo[2])  # an item without blanks is itself
    assert (np.diff(rows) >= 0).all()
    # every row of an item sets each of its blanks to a value learned in training
    n_num = len(f.numeric_)
    finish = n_num + f.categorical_.index("finish")
    assert set(xs[rows == 0, finish].tolist()) <= set(range(4))


def test_nothing_blank_means_one_row_per_item_of_weight_one():
    f, imp = fit()
    items = training_items(n=5, seed=1)
    _, Xo, _, (rows, xs, ws) = ask(f, imp, items)
    assert rows.tolist() == [0, 1, 2, 3, 4] and ws.tolist() == [1.0] * 5
    assert xs is Xo


def test_without_a_model_the_similar_items_values_then_overall_shares():
    f, imp = fit(ImputationConfig(max_classes=3))  # finish has 4 values: no model of its own
    j = f.categorical_.index("finish")
    assert j not in imp.imputers_ and f.categorical_.index("color") in imp.imputers_
    query = pd.DataFrame({"item_code": ["Q"], "family": ["A"], "material": ["steel"], "finish": [None],
                          "color": ["red"], "size": [20.0]})
    enc = f.encode(query)
    Z = f.imputation_design(enc)[0]
    train_finish = imp.train_cat_[:, j]
    near = np.flatnonzero(train_finish == f.code_of_["finish"]["f3"])[:3]
    values, shares = imp.value_shares(0, j, Z, enc, None, np.r_[near, -1])
    assert values.tolist() == [f.code_of_["finish"]["f3"]] and shares.tolist() == [1.0]
    values, shares = imp.value_shares(0, j, Z, enc, None, np.array([-1, -1]))
    counts = np.bincount(train_finish, minlength=4)
    assert shares.tolist() == pytest.approx((counts / counts.sum()).tolist())


def test_a_blank_that_is_a_value_of_its_own_is_not_imputed():
    items = training_items()
    items.loc[items.index[:30], "finish"] = None  # a quarter of the items: "no finish" is a value
    f, imp = fit(items=items)
    assert "<missing>" in f.categories_["finish"]
    query = pd.DataFrame({"item_code": ["Q"], "family": ["A"], "material": ["steel"], "finish": [None],
                          "color": ["red"], "size": [20.0]})
    enc = f.encode(query)
    assert not imp.blanks(enc).any()


def test_sizes_and_weight_tell_a_blank_material():
    """weight = density x length x width: the measurements alone tell steel from aluminium."""
    rng = np.random.default_rng(2)
    n = 300
    material = rng.choice(["steel", "alu"], size=n)
    length, width = rng.uniform(10, 100, n), rng.uniform(10, 100, n)
    weight = np.where(material == "steel", 7.8, 2.7) * length * width * rng.lognormal(0, 0.05, n)
    frame = pd.DataFrame({"item_code": [f"I{i}" for i in range(n)], "material": material,
                          "length": length, "width": width, "weight": weight,
                          "shape": rng.choice(["round", "flat"], size=n)})
    f = ItemFeaturizer(["material", "length", "width", "weight", "shape"], use_code=False).fit(frame)
    enc = f.encode(frame)
    imp = BlankImputer().fit(f, f.ordinal(enc), f.imputation_design(enc)[0], enc, "shape")
    trial = imp.trials_["material"]
    assert trial["held_out_items"] == 100  # a third of the items held out
    assert min(trial["log_loss_without_sizes"], trial["log_loss_with_sizes"]) < 0.3
    # the Student t of the log measurements is used where it scored better
    assert (f.categorical_.index("material") in imp.size_evidence_) == (
        trial["log_loss_with_sizes"] < trial["log_loss_without_sizes"])
    query = pd.DataFrame({"item_code": ["Q1", "Q2"], "material": [None, None], "length": [50.0, 50.0],
                          "width": [40.0, 40.0], "weight": [7.8 * 2000, 2.7 * 2000], "shape": ["flat", "round"]})
    qenc = f.encode(query)
    Z, Xo = f.imputation_design(qenc)[0], f.ordinal(qenc)
    rows, xs, ws = imp.expand(Xo, np.full((2, 3), -1), Z, qenc)
    col = len(f.numeric_) + f.categorical_.index("material")
    for i, expected in enumerate(["steel", "alu"]):
        mine = rows == i
        assert ws[mine][xs[mine, col] == f.code_of_["material"][expected]].sum() > 0.9
