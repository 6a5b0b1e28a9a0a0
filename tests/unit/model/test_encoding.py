"""How item features are encoded: statistics, codes of columns, and the held-out check of parts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from routing_core.model.encoding import (
    NUMBER_CAP,
    attribute_codes,
    entropy,
    held_out_lift,
    mutual_information,
    sample_skew,
)


def test_entropy_by_hand():
    assert entropy(np.array([1, 1])) == pytest.approx(math.log(2))
    assert entropy(np.array([2, 0, 2, 4])) == pytest.approx(-(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5)))
    assert entropy(np.array([0, 0])) == 0.0
    assert mutual_information(np.array([], dtype=int), np.array([], dtype=int)) == 0.0


def test_numbers_are_binned_by_quantile_with_blank_a_bin_of_its_own():
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0, np.nan, 100.0, "x", np.inf]})
    codes = attribute_codes(frame, "v", numeric=True, min_count=1)
    assert len(codes) == 8
    blank = codes[4]
    assert codes[6] == blank and codes[7] == blank  # text and infinity count as blank
    finite = [0, 1, 2, 3, 5]
    assert len(set(codes[finite].tolist()) | {blank}) == 6  # five values, five bins, and blank
    # bins follow the values' order (codes are numbered by first appearance)
    assert len(set(codes[finite])) == 5


def test_rare_categories_share_one_code():
    frame = pd.DataFrame({"c": ["a", "a", "a", "b", "c", None, None]})
    codes = attribute_codes(frame, "c", numeric=False, min_count=2)
    assert codes[0] == codes[1] == codes[2]
    assert codes[3] == codes[4]  # b and c are rare: one code
    assert codes[5] == codes[6] != codes[0]  # blank is a value seen twice
    assert len(set(codes.tolist())) == 3


def test_sample_skew():
    assert sample_skew(np.array([5.0, 5.0, 5.0])) == 0.0
    v = np.array([1.0, 1.0, 1.0, 10.0])
    m, s = v.mean(), v.std()
    assert sample_skew(v) == pytest.approx(np.mean(((v - m) / s) ** 3))
    assert NUMBER_CAP == 1e12


def test_held_out_lift_keeps_a_telling_part_and_drops_noise():
    rng = np.random.default_rng(0)
    n = 600
    target = rng.integers(0, 3, n)
    telling = target + rng.normal(0, 0.1, n)
    weak = rng.normal(size=n)  # the attribute the other parts are compared against
    noise = rng.normal(size=(n, 2))
    X = np.column_stack([weak, telling, noise])
    lift, dropped = held_out_lift(X, target, 400, {"code": (np.array([1]), 0.01),
                                                   "text": (np.array([2, 3]), 0.0)})
    assert dropped == ["text"]
    assert lift["code"]["kept"] and lift["code"]["top1_gain"] > 0.3
    assert lift["code"]["held_out_items"] == 200
    assert not lift["text"]["kept"]
    assert set(lift["text"]) == {"held_out_items", "top1_gain", "items_changed", "kept"}
