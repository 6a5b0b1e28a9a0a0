"""The plant's unit of time: remembered by a dataset, shown and exported in it."""

from __future__ import annotations

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.mapping import units
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN

HOURS = (b"ARTICULO;OPERACION;SECUENCIA;TIEMPO_H;PESO_KG\n"
         b"A1;SIERRA;10;0,5;1,5\nA1;TORNO;20;1,25;1,5\nA2;SIERRA;10;2;3\n")


def test_a_dataset_remembers_hours(tmp_path):
    ds = load_dataset(HOURS, name="es.csv")
    assert ds.ops["duration_min"].tolist() == [30.0, 75.0, 120.0]  # kept in minutes inside
    record, _ = DatasetStore(tmp_path).save("es", ds, user=ADMIN)
    assert record.duration_unit == "h"
    again = DatasetStore(tmp_path).record("es")  # read back from record.json
    assert again.duration_unit == "h" and units.dataset_unit(again) == "h"


def test_unit_from_the_mapping_when_not_recorded():
    class Old:  # a record stored before the unit was: its mapping says it
        mapping = {"Zeit[s]": "duration_s"}
        duration_unit = None
    assert units.dataset_unit(Old()) == "s"
    assert units.unit_of_mapping({"a": "item_code"}) == "min"


def test_version_unit_from_the_manifest_or_the_stored_dataset():
    class Rec:
        name, sha256, mapping, duration_unit = "es", "abc", {}, "h"
    assert units.version_unit({"name": "es", "sha256": "abc", "duration_unit": "s"}, []) == "s"
    assert units.version_unit({"name": "es", "sha256": "abc"}, [Rec()]) == "h"
    assert units.version_unit({"name": "es", "sha256": "other"}, [Rec()]) == "min"  # not the same data


def test_text_and_conversion():
    assert units.duration_text(226.0, "h", 2) == "3.77 h"
    assert units.duration_text(4.99, "min", 2) == "4.99 min"
    assert units.duration_text(1.5, "s") == "90.0 s"
    assert units.duration_text(None, "h") == "—"
    with pytest.raises(UserError, match="Unknown unit of time 'd'"):
        units.duration_text(1.0, "d")


def test_export_columns_named_by_unit():
    frame = pd.DataFrame({"item_code": ["A"], "duration_min": [90.0], "duration_low": [60.0],
                          "duration_high": [120.0], "total time (min)": [180.0], "score": [0.5]})
    out = units.in_unit(frame, "h")
    assert list(out.columns) == ["item_code", "duration_h", "duration_low_h", "duration_high_h",
                                 "total time (h)", "score"]
    assert out.iloc[0].tolist() == ["A", 1.5, 1.0, 2.0, 3.0, 0.5]
    assert frame["duration_min"].tolist() == [90.0]  # the input is left as it was
    assert list(units.in_unit(frame, "min").columns) == list(frame.columns)


def test_train_it_now_keeps_the_typed_name():
    from routing_core.engine.train_request import plan_version_name

    assert plan_version_name("  v-es  ", None) == "v-es"  # typed after a dry run without a name
    assert plan_version_name("v-new", "v-planned") == "v-new"  # typed after the plan: it wins
    assert plan_version_name("", "v-planned") == "v-planned"
    assert plan_version_name(None, None) is None  # automatic
