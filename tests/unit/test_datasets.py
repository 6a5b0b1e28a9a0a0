"""Readers, normalisation and the dataset store, on real files."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from routing_core.datasets import (
    DatasetStore,
    RawTable,
    classify_attributes,
    item_index,
    load_dataset,
    normalise,
    read_table,
)
from routing_core.datasets.normalising import _may_need_trim
from routing_core.datasets.profiling import _items_with_several_values
from routing_core.errors import UserError
from routing_core.schema import detect_mapping, parse_map_args, resolve_mapping
from tests.conftest import FABRICAD, FABRICAD_MAP, TEST_DATA


def test_fabricad_semicolon_german_headers_leading_zeros():
    raw = read_table(FABRICAD)
    assert raw.delimiter == ";"
    ds = load_dataset(FABRICAD, FABRICAD_MAP)
    assert ds.n_items == 25
    assert ds.ops["item_code"].iloc[0] == "00000000"
    assert ds.ops["item_code"].str.len().eq(8).all()
    assert set(ds.item_attributes) == {"Material", "Abmaße"}
    assert set(ds.operation_attributes) == {"Arbeitsplatz", "Kosten[($)]"}
    # seq order within an item
    first = ds.ops[ds.ops.item_code == "00000001"]
    assert first["seq"].tolist() == sorted(first["seq"].tolist())


def test_fabricad_headers_are_detected_without_a_mapping():
    ds = load_dataset(FABRICAD)
    assert ds.mapping["ArtikelNr"] == "item_code"
    assert ds.mapping["Schritt"] == "process_code"
    assert ds.mapping["Dauer[min]"] == "duration_min"


def test_cp949_korean_headers():
    raw = read_table(TEST_DATA / "korean_cp949.csv")
    assert raw.encoding == "cp949"
    ds = load_dataset(TEST_DATA / "korean_cp949.csv")
    assert ds.mapping == {"품목코드": "item_code", "공정순서": "seq", "공정코드": "process_code", "작업시간": "duration_min"}
    assert ds.ops.loc[ds.ops.item_code == "A-001", "process_code"].tolist() == ["절단", "선반", "검사"]
    assert "재질" in ds.item_attributes


def test_excel_bom_with_crlf_and_erp_aliases():
    raw = read_table(TEST_DATA / "excel_bom.csv")
    assert raw.encoding == "utf-8 (BOM)"
    assert list(raw.frame.columns)[0] == "ITEM_CD"  # the BOM is not part of the name
    ds = load_dataset(TEST_DATA / "excel_bom.csv")
    assert ds.ops["item_code"].unique().tolist() == ["0007", "0008"]
    assert ds.item_attributes == ["MATERIAL"]
    assert ds.operation_attributes == ["WORK_CENTER"]
    # the digest is of the file as given, BOM included, whichever object is asked first
    digest = hashlib.sha256((TEST_DATA / "excel_bom.csv").read_bytes()).hexdigest()
    assert ds.sha256 == digest == raw.sha256


def test_tab_file_with_hours_converted_to_minutes():
    raw = read_table(TEST_DATA / "tabs.tsv")
    assert raw.delimiter == "\t"
    ds = load_dataset(TEST_DATA / "tabs.tsv")
    assert ds.ops["duration_min"].tolist() == [30.0, 75.0, 15.0, 120.0]


def test_pipe_delimiter_and_latin1_decimal_comma():
    assert read_table(TEST_DATA / "pipes.csv").delimiter == "|"
    raw = read_table(TEST_DATA / "latin1_semicolon.csv")
    assert raw.encoding == "cp1252"  # Windows' Western code page, a superset of Latin-1's letters
    ds = load_dataset(TEST_DATA / "latin1_semicolon.csv")
    assert ds.ops["process_code"].tolist() == ["Fräsen", "Prüfen"]
    assert ds.ops["duration_min"].tolist() == [3.5, 1.0]


def test_parquet_round_trip(tmp_path):
    ds = load_dataset(FABRICAD, FABRICAD_MAP)
    path = tmp_path / "plans.parquet"
    pd.read_csv(FABRICAD, sep=";", dtype=str).to_parquet(path)
    again = load_dataset(path, FABRICAD_MAP)
    assert again.n_items == ds.n_items
    assert again.ops["item_code"].iloc[0] == "00000000"


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
    assert _may_need_trim(text) is trim


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


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_empty.csv", "is empty"),
        ("bad_header_only.csv", "header but no data rows"),
        ("bad_no_item_column.csv", "required column(s) item_code not found after mapping"),
        ("bad_text_duration.csv", "must hold numbers, but 2 cell(s) do not (line 3: 'abc', line 4: 'n/a')"),
        ("bad_negative_duration.csv", "1 negative duration(s) (line 3: -4"),
        ("bad_unbalanced_quotes.csv", "wrong number of fields at line 3"),
        ("bad_random_bytes.bin", "is not a text CSV file"),
    ],
)
def test_bad_files_name_the_problem(name, message):
    with pytest.raises(UserError) as exc:
        load_dataset(TEST_DATA / name)
    assert message in str(exc.value)
    assert name in str(exc.value)


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
        assert _items_with_several_values(ops["v"], item_index(ops)) == expected, ops


def test_store_save_list_load_delete_and_same_content(data_home):
    store = DatasetStore()
    ds = load_dataset(FABRICAD, FABRICAD_MAP)
    record, created = store.save("fabricad", ds)
    assert created and record.items == 25 and record.rows == 78
    assert len(record.sha256) == 64
    again, created_again = store.save("fabricad-2", load_dataset(FABRICAD, FABRICAD_MAP))
    assert not created_again and again.name == "fabricad"
    assert store.names() == ["fabricad"]
    loaded = store.load("fabricad")
    pd.testing.assert_frame_equal(loaded.ops, ds.ops, check_dtype=False)
    stats = store.stats("fabricad")
    assert stats["unique_items"] == 25
    assert json.loads((data_home / "datasets" / "fabricad" / "stats.json").read_text())["unique_items"] == 25
    store.delete("fabricad")
    assert store.names() == []
    assert [p for p in (data_home / "datasets").iterdir()] == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".hidden", "x\x00y", "CON", "a" * 65, ""])
def test_store_refuses_hostile_names(data_home, name):
    store = DatasetStore()
    with pytest.raises(UserError, match="^The dataset name"):
        store.save(name, load_dataset(FABRICAD, FABRICAD_MAP))
    assert not (data_home / "datasets").exists() or list((data_home / "datasets").iterdir()) == []
    assert not (data_home.parent / "x").exists()


def test_store_refuses_a_taken_name_and_keeps_the_first(data_home):
    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP))
    other = load_dataset(TEST_DATA / "excel_bom.csv")
    with pytest.raises(UserError, match="already exists"):
        store.save("plans", other)
    assert store.record("plans").items == 25


def test_store_ignores_leftover_temporary_folders(data_home):
    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP))
    (data_home / "datasets" / ".plans2.abc").mkdir()
    (data_home / "datasets" / "half").mkdir()  # no record: not a whole dataset
    assert store.names() == ["plans"]
    assert store.cleanup() == 1


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


def test_western_capitals_are_not_taken_for_korean():
    """'SÄGEN' in CP1252 is also valid CP949 (a Hangul syllable); the reader must not pick it."""
    raw = read_table(io.BytesIO("item_code;process_code\nA;SÄGEN\nB;ÖFEN\nC;FRÄSEN\n".encode("cp1252")))
    assert raw.encoding == "cp1252"
    assert raw.frame["process_code"].tolist() == ["SÄGEN", "ÖFEN", "FRÄSEN"]


def test_stats_written_by_another_build_are_recomputed(data_home):
    from routing_core.stats import STATS_VERSION

    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP))
    path = data_home / "datasets" / "plans" / "stats.json"
    path.write_text(json.dumps({"unique_items": -1}))  # an older format without a version
    stats = store.stats("plans")
    assert stats["stats_version"] == STATS_VERSION and stats["unique_items"] == 25
    assert json.loads(path.read_text())["unique_items"] == 25


def _big_csv(tail: bytes = b"", rows: int = 30_000) -> bytes:
    """A plain export of well over the first megabyte the reader sniffs, with `tail` lines at the end."""
    lines = [b"item_code,seq,process_code,duration_min,material,note"]
    lines += [f"IT-{i // 5:06d},{10 * (i % 5 + 1)},P{i % 7},{i % 13 + 0.5},steel,plain text {i}".encode()
              for i in range(rows)]
    return b"\n".join(lines) + b"\n" + tail


@pytest.mark.parametrize("case, tail", [
    ("plain", b""),
    ("quoted line break late", b'IT-999999,10,P1,1.5,steel,"two\nlines"\n'),
    ("quote late without line break", b'IT-999999,10,P1,1.5,steel,"a, b"\n'),
    ("cp1252 byte late", "IT-999999,10,P1,1.5,Stahl geh\xe4rtet,x\n".encode("cp1252")),
    ("text late in a number column", b"IT-999999,10,P1,abc,steel,x\n"),
    # a quoted line break whose two halves would each pass for a whole row
    ("quoted line break splitting into rows", b'IT-999998,10,P1,1.5,steel,"x\nIT-999999,10,P1,1.5,steel,y"\n'),
])
def test_a_large_file_on_disk_reads_as_its_bytes_do(tmp_path, case, tail):
    # Files on disk are parsed while they are read; whatever they hold, the result is the one
    # the same bytes give in memory.
    data = _big_csv(tail)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    from_disk, in_memory = read_table(path), read_table(data, name="big.csv")
    pd.testing.assert_frame_equal(from_disk.frame, in_memory.frame)
    assert (from_disk.encoding, from_disk.delimiter, from_disk.source_name) == (
        in_memory.encoding, in_memory.delimiter, "big.csv")
    assert from_disk.sha256 == in_memory.sha256 == hashlib.sha256(data).hexdigest()
    assert from_disk.data == in_memory.data == data
    if case == "quoted line break late":
        assert from_disk.frame["note"].iloc[-1] == "two\nlines"
    if case == "quoted line break splitting into rows":
        assert len(from_disk.frame) == 30_001
    if case == "cp1252 byte late":
        assert from_disk.encoding == "cp1252" and from_disk.frame["material"].iloc[-1] == "Stahl gehärtet"


def test_a_large_file_on_disk_keeps_its_bytes_for_codes_read_again(tmp_path):
    # Codes under a header no alias knows are read as numbers; mapped as item codes, the column
    # is read again as text from the kept bytes, and a leading zero far down survives.
    lines = [b"ident,seq,process_code"] + [f"{100000 + i // 4},{i % 4 + 1},P{i % 3}".encode() for i in range(120_000)]
    data = b"\n".join(lines) + b"\n0999999,1,P1\n"
    path = tmp_path / "numbers.csv"
    path.write_bytes(data)
    assert len(data) > 1 << 20
    ds = load_dataset(path, {"ident": "item_code"})
    assert ds.ops["item_code"].iloc[-1] == "0999999"
    assert ds.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("data", [
    b"\x0b" * (2 << 20),  # white space only, of a kind bytes.strip() knows
    b"item_code,seq,item_code\n" + b"A,1,B\n" * 300_000,  # a repeated header name
    _big_csv() + b"IT-1,10,P1\n",  # a short row far down
])
def test_a_large_file_on_disk_is_refused_as_its_bytes_are(tmp_path, data):
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    with pytest.raises(UserError) as in_memory:
        read_table(data, name="big.csv")
    with pytest.raises(UserError) as from_disk:
        read_table(path)
    assert str(from_disk.value) == str(in_memory.value)


def test_a_raw_table_made_without_its_bytes_has_none():
    raw = RawTable(pd.DataFrame({"ident": [7, 7, 8], "seq": [1, 2, 1], "process_code": ["A", "B", "A"]}),
                   "utf-8", ",", b"x")
    assert raw.data == b""
    assert normalise(raw, {"ident": "item_code"}).ops["item_code"].tolist() == ["7", "7", "8"]
