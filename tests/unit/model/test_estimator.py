"""RoutingModel: the parts fitted in turn and asked in turn, on a small table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model import RoutingModel
from routing_core.model.experts import EXPERTS
from routing_core.platform.errors import UserError


def test_step_probabilities_follow_the_tables_rule(toy_model):
    ops, model = toy_model
    items = pd.DataFrame({"item_code": ["N1", "N2", "N3"], "heat": ["Y", "N", "N"],
                          "coat": ["N", "N", "Y"], "size": [50.0, 50.0, 50.0]})
    p = model.step_probabilities(items)
    assert p.shape == (3, len(model.tokens_))
    # The table's rule, worked out by hand: CUT, DRILL and INSPECT always; HEAT when heat is Y;
    # COAT when coat is Y. Every training item follows it, so the model is near-certain.
    rule = {"CUT": [1, 1, 1], "DRILL": [1, 1, 1], "INSPECT": [1, 1, 1], "HEAT": [1, 0, 0], "COAT": [0, 0, 1]}
    expected = np.array([rule[t] for t in model.tokens_], dtype=float).T
    np.testing.assert_allclose(p, expected, atol=0.01)


def test_long_form_rows_are_one_item(toy_model):
    ops, model = toy_model
    own = ops[ops["item_code"] == "P-0001"]
    assert len(own) > 1
    assert model.step_probabilities(own).shape == (1, len(model.tokens_))


def test_parts_lists_the_three_experts(toy_model):
    _, model = toy_model
    parts = model.parts()
    assert set(parts) == {"experts", "features", "size_evidence", "baseline_trial", "most_frequent_leads"}
    assert list(parts["experts"]) == list(EXPERTS) == ["forest", "additive", "step_trees"]
    for part in parts["experts"].values():
        assert set(part) == {"on", "weight", "lift"}
        assert part["on"] == (part["weight"] > 0)
    assert any(part["on"] for part in parts["experts"].values())


def test_state_mirrors_the_vocabulary(toy_model):
    ops, model = toy_model
    assert model.n_items_ == ops["item_code"].nunique() == 60
    assert model.processes_ == ["COAT", "CUT", "DRILL", "HEAT", "INSPECT"]
    assert sorted(map(tuple, (model.vocab_.routing_processes(r) for r in range(len(model.routings_))))) == sorted([
        ("CUT", "DRILL", "INSPECT"), ("CUT", "HEAT", "DRILL", "INSPECT"), ("CUT", "DRILL", "COAT", "INSPECT")])


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted yet"):
        RoutingModel().predict(pd.DataFrame({"item_code": ["A"]}))


def test_save_and_load_answer_the_same(toy_model, tmp_path):
    _, model = toy_model
    path = tmp_path / "model.joblib"
    model.save(path)
    again = RoutingModel.load(path)
    items = pd.DataFrame({"item_code": ["N1"], "heat": ["Y"], "coat": ["N"], "size": [40.0]})
    np.testing.assert_allclose(again.step_probabilities(items), model.step_probabilities(items))
    import joblib

    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(UserError, match="does not hold a routing model"):
        RoutingModel.load(tmp_path / "other.joblib")


def test_step_probabilities_of_no_items_is_empty(toy_model):
    _, model = toy_model
    empty = pd.DataFrame({"item_code": pd.Series([], dtype="str")})
    assert model.predict(empty) == []  # the other questions answer an empty table
    assert model.step_probabilities(empty).shape == (0, len(model.tokens_))


def test_rare_process_codes_are_pooled_under_one_name():
    from routing_core.model import ModelConfig
    from tests.unit.model.tables import options_table

    config = ModelConfig().replace(vocabulary={"max_process_codes": 4})
    model = RoutingModel(n_jobs=1, baseline_check=False, config=config).fit(
        options_table(per_combo=10), ["heat", "coat", "size"], ["work_center"])
    assert model.processes_ == ["CUT", "DRILL", "INSPECT", "OTHER_PROCESS"]
    assert sorted(model.pooled_processes_) == ["COAT", "HEAT"]  # on 10 items each, the others on 30
    reading = model.reading()
    assert (reading["pooled_process_codes"], reading["pooled_as"], reading["process_codes"]) == (2, "OTHER_PROCESS", 4)
    [pred] = model.predict(pd.DataFrame({"item_code": ["N"], "heat": ["Y"], "coat": ["N"], "size": [50.0]}))
    assert pred.candidates[0].processes == ["CUT", "OTHER_PROCESS", "DRILL", "INSPECT"]
