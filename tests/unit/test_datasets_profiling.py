"""Profiling an operations table (routing_core.datasets.profiling): item versus operation attributes,
and items whose values disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.datasets.profiling import (
    classify_attributes,
    item_index,
    items_with_several_values,
)


def test_attributes_are_classified_by_how_many_items_disagree():
    # 40 items of two rows each (item 0 also has a one-row neighbour, which never disagrees).
    rows = []
    for i in range(40):
        rows += [{"item_code": f"I{i:02}", "seq": s, "process_code": "P"} for s in (1, 2)]
    ops = pd.DataFrame(rows)
    ops.loc[len(ops)] = {"item_code": "J", "seq": 1, "process_code": "P"}
    n = len(ops)
    ops["same"] = ["x"] * n                      # constant everywhere
    ops["blank_inside"] = [None if k % 2 else f"v{k // 2}" for k in range(n)]  # a value and a blank
    ops["two_items"] = ["a"] * n                 # 2 of 40 items disagree: 5 %, still an item attribute
    ops.loc[[1, 3], "two_items"] = "b"
    ops["three_items"] = [1.0] * n               # 3 of 40: 7.5 %, describes operations
    ops.loc[[1, 3, 5], "three_items"] = 2.0
    ops.loc[[7], "three_items"] = None           # a blank beside a value is no disagreement
    ops["per_step"] = [f"WC-{k % 2}" for k in range(n)]
    attrs = ["same", "blank_inside", "two_items", "three_items", "per_step"]
    item_attrs, op_attrs, disagreeing = classify_attributes(ops, attrs)
    assert item_attrs == ["same", "blank_inside", "two_items"]
    assert op_attrs == ["three_items", "per_step"]
    assert disagreeing == {"two_items": 2}
    # an item whose values differ only across a blank (a, blank, b) does disagree
    ops2 = pd.DataFrame({"item_code": ["A"] * 3 + ["B"] * 2, "seq": [1, 2, 3, 1, 2],
                         "v": ["a", None, "b", "c", "c"], "w": [1.0, None, 1.0, 2.0, 3.0]})
    _, _, disagreeing = classify_attributes(ops2, ["v", "w"])
    assert disagreeing == {}  # both columns disagree in half the items: operation attributes
    assert classify_attributes(ops2, ["v", "w"])[1] == ["v", "w"]


@pytest.mark.parametrize("kind", ["number", "text", "object", "mixed", "flag"])
def test_disagreeing_items_are_counted_as_pandas_counts_them(kind):
    # The neighbour comparison (with blanks in runs anywhere) against groupby().nunique() > 1.
    rng = np.random.default_rng(5)
    for _ in range(400):
        lengths = rng.integers(1, 6, rng.integers(1, 8))
        codes = np.repeat([f"I{i}" for i in range(len(lengths))], lengths)
        values = rng.integers(0, rng.integers(1, 4), len(codes)).astype(float)
        values[rng.random(len(codes)) < rng.random()] = np.nan
        if kind == "number":
            column = pd.Series(values)
        elif kind == "mixed":  # a table built by hand: 1 and 1.0 are one value, "1" another
            kinds = rng.integers(0, 3, len(values))
            column = pd.Series([None if v != v else (int(v), float(v), f"{v:.0f}")[k] for v, k in zip(values, kinds, strict=True)],
                               dtype=object)
        elif kind == "flag":
            column = pd.Series([pd.NA if v != v else bool(v % 2) for v in values], dtype="boolean")
        else:
            column = pd.Series([None if v != v else f"v{v:.0f}" for v in values],
                               dtype="str" if kind == "text" else object)
        ops = pd.DataFrame({"item_code": pd.Series(codes, dtype="str"), "v": column})
        expected = int((ops.groupby("item_code", sort=False)["v"].nunique() > 1).sum())
        assert items_with_several_values(ops["v"], item_index(ops)) == expected, ops
