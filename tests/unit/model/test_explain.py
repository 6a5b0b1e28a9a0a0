"""Why a step is proposed: the additive model's parts per attribute (routing_core.model.explain)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from routing_core.model import RoutingModel, explain


def colour_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """PAINT only on red items; size decides nothing."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        colour = ["red", "blue", "green"][i % 3]
        size = float(rng.uniform(10, 100))
        steps = ["CUT"] + (["PAINT"] if colour == "red" else []) + ["PACK"]
        rows += [{"item_code": f"I{i:04d}", "seq": k + 1, "process_code": s, "colour": colour, "size": size}
                 for k, s in enumerate(steps)]
    return pd.DataFrame(rows)


def test_the_deciding_attribute_is_named_for_and_against():
    model = RoutingModel().fit(colour_table())
    items = pd.DataFrame({"item_code": ["R", "B"], "colour": ["red", "blue"], "size": [50.0, 50.0]})
    why = explain(model, items, steps=["PAINT"])
    red = why[(why["item_code"] == "R") & (why["direction"] == "for")]
    blue = why[(why["item_code"] == "B") & (why["direction"] == "against")]
    assert red.iloc[0]["attribute"] == "colour" and red.iloc[0]["value"] == "red"
    assert red.iloc[0]["weight"] > 0.3  # red adds most of PAINT's probability over the average item
    assert blue.iloc[0]["attribute"] == "colour" and blue.iloc[0]["weight"] < -0.1
    assert red.iloc[0]["probability"] > 0.9 > 0.1 > blue.iloc[0]["probability"]
    assert set(why["step"]) == {"PAINT"} and set(why["process_code"]) == {"PAINT"}


def test_the_parts_add_up_to_the_additive_estimate_minus_the_average_items():
    model = RoutingModel().fit(colour_table())
    items = pd.DataFrame({"item_code": ["G"], "colour": ["green"], "size": [80.0]})
    why = explain(model, items, steps=["PAINT"], top=10, min_weight=0.0)
    f, additive = model.featurizer_, model.additive_
    z = f.imputation_design(f.encode(items))[0][0]
    t = model.tokens_.index("PAINT")
    expected = float((z - additive.z_mean_) @ additive.coef_[:, t])
    assert abs(why["weight"].sum() - expected) < 1e-3  # every attribute's part, nothing lost


def test_candidate_steps_carry_the_probability_the_explanation_shows():
    model = RoutingModel().fit(colour_table())
    item = pd.DataFrame({"item_code": ["R2"], "colour": ["red"], "size": [20.0]})
    first = model.predict(item)[0].candidates[0]
    assert first.processes == ["CUT", "PAINT", "PACK"]
    paint = next(s for s in first.steps if s.process_code == "PAINT")
    why = explain(model, item, steps=["PAINT"])
    assert abs(paint.probability - why["probability"].iloc[0]) < 1e-3
    frame = model.predict_frame(item)
    assert frame.loc[frame["process_code"] == "PAINT", "step_probability"].iloc[0] == round(paint.probability, 3)


def test_reasons_in_words_name_each_step_once_with_its_repeats_apart():
    from routing_core.model.explain import reasons_in_words, step_tokens

    assert step_tokens(["CUT", "TEST", "CUT", "TEST", "TEST"]) == ["CUT", "TEST", "CUT#2", "TEST#2", "TEST#3"]
    model = RoutingModel().fit(colour_table())
    item = pd.DataFrame({"item_code": ["R"], "colour": ["red"], "size": [20.0]})
    lines = reasons_in_words(model, item, ["CUT", "PAINT", "PACK"])
    assert len(lines) == 3 and lines[0] == "" and lines[2] == ""  # every item has CUT and PACK
    assert lines[1].startswith("for: colour = red (+") and "against" not in lines[1]
