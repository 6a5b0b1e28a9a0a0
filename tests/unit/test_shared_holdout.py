"""Head to head on a shared holdout: each version fitted again on the same items, scored on the rest."""

from __future__ import annotations

import pytest

from routing_core.datasets import load_dataset
from routing_core.model.config import ModelConfig
from routing_core.platform.errors import UserError
from routing_core.scoring.evaluation import routing_metrics
from routing_core.scoring.holdout import split_ops
from routing_core.scoring.shared_holdout import compare_on_shared_holdout, model_from_params
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes


def test_versions_are_fitted_on_the_same_items_and_scored_on_the_same_others():
    dataset = load_dataset(sample_csv_bytes(SampleConfig(n_items=100, seed=4)), name="s.csv")
    recorded = {"top_k": 5, "n_estimators": 4, "random_state": 1, "config": ModelConfig().to_dict(),
                "test_size": 0.3, "seed": 9, "refit": True, "split": {"kind": "random"}}
    other = {**recorded, "n_estimators": 8, "random_state": 2}
    model = model_from_params(other)
    assert model.n_estimators == 8 and model.random_state == 2 and isinstance(model.config, ModelConfig)

    result = compare_on_shared_holdout({"a": recorded, "b": other}, dataset, test_size=0.25, seed=3)
    train, test, _ = split_ops(dataset.ops, 0.25, 3)
    assert result.versions == ["a", "b"] and result.n_items == 25 == test["item_code"].nunique()
    assert set(result.per_item["item"]) == set(test["item_code"])
    assert "every version fitted again on the same 75 items, all scored on the other 25" in result.source
    # the figure of "a" is what its model, fitted on those 75 items alone, scores on the 25
    alone = model_from_params(recorded).fit(train, item_attributes=dataset.item_attributes,
                                            operation_attributes=dataset.operation_attributes)
    expected = routing_metrics(alone, test)["routing_accuracy"]
    row = result.metrics[result.metrics["metric"] == "routing accuracy"].iloc[0]
    assert row["a"] == pytest.approx(expected)
    with pytest.raises(UserError, match="at least two versions"):
        compare_on_shared_holdout({"a": recorded}, dataset)
