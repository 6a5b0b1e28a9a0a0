"""Normalising a RawTable to the data contract (routing_core.datasets.normalising): mapping, codes,
order, dirt warnings, items to predict."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from routing_core.datasets import (
    load_dataset,
)
from routing_core.datasets.normalising import may_need_trim
from routing_core.mapping.schema import detect_mapping, parse_map_args, resolve_mapping
from routing_core.platform.errors import UserError
from tests.conftest import FABRICAD, FABRICAD_MAP


@pytest.mark.parametrize("rows, expected", [
    # grouped by item though not sorted by code: the file's item order stays
    ("B,1,X|B,2,Y|A,1,X|A,2,Z", ["B/X", "B/Y", "A/X", "A/Z"]),
    # an item split in two places: grouped, by code
    ("A,1,X|B,1,X|A,2,Z", ["A/X", "A/Z", "B/X"]),
    # seq out of order within an item: sorted by seq
    ("A,2,Z|A,1,X|B,1,X", ["A/X", "A/Z", "B/X"]),
])
def test_rows_end_grouped_by_item_in_seq_order(rows, expected):
    data = ("item_code,seq,process_code\n" + rows.replace("|", "\n") + "\n").encode()
    ops = load_dataset(io.BytesIO(data)).ops
    assert (ops["item_code"] + "/" + ops["process_code"]).tolist() == expected


def test_codes_lose_surrounding_blanks_and_empty_codes_are_skipped():
    data = "item_code,seq,process_code\n A1 ,1,\tSAW\nA1,2,MILL\u00a0\n   ,1,SAW\nB2,1,SAW\n".encode()
    ds = load_dataset(io.BytesIO(data))
    assert ds.ops["item_code"].tolist() == ["A1", "A1", "B2"]
    assert ds.ops["process_code"].tolist() == ["SAW", "MILL", "SAW"]
    assert any("without item_code or process_code were skipped" in w for w in ds.warnings)


@pytest.mark.parametrize("values, trim", [
    (["A", "B"], False), (["007", "8"], False), ([" A", "B"], True), (["A ", "B"], True),
    (["A", ""], True), (["A", None], True), (["Ä", "B"], True), (["A\u00a0", "B"], True),
    (["A\t", "x"], True),
])
@pytest.mark.parametrize("kind", ["string", "large_string"])
def test_codes_needing_no_trim_are_told_from_their_buffers(values, trim, kind):
    text = pa.array(["  padding  "] + values, getattr(pa, kind)()).slice(1)  # an offset into the buffers
    assert may_need_trim(text) is trim


def test_a_mapping_that_does_not_tell_items_apart_is_doubted():
    wrong = {k: v for k, v in FABRICAD_MAP.items() if v != "item_code"} | {"Material": "item_code"}
    ds = load_dataset(FABRICAD, wrong)
    assert ds.warnings[0] == (
        "86% of the rows repeat an (item_code, seq) pair: is 'Material' really the item code, "
        "and 'Nr.' the step number? Check the mapping."
    )
    assert not any("really the item code" in w for w in load_dataset(FABRICAD, FABRICAD_MAP).warnings)


def test_missing_seq_uses_file_order():
    data = b"item_code,process_code\nB,SAW\nB,MILL\nA,CUT\nB,PACK\n"
    ds = load_dataset(io.BytesIO(data))
    b = ds.ops[ds.ops.item_code == "B"]
    assert b["process_code"].tolist() == ["SAW", "MILL", "PACK"]


def test_mapping_errors():
    with pytest.raises(UserError, match="not in the file"):
        load_dataset(FABRICAD, {"Nope": "item_code"})
    with pytest.raises(UserError, match="the targets are"):
        load_dataset(FABRICAD, {"Material": "colour"})
    with pytest.raises(UserError, match="both mapped to item_code"):
        resolve_mapping(["a", "b"], {"a": "item_code", "b": "item_code"})
    with pytest.raises(UserError, match="SOURCE=canonical"):
        parse_map_args(["no-equals-sign"])
    assert parse_map_args(["Dauer[min]=duration_min", "a=b=item_code"]) == {
        "Dauer[min]": "duration_min",
        "a=b": "item_code",
    }


def test_alias_detection_is_case_and_punctuation_insensitive():
    found = detect_mapping(["Part-No", "OP_SEQ", "Proc Cd", "RUN_TIME", "Colour"])
    assert found == {"Part-No": "item_code", "OP_SEQ": "seq", "Proc Cd": "process_code", "RUN_TIME": "duration_min"}


def test_dirty_rows_give_warnings_not_errors():
    data = (
        b"item_code,process_code,seq,duration_min,material\n"
        b"A,SAW,1,2,steel\nA,SAW,1,2,steel\nA,MILL,2,,steel\n,MILL,1,3,alu\n"
        + b"".join(f"I{i},SAW,1,1,alu\nI{i},MILL,2,1,alu\n".encode() for i in range(40))
        + b"Z,SAW,1,1,alu\nZ,MILL,2,1,brass\n"
    )
    ds = load_dataset(io.BytesIO(data))
    text = " | ".join(ds.warnings)
    assert "1 row(s) without item_code or process_code were skipped" in text
    assert "1 duplicate row(s)" in text
    assert "repeat an (item_code, seq) pair" in text
    assert "material: 1 item(s) have different values" in text
    assert "duration_min: 1 blank cell(s)" in text
    assert "material" in ds.item_attributes


def test_read_items_one_row_per_item_keeps_leading_zeros():
    from routing_core.datasets import read_items

    items = read_items(FABRICAD, FABRICAD_MAP)
    assert len(items) == 25
    assert items["item_code"].iloc[0] == "00000000"
    assert {"Material", "Abmaße"} <= set(items.columns)
    one_per_item = read_items(io.BytesIO(b"PART_NO,material\n007,steel\n007,steel\n008,alu\n"))
    assert one_per_item["item_code"].tolist() == ["007", "008"]
    with pytest.raises(UserError, match="no item_code column found"):
        read_items(io.BytesIO(b"colour,size\nred,1\n"))


def test_a_single_column_file_lists_items_or_names_the_delimiter_problem():
    from routing_core.datasets import read_items

    items = read_items(io.BytesIO(b"item_code\n0001\n0002\n0001\n"))
    assert items["item_code"].tolist() == ["0001", "0002"]
    with pytest.raises(UserError, match="single column: are its columns separated by"):
        load_dataset(io.BytesIO(b"item_code process_code seq\nA SAW 1\n"))
