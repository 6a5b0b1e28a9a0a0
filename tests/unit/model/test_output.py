"""What the model returns: the dataclasses, the long table, and the warnings of a batch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from routing_core.model import RoutingModel
from routing_core.model.output import (
    Candidate,
    ItemPrediction,
    Step,
    batch_warnings,
    predictions_frame,
    probability,
    shares,
)
from tests.unit.model.tables import options_table

COLUMNS = ["item_code", "rank", "score", "kind", "seq", "process_code", "duration_min", "duration_low",
           "duration_high", "step_probability"]


def prediction(code="A", kinds=("model",), n_steps=2) -> ItemPrediction:
    candidates = []
    for rank, kind in enumerate(kinds, start=1):
        steps = [Step(10 * (j + 1), f"P{j}", 1.23456 + j, 1.0, 2.0, {"work_center": f"WC{j}", "note": "x"},
                      0.87654) for j in range(n_steps)]
        candidates.append(Candidate(rank, 0.123456, steps, 3.0, [("R1", 0.955), ("R2", 0.5)], kind, "why"))
    return ItemPrediction(code, candidates, known=False, fallback=kinds[0] == "fallback")


def test_predictions_frame_one_row_per_step():
    preds = [prediction("A", ("model", "model"), 3), prediction("B", ("fallback",), 2)]
    frame = predictions_frame(preds, ["work_center", "note"])
    assert frame.columns.tolist() == [*COLUMNS, "work_center", "note (attribute)", "references", "note"]
    assert len(frame) == 3 + 3 + 2
    assert frame["item_code"].tolist() == ["A"] * 6 + ["B"] * 2
    assert frame["rank"].tolist() == [1, 1, 1, 2, 2, 2, 1, 1]
    assert frame["seq"].tolist() == [10, 20, 30, 10, 20, 30, 10, 20]
    row = frame.iloc[0]
    assert row["score"] == 0.1235 and row["duration_min"] == 1.235 and row["step_probability"] == 0.877
    assert row["references"] == "R1 (0.95); R2 (0.50)"
    assert row["note"] == "why" and row["note (attribute)"] == "x" and row["work_center"] == "WC0"
    assert frame["kind"].tolist()[-1] == "fallback"


def test_predictions_frame_of_nothing_has_the_columns():
    frame = predictions_frame([], ["work_center"])
    assert frame.empty and frame.columns.tolist() == [*COLUMNS, "work_center", "references", "note"]


def test_known_steps_have_no_probability_and_blank_times_stay_blank():
    step = Step(10, "CUT", None, None, None)
    pred = ItemPrediction("K", [Candidate(1, 1.0, [step], None, [("K", 1.0)], "known")], True, False)
    frame = predictions_frame([pred], [])
    assert frame["step_probability"].isna().all() and frame["duration_min"].isna().all()


def test_candidate_processes_and_best_similarity():
    pred = prediction()
    assert pred.candidates[0].processes == ["P0", "P1"]
    assert pred.best_similarity == 0.955
    assert ItemPrediction("X", [], False, True).best_similarity == 0.0


def test_batch_warnings_for_a_file_missing_all_attributes(toy_model):
    ops, model = toy_model
    items = pd.DataFrame({"item_code": ["X1", "X2"], "Werkstoff": ["St", "Al"]})
    said = batch_warnings(model, items, predictions_frame([prediction("X1"), prediction("X2")], []))
    assert said == ["The file holds none of the attributes this version learned from (heat, coat, size): "
                    "the predictions rest on the item codes alone."]


def test_batch_warnings_when_most_items_fall_back(toy_model):
    ops, model = toy_model
    items = ops.drop_duplicates("item_code").head(3)
    many = [prediction("A", ("fallback", "model")), prediction("B", ("fallback",)), prediction("C")]
    assert batch_warnings(model, items, predictions_frame(many, [])) == [
        "2 of 3 items are unlike every training item and got the most frequent routing of their group: "
        "is the file from another plant, or are its columns named differently?"]
    few = [prediction("A", ("fallback",)), prediction("B"), prediction("C")]
    assert batch_warnings(model, items, predictions_frame(few, [])) == []


def test_batch_warnings_name_five_missing_attributes_and_count_the_rest():
    ops = options_table(per_combo=10)
    for k in range(4):
        ops[f"extra{k}"] = ops["size"].round() % (k + 2)
    attrs = ["heat", "coat", "size", "extra0", "extra1", "extra2", "extra3"]
    model = RoutingModel(n_jobs=1, baseline_check=False).fit(ops, attrs, [])
    items = ops.drop_duplicates("item_code").head(2)[["item_code", "heat"]]
    said = batch_warnings(model, items, predictions_frame([prediction("A")], []))
    assert said == ["The file lacks 6 of the 7 attributes this version learned from (coat, size, extra0, "
                    "extra1, extra2 and 1 more): they count as blank for every item."]


def test_shares_stay_probabilities_where_a_division_rounds_above_one():
    # A sum of shares a rounding step above 1 on every IEEE-754 machine: (0.1 + 0.2) / 0.3.
    assert (0.1 + 0.2) / 0.3 > 1.0
    assert probability((0.1 + 0.2) / 0.3) == 1.0
    assert shares([0.0, 0.0]).tolist() == [0.0, 0.0]
    assert shares([-1e-18, 2.0]).tolist() == [0.0, 1.0]
    assert np.allclose(shares([1, 3]), [0.25, 0.75], rtol=0, atol=1e-15)
