"""Encodings without silent damage (docs/reliability.md, "Bounded reads, records, exports, encodings"):
UTF-8 with a few bad bytes stays UTF-8 and says where they are; files really in CP949, CP1252 or
Latin-1 are still read as such; a NUL anywhere is refused with its position; a line over the limit
gets a message in the studio's words."""

from __future__ import annotations

import pytest

from routing_core.datasets import DatasetStore, load_dataset, read_table
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN, ROOT

DATA = ROOT / "tests" / "data"
HEADER = "item_code,process_code,seq,duration_min\n"


def korean_rows(n: int) -> bytes:
    return (HEADER + "".join(f"I{i},절단,{i % 3 + 1},5\n" for i in range(n))).encode("utf-8")


def damage(data: bytes, at: int) -> tuple[bytes, int]:
    """`data` with the first byte of the first Hangul syllable from offset `at` on made invalid (0xFF)."""
    i = data.index("절".encode(), at)
    return data[:i] + b"\xff" + data[i + 1:], i


@pytest.mark.parametrize("where", ["first megabyte", "3 MB in"])
def test_utf8_with_one_bad_byte_stays_utf8_and_says_where(tmp_path, where):
    data = korean_rows(200_000)  # 3.7 MB
    assert len(data) > 3_500_000
    broken, at = damage(data, 1000 if where == "first megabyte" else 3_000_000)
    line = broken.count(b"\n", 0, at) + 1
    for source in (broken, tmp_path / "damaged.csv"):
        if not isinstance(source, bytes):
            source.write_bytes(broken)
        dataset = load_dataset(source, name="damaged.csv")
        assert dataset.encoding == "utf-8"
        codes = dataset.ops["process_code"].value_counts()
        assert codes["절단"] == 199_999  # every other cell is the true text, not ì ˆë‹¨
        assert codes.index[1].endswith("단") and "\ufffd" in codes.index[1]
        note = dataset.warnings[0]
        assert "not valid UTF-8" in note and f"line {line:,}, column 'process_code'" in note, note


def test_a_stored_damaged_file_keeps_its_true_text(tmp_path):
    broken, _ = damage(korean_rows(50_000), 600_000)
    store = DatasetStore(tmp_path / "data")
    record, _ = store.save("d", load_dataset(broken, name="damaged.csv"), user=ADMIN)
    assert "절단" in set(store.load("d").ops["process_code"])
    assert any("not valid UTF-8" in w for w in record.warnings)


@pytest.mark.parametrize("name, encoding, expected", [
    ("korean_cp949.csv", "cp949", "절단"),
    ("latin1_semicolon.csv", "cp1252", "Fräsen"),
])
def test_files_really_in_another_encoding_are_still_read_as_such(name, encoding, expected):
    dataset = load_dataset(DATA / name)
    assert dataset.encoding == encoding
    assert expected in set(dataset.ops["process_code"])
    assert not any("UTF-8" in w for w in dataset.warnings)


def test_a_long_cp1252_file_with_its_accents_past_the_first_megabyte_is_read_as_cp1252(tmp_path):
    rows = "".join(f"I{i},SAW,{i % 3 + 1},5\n" for i in range(120_000)) + "".join(
        f"J{i},Fräsen,1,5\n" for i in range(500))
    data = (HEADER + rows).encode("cp1252")
    assert data[:1 << 20].isascii()
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    for source in (data, path):
        dataset = load_dataset(source, name="late.csv")
        assert "Fräsen" in set(dataset.ops["process_code"]), dataset.encoding


@pytest.mark.parametrize("offset", [10, 1_500_000, -20])
def test_a_nul_anywhere_is_refused_with_its_position(tmp_path, offset):
    data = korean_rows(100_000)
    at = offset if offset >= 0 else len(data) + offset
    at = data.index(b"\n", at) + 1  # at the start of a line: inside an item code
    poisoned = data[:at] + b"I\x00X" + data[at:]
    line = poisoned.count(b"\n", 0, at) + 1
    path = tmp_path / "nul.csv"
    path.write_bytes(poisoned)
    for source in (poisoned, path):
        with pytest.raises(UserError) as caught:
            read_table(source, name="nul.csv")
        message = str(caught.value)
        assert f"NUL byte at byte {at + 1:,}" in message and f"line {line:,}" in message, message


def test_a_cell_over_the_line_limit_gets_a_message_in_the_studios_words(tmp_path):
    data = (HEADER + "I1,SAW,1,5\nI2," + "x" * (10 << 20) + ",2,5\nI3,SAW,1,5\n").encode()
    path = tmp_path / "long.csv"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(UserError) as caught:
            read_table(source, name="long.csv")
        message = str(caught.value)
        assert "straddl" not in message
        assert message.startswith("long.csv has 10,485,767 bytes in one line (line 3); the limit is 4,194,304"), message
        assert "ROUTING_MAX_LINE_BYTES" in message


def test_a_row_longer_than_a_parser_block_but_under_the_limit_is_read():
    data = (HEADER + "I1,SAW,1,5\nI2," + "x" * (2 << 20) + ",2,5\nI3,SAW,1,5\n").encode()
    dataset = load_dataset(data, name="long.csv")
    assert dataset.n_items == 3 and dataset.ops["process_code"].str.len().max() == 2 << 20
