"""A blank that the training data uses as a value of its own is offered as "none"; mixed-type
columns are converted once, on reading, and display tables convert to Arrow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from routing_core.datasets import item_table, load_dataset
from routing_core.model import RoutingModel
from tests.unit.model.tables import options_table
from ui.summary import NONE_CHOICE, blank_is_a_value, form_value, reference_attributes


@pytest.fixture(scope="module")
def finished():
    """The options table with the coating written as a finish: "ZINC" when coated, blank when not
    (blank for 2 of 3 items: "no finish"); a grade blank on 1 item in 30 (a gap: unknown)."""
    ops = options_table(per_combo=30)
    ops["finish"] = np.where(ops["coat"] == "Y", "ZINC", None)
    codes = ops["item_code"].unique()
    ops["grade"] = np.where(ops["item_code"].isin(codes[::30]), None, "A")
    ops = ops.drop(columns=["coat"])
    model = RoutingModel().fit(ops, item_attributes=["heat", "size", "finish", "grade"])
    return ops, model


def test_none_is_offered_where_blank_is_a_value_of_its_own(finished):
    ops, model = finished
    items = item_table(ops, ["heat", "size", "finish", "grade"])
    offered = blank_is_a_value(model, items)
    assert set(offered) == {"finish"}  # not the grade (sporadic blanks), not the numeric size
    assert offered["finish"] == pytest.approx(60 / 90)  # 2 of 3 combinations have no coating
    assert blank_is_a_value(model)["finish"] is None  # without the items: no share to tell
    # "none" reaches the model as the blank it learned: the uncoated routing comes first
    item = {"item_code": "new", "heat": "N", "size": 50.0, "grade": "A", "finish": form_value(NONE_CHOICE)}
    first = model.predict(pd.DataFrame([item]), top_k=3)[0].candidates[0].processes
    assert list(first) == ["CUT", "DRILL", "INSPECT"]
    zinc = {**item, "finish": form_value("ZINC")}
    assert list(model.predict(pd.DataFrame([zinc]), top_k=3)[0].candidates[0].processes) == [
        "CUT", "DRILL", "COAT", "INSPECT"]


def test_dates_and_numbers_as_text_are_converted_once_on_reading():
    csv = (b"ARTICULO;OPERACION;SECUENCIA;TIEMPO_H;FECHA_ALTA;PESO_KG\n"
           b"A1;SIERRA;10;0,5;2021-03-04;1,5\nA1;TORNO;20;1,25;2021-03-04;1,5\n"
           b"A2;SIERRA;10;0,25;2022-05-04;2\nA3;SIERRA;10;0,25;;2\n")
    ds = load_dataset(csv, name="es.csv")
    assert pd.api.types.is_string_dtype(ds.ops["FECHA_ALTA"])  # a reader's dates: text, once
    assert ds.ops["FECHA_ALTA"].tolist()[:3] == ["2021-03-04", "2021-03-04", "2022-05-04"]
    assert pd.isna(ds.ops["FECHA_ALTA"].iloc[3])
    items = item_table(ds.ops, ds.item_attributes)
    # a typed item (text date, a number for the weight) beside the stored ones: one table that
    # converts to Arrow (Streamlit's display) without a type error
    query = pd.DataFrame([{"item_code": "new", "FECHA_ALTA": "2021-03-04", "PESO_KG": 1.5}])
    table, differs = reference_attributes(query, [("A1", 0.9), ("A2", 0.5)], items, ds.item_attributes)
    pa.Table.from_pandas(table)
    assert table["PESO_KG"].tolist() == ["1.5", "1,5", "2"]
    assert differs["FECHA_ALTA"].tolist() == [False, False, True]
