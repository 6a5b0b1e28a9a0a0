"""Checks on the training data: code dropout, and the trial against the most frequent routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model import RoutingModel
from routing_core.model.config import FeatureConfig, ModelConfig, TrialConfig
from routing_core.model.features import ItemFeaturizer
from routing_core.model.trial import baseline_trial, code_dropout
from routing_core.model.vocabulary import check_ops, item_frame
from tests.unit.model.tables import options_table


def coded_items(n=200, seed=0):
    rng = np.random.default_rng(seed)
    family = rng.choice(["SH", "FL"], size=n)
    items = pd.DataFrame({"item_code": [f"{f}-{i:05d}" for i, f in enumerate(family)],
                          "size": rng.uniform(1, 10, n)})
    return items, family


def test_code_dropout_blanks_the_code_of_a_share_of_the_items():
    items, family = coded_items()
    f = ItemFeaturizer(["size"], config=FeatureConfig(code_check=False)).fit(items, family)
    cols = f.code_columns_ordinal_
    assert len(cols) > 0
    Xo = f.transform_ordinal(items)
    before = Xo.copy()
    out = code_dropout(f, Xo, 0.3, random_state=0)
    np.testing.assert_array_equal(Xo, before)  # the input is untouched
    blanked = np.isnan(out[:, cols]).all(axis=1)
    assert 0.2 < blanked.mean() < 0.4
    assert not np.isnan(out[~blanked][:, cols]).any()  # the others keep every token
    np.testing.assert_array_equal(out[~blanked], Xo[~blanked])
    others = np.setdiff1d(np.arange(Xo.shape[1]), cols)
    np.testing.assert_array_equal(out[:, others], Xo[:, others])
    again = code_dropout(f, Xo, 0.3, random_state=0)
    np.testing.assert_array_equal(np.isnan(again), np.isnan(out))
    assert not np.array_equal(np.isnan(code_dropout(f, Xo, 0.3, random_state=1)), np.isnan(out))


def test_code_dropout_leaves_alone_without_share_or_code():
    items, family = coded_items()
    f = ItemFeaturizer(["size"], config=FeatureConfig(code_check=False)).fit(items, family)
    Xo = f.transform_ordinal(items)
    assert code_dropout(f, Xo, 0.0, 0) is Xo
    plain = ItemFeaturizer(["size"], use_code=False).fit(items, family)
    Xp = plain.transform_ordinal(items)
    assert code_dropout(plain, Xp, 0.5, 0) is Xp


def test_no_trial_with_few_items(toy_model):
    ops, model = toy_model
    assert model.n_items_ < TrialConfig().baseline_min_items
    assert model.baseline_trial_ is None and model.baseline_leads_ is False


@pytest.fixture(scope="module")
def trial():
    ops = options_table(per_combo=20)
    config = ModelConfig().replace(trial={"baseline_min_items": 40})
    model = RoutingModel(n_jobs=1, baseline_check=False, config=config).fit(ops, ["heat", "coat", "size"], [])
    checked = check_ops(ops)
    items = item_frame(checked, model.vocab_.items_, model.item_attributes_)
    return baseline_trial(model, checked, items, config.trial), model


def test_trial_on_attributes_that_decide_the_routing(trial):
    result, model = trial
    assert set(result) == {"items", "model_similarity", "most_frequent_similarity", "margin", "model_wins"}
    assert result["items"] == min(TrialConfig().baseline_held, model.n_items_ // 4) == 15
    assert 0.0 <= result["most_frequent_similarity"] <= result["model_similarity"] <= 1.0
    assert result["model_similarity"] > 0.9  # the options decide the steps
    assert result["model_wins"] is True
