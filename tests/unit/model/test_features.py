"""ItemFeaturizer: familiarity, codeless items, the imputation design and setting a category."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model.config import FeatureConfig
from routing_core.model.features import BLANK, UNSEEN, ItemFeaturizer


def items(n=100, seed=0):
    rng = np.random.default_rng(seed)
    family = rng.choice(["SH", "FL"], size=n)
    return pd.DataFrame({
        "item_code": [f"{f}-{i:04d}" for i, f in enumerate(family)],
        "material": rng.choice(["steel", "alu", "brass"], size=n),
        "size": rng.uniform(10, 20, size=n),
    }), family


@pytest.fixture(scope="module")
def featurizer():
    frame, family = items()
    return ItemFeaturizer(["material", "size"], config=FeatureConfig(weighting=False, code_check=False)).fit(frame, family)


def test_familiarity_is_the_share_of_known_values(featurizer):
    f = featurizer
    assert "code:prefix" in f.code_cols_
    q = pd.DataFrame({"item_code": ["SH-1", "XX-2", "SH-3", "SH-4"],
                      "material": ["steel", "steel", "wood", "wood"], "size": [15.0, 15.0, 15.0, 1e6]})
    enc = f.encode(q)
    # size within the training range (widened by a quarter each side), material seen; the code
    # does not count
    assert f.familiarity(enc).tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0])
    sizes = items()[0]["size"]
    spread = sizes.max() - sizes.min()
    assert f.range_["size"] == pytest.approx((sizes.min() - spread / 4, sizes.max() + spread / 4))
    assert enc.cat["material"].tolist()[2] == UNSEEN


def test_an_unknown_code_pattern_is_codeless(featurizer):
    f = featurizer
    q = pd.DataFrame({"item_code": ["SH-0001", "ZZ-0001", None], "material": [None, "alu", "alu"],
                      "size": [12.0, 12.0, 12.0]})
    enc = f.encode(q)
    assert f.codeless(enc).tolist() == [False, True, True]
    assert all(enc.cat[c][1] == BLANK for c in f.code_cols_)
    assert enc.cat["material"][0] == BLANK
    X = f.transform(q)
    assert (X[1, f.code_columns_out_] == 0).all() and (X[0, f.code_columns_out_] != 0).any()


def test_imputation_design_has_the_logs_of_positive_sizes(featurizer):
    f = featurizer
    frame, _ = items()
    enc = f.encode(frame)
    Z, blocks = f.imputation_design(enc)
    assert Z.shape == (len(frame), f.n_features_out_ + 1)  # one positive measurement: its log
    logs = np.log(frame["size"].to_numpy())
    np.testing.assert_allclose(Z[:, -1], (logs - logs.mean()) / logs.std(), atol=1e-5)
    j = f.categorical_.index("material")
    np.testing.assert_array_equal(blocks[j], f.blocks_["material"])
    one_hot = Z[:, blocks[j]]
    assert set(np.unique(one_hot).tolist()) == {0.0, 1.0} and (one_hot.sum(axis=1) == 1).all()


def test_set_category_sets_the_code_and_its_one_hot(featurizer):
    f = featurizer
    frame, _ = items(n=3, seed=1)
    x = f.transform_ordinal(frame)[0].copy()
    j = f.categorical_.index("material")
    f.set_category(x, j, 2.0)
    assert x[len(f.numeric_) + j] == 2.0
    start = f.tree_onehot_[j]  # three values: one-hot columns for the trees too
    assert x[start : start + 3].tolist() == [0.0, 0.0, 1.0]


def test_a_fit_reads_text_once_and_narrows_and_predicts_as_a_fit_that_reads_it_anew(monkeypatch):
    """The derived table is kept and narrowed when the check drops a part; the model it gives is
    the one a fit reading everything anew gives."""
    import routing_core.model.features as features_module
    from routing_core.model import RoutingModel
    from routing_core.synthetic.sample import SampleConfig, generate

    ops = generate(SampleConfig(n_items=600, seed=5))
    ops["description"] = ops["part_type"].astype("str") + " " + ops["material"].astype("str")
    items = ops.groupby("item_code", sort=False).first().reset_index().head(80)
    items["item_code"] = "NEW-" + items["item_code"]
    calls = []
    narrowed = features_module.narrowed
    monkeypatch.setattr(features_module, "narrowed", lambda *a: calls.append(1) or narrowed(*a))
    kept = RoutingModel(baseline_check=False).fit(ops)
    assert kept.featurizer_.lift_ and any(not v["kept"] for v in kept.featurizer_.lift_.values())
    monkeypatch.setattr(features_module, "narrowed", lambda *a: None)
    anew = RoutingModel(baseline_check=False).fit(ops)
    assert calls
    # Codes, ranks and kinds exactly; scores and times (computed, then rounded to 4 and 3
    # decimals) to one rounding step, whatever BLAS kernel summed them.
    pd.testing.assert_frame_equal(kept.predict_frame(items), anew.predict_frame(items),
                                  check_exact=False, rtol=0, atol=1e-3)


def test_predicting_leaves_the_fitted_model_unchanged():
    """A model cached for every session keeps no session's items: predicting changes nothing of it
    (the tables one prediction derives live only while it runs)."""
    import pickle

    from routing_core.model import RoutingModel
    from routing_core.synthetic.sample import SampleConfig, generate

    model = RoutingModel(baseline_check=False).fit(generate(SampleConfig(n_items=200, seed=2)))
    before = pickle.dumps(model)
    sizes = {k: len(pickle.dumps(v)) for k, v in model.featurizer_.__dict__.items()}
    items = generate(SampleConfig(n_items=20, seed=3))
    first = model.predict_frame(items)
    model.likely_values(items)
    # the featurizer's own attributes first (a pickle shows only what __getstate__ keeps)
    assert {k: len(pickle.dumps(v)) for k, v in model.featurizer_.__dict__.items()} == sizes
    assert pickle.dumps(model) == before
    pd.testing.assert_frame_equal(model.predict_frame(items), first)


def test_two_threads_predicting_with_one_model_get_what_each_gets_alone():
    """Sessions share one cached model: each prediction's tables are its thread's own."""
    from concurrent.futures import ThreadPoolExecutor

    from routing_core.model import RoutingModel
    from routing_core.synthetic.sample import SampleConfig, generate

    model = RoutingModel(baseline_check=False).fit(generate(SampleConfig(n_items=200, seed=2)))
    batches = [generate(SampleConfig(n_items=30, seed=s)) for s in (3, 4, 5, 6)]
    alone = [model.predict_frame(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            together = list(pool.map(model.predict_frame, batches))
            for a, t in zip(alone, together, strict=True):
                pd.testing.assert_frame_equal(t, a)
