"""Mappings remembered by header, a version's mapping reused for its files, and batch rows accounted for."""

from __future__ import annotations

import io
import json

import pytest

from routing_core.datasets import DatasetStore, normalise, read_table
from routing_core.datasets.batch import read_batch
from routing_core.mapping import mapping_memory
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN


def test_remembered_for_the_same_set_of_headers_in_any_order(tmp_path):
    mapping_memory.remember(tmp_path, ["B", "A", "C"], {"A": "item_code", "B": "process_code", "C": "-"})
    recalled = mapping_memory.recall(tmp_path, ["C", "A", "B"])
    assert recalled is not None and recalled[0] == {"A": "item_code", "B": "process_code", "C": "-"}
    assert mapping_memory.recall(tmp_path, ["A", "B"]) is None  # another set of headers
    assert mapping_memory.recall(tmp_path, ["A", "B", "C", "D"]) is None
    assert not list(tmp_path.glob(".mappings.json.*"))  # written through a temporary file, renamed


def test_a_damaged_or_hand_edited_memory_is_ignored(tmp_path):
    (tmp_path / "mappings.json").write_text("{not json")
    assert mapping_memory.recall(tmp_path, ["A"]) is None
    mapping_memory.remember(tmp_path, ["A", "B"], {"A": "item_code"})  # and replaced by a good one
    assert mapping_memory.recall(tmp_path, ["A", "B"])[0] == {"A": "item_code"}
    data = json.loads((tmp_path / "mappings.json").read_text())
    key = mapping_memory.header_key(["A", "B"])
    data[key]["mapping"] = {"A": "drop_table"}  # an unknown target
    (tmp_path / "mappings.json").write_text(json.dumps(data))
    assert mapping_memory.recall(tmp_path, ["A", "B"]) is None


def test_saving_a_dataset_remembers_its_mapping(tmp_path):
    csv = b"Teil;Arbeitsfolge;Kennzeichen;Gewicht\nP1;10;SAW;2\nP1;20;MILL;2\nP2;10;SAW;3\n"
    raw = read_table(io.BytesIO(csv), name="x.csv")
    explicit = {"Teil": "item_code", "Kennzeichen": "process_code", "Arbeitsfolge": "seq"}
    DatasetStore(tmp_path).save("x", normalise(raw, explicit), user=ADMIN)
    recalled, _ = mapping_memory.recall(tmp_path, raw.frame.columns)
    assert normalise(raw, recalled).mapping == normalise(raw, explicit).mapping


def test_a_version_mapping_is_used_when_the_file_has_its_columns():
    recorded = {"Kennung": "item_code", "Schritt": "seq", "Taetigkeit": "process_code"}
    # "Schritt" alone would be read as the process code by its name
    assert mapping_memory.for_version(["Kennung", "Schritt", "Farbe"], recorded, ["item_code"]) == {
        "Kennung": "item_code", "Schritt": "seq"}
    assert mapping_memory.for_version(["Kennung", "Farbe"], recorded, ["item_code", "process_code"]) is None
    assert mapping_memory.for_version(["item_code"], recorded, ["item_code"]) is None
    assert mapping_memory.for_version(["Kennung"], None, ["item_code"]) is None


def test_a_batch_row_without_an_item_code_gets_a_row_id_and_is_counted():
    csv = b"part,colour\nA1,red\nA2,blue\nA3,red\n,green\nA5,red\nA6,blue\n"
    items, summary = read_batch(io.BytesIO(csv), name="b.csv")
    assert items["item_code"].tolist() == ["A1", "A2", "A3", "row 4", "A5", "A6"]
    assert items.loc[3, "colour"] == "green"
    assert (summary.rows_in, summary.items, summary.rows_refused) == (6, 6, 0)
    assert summary.sentences()[0] == "6 row(s) in, 6 item(s) to predict, 0 row(s) refused."
    assert "(row 4)" in summary.sentences()[1]


def test_empty_rows_are_refused_with_their_numbers_and_long_form_rows_folded():
    csv = b"part;op;colour\nA1;SAW;red\nA1;MILL;red\n;;\nrow 4;SAW;blue\n;DRILL;red\n"
    items, summary = read_batch(io.BytesIO(csv), name="b.csv")
    assert items["item_code"].tolist() == ["A1", "row 4", "row 5"]  # "row 4" is a code of the file
    assert summary.refused == {"with no value in any cell": [3]}
    assert (summary.rows_in, summary.items, summary.folded, summary.rows_refused) == (5, 3, 1, 1)
    assert summary.rows_in == summary.items + summary.folded + summary.rows_refused


def test_a_batch_file_with_only_empty_rows_is_refused():
    with pytest.raises(UserError, match="no rows to predict"):
        read_batch(io.BytesIO(b"part,colour\n,\n,\n"), name="b.csv")
