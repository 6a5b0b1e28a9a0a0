"""Batch summaries and reference items beside the query, on real predictions and by hand."""

from __future__ import annotations

import math

import pandas as pd

from routing_core.model import RoutingModel
from routing_core.synthetic.sample import SampleConfig, generate
from ui.summary import item_summary, reference_attributes


def test_item_summary_matches_the_predictions():
    ops = generate(SampleConfig(n_items=200, seed=4))
    model = RoutingModel().fit(ops)
    items = generate(SampleConfig(n_items=12, seed=5)).groupby("item_code", sort=False).first().reset_index()
    preds = model.predict(items, top_k=3, ignore_history=True)
    result = model.predict_frame(items, top_k=3, ignore_history=True)
    s = item_summary(result)
    assert s["item_code"].tolist() == [p.item_code for p in preds]
    for row, p in zip(s.itertuples(), preds, strict=True):
        first = p.candidates[0]
        assert row.routing == " → ".join(first.processes)
        assert row.steps == len(first.steps)
        assert row.kind == first.kind
        assert row.candidates == len(p.candidates)
        if first.total_duration_min is not None:
            assert math.isclose(row._6, first.total_duration_min, abs_tol=0.06)


def test_reference_attributes_mark_the_differences():
    query = pd.DataFrame([{"item_code": "NEW", "material": "steel", "weight": 2.0, "finish": None}])
    items = pd.DataFrame({"item_code": ["A", "B"], "material": ["steel", "alu"], "weight": [2.0, 2.5],
                          "finish": [None, "paint"]})
    table, differs = reference_attributes(query, [("B", 0.9), ("A", 0.95), ("GONE", 0.5)], items,
                                          ["item_code", "material", "weight", "finish"])
    assert table["item_code"].tolist() == ["NEW (this item)", "B", "A", "GONE"]
    assert table["similarity"].tolist()[1:] == [0.9, 0.95, 0.5]
    assert differs.loc[1, ["material", "weight", "finish"]].tolist() == [True, True, True]
    assert differs.loc[2, ["material", "weight", "finish"]].tolist() == [False, False, False]
    assert differs.loc[3, "material"]  # an unknown reference: blank against steel differs
    assert not differs.loc[0].any()
