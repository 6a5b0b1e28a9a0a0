"""Reading files into RawTables (routing_core.datasets.reading, .parquet): encodings, delimiters,
Parquet, large files streamed from disk, and what a bad file is told."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import pytest

from routing_core.datasets import (
    RawTable,
    load_dataset,
    normalise,
    read_table,
)
from routing_core.platform.errors import UserError
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


def test_western_capitals_are_not_taken_for_korean():
    """'SÄGEN' in CP1252 is also valid CP949 (a Hangul syllable); the reader must not pick it."""
    raw = read_table(io.BytesIO("item_code;process_code\nA;SÄGEN\nB;ÖFEN\nC;FRÄSEN\n".encode("cp1252")))
    assert raw.encoding == "cp1252"
    assert raw.frame["process_code"].tolist() == ["SÄGEN", "ÖFEN", "FRÄSEN"]


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
