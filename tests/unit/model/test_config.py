"""ModelConfig: the tuning constants, their round trip through a plain dict, and changes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from routing_core.model.config import ExpertConfig, ModelConfig, TrialConfig


def test_round_trip_through_a_plain_dict():
    config = ModelConfig().replace(trial={"code_dropout": 0.1}, experts={"stack_folds": 5})
    data = json.loads(json.dumps(config.to_dict()))  # as a manifest stores it
    assert ModelConfig.from_dict(data) == config
    assert data["trial"]["code_dropout"] == 0.1 and data["experts"]["stack_folds"] == 5


def test_missing_settings_take_defaults():
    assert ModelConfig.from_dict(None) == ModelConfig()
    assert ModelConfig.from_dict({}) == ModelConfig()
    partial = ModelConfig.from_dict({"durations": {"min_rows": 3}})
    assert partial.durations.min_rows == 3
    assert partial.durations.rows == ModelConfig().durations.rows
    assert partial.experts == ExpertConfig()


def test_unknown_keys_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown setting\\(s\\) in trial: bogus, zz"):
        ModelConfig.from_dict({"trial": {"zz": 1, "bogus": 2}})
    with pytest.raises(ValueError, match="unknown part\\(s\\) of the model configuration: extras"):
        ModelConfig.from_dict({"extras": {}})


def test_replace_changes_only_what_is_named():
    base = ModelConfig()
    changed = base.replace(trial={"code_dropout": 0.0})
    assert changed.trial.code_dropout == 0.0
    assert changed.trial.baseline_min_items == base.trial.baseline_min_items
    assert changed.experts == base.experts
    assert base.trial.code_dropout == 0.3  # the original is untouched
    whole = base.replace(trial=TrialConfig(code_dropout=0.5, baseline_held=7))
    assert whole.trial == TrialConfig(code_dropout=0.5, baseline_held=7)
    with pytest.raises(ValueError, match="nonsense"):
        base.replace(trial={"nonsense": 1})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().trial.code_dropout = 0.5  # type: ignore[misc]


def test_replace_refuses_an_unknown_part_by_name():
    with pytest.raises(ValueError, match="trail"):
        ModelConfig().replace(trail={"code_dropout": 0.0})
