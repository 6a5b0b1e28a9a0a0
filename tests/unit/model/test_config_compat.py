"""A version saved before a tuning value had its place in ModelConfig still loads and answers the
same: a missing part of the config reads back as its defaults, a missing value of a part as its
default, and a featurizer or step evidence saved without a config uses the defaults."""

from __future__ import annotations

import pickle
from dataclasses import fields

import numpy as np
import pandas as pd

from routing_core.model import ModelConfig, RoutingModel
from routing_core.model.config import DurationConfig, FeatureConfig, TextConfig
from tests.unit.model.tables import options_table

# The parts of ModelConfig added with the values moved out of the modules.
NEW_PARTS = ("features", "text")


def _queries(ops: pd.DataFrame) -> pd.DataFrame:
    items = ops.drop_duplicates("item_code").head(40)[["item_code", "heat", "coat", "size"]]
    blank = pd.DataFrame({"item_code": ["NEW-1", ""], "heat": [None, "Y"], "coat": ["N", None], "size": [55.0, None]})
    return pd.concat([items, blank], ignore_index=True)


def _as_saved_before(model: RoutingModel) -> RoutingModel:
    """A copy whose state lacks what this change added: the new parts of the config, every value
    of the other parts (their instance values), and the configs of the featurizer and the
    step evidence."""
    old = pickle.loads(pickle.dumps(model))
    state = old.config_.__dict__
    for name in NEW_PARTS:
        del state[name]
    for f in fields(ModelConfig):
        if f.name in state:
            state[f.name].__dict__.clear()
    for name in ("config", "text"):
        del old.featurizer_.__dict__[name]
    del old.candidates_.evidence.__dict__["config"]
    return old


def test_a_model_saved_before_the_new_config_values_loads_and_predicts_the_same(tmp_path):
    ops = options_table(per_combo=12)
    model = RoutingModel(n_jobs=1, n_estimators=4).fit(ops, ["heat", "coat", "size"], ["work_center"])
    queries = _queries(ops)
    before = model.predict_frame(queries)
    old = _as_saved_before(model)
    assert not any(name in old.config_.__dict__ for name in NEW_PARTS)
    assert "config" not in vars(old.featurizer_) and "config" not in vars(old.candidates_.evidence)
    old.save(tmp_path / "model.joblib")

    loaded = RoutingModel.load(tmp_path / "model.joblib")
    assert loaded.config_.features == FeatureConfig() and loaded.config_.text == TextConfig()
    assert loaded.config_.to_dict() == ModelConfig().to_dict()
    assert loaded.featurizer_.settings == FeatureConfig() and loaded.candidates_.evidence.config == DurationConfig()
    after = loaded.predict_frame(queries)
    pd.testing.assert_frame_equal(after, before, check_exact=False, rtol=1e-9)
    assert np.allclose(loaded.step_probabilities(queries), model.step_probabilities(queries), rtol=1e-9, atol=0)


def test_the_recorded_config_reads_back_whole():
    config = ModelConfig().replace(features={"min_frequency": 3}, text={"max_terms": 10},
                                   experts={"stack_seed": 11})
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config and again.features.min_frequency == 3 and again.experts.stack_seed == 11
    assert pickle.loads(pickle.dumps(config)) == config
