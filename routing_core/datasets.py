"""Reading routing exports, normalising them to the data contract, and the dataset store."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from routing_core.atomic import atomic_write_json, process_alive
from routing_core.errors import UserError
from routing_core.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_DECODED_BYTES,
    MAX_ITEMS,
    MAX_PROCESS_CODES,
    MAX_ROWS,
)
from routing_core.names import check_name
from routing_core.proposals import MissingColumns, propose_mapping
from routing_core.schema import (
    DURATION,
    DURATION_UNITS,
    ITEM,
    PROCESS,
    REQUIRED,
    SEQ,
    detect_mapping,
    resolve_mapping,
)
from routing_core.statefile import NUMBER, TEXT, BrokenState, Field, open_regular, read_json

DELIMITERS = (",", ";", "\t", "|")
ENCODINGS = ("utf-8", "cp949", "cp1252", "latin-1")
SNIFF_BYTES = 1 << 20
MAX_EXAMPLES = 5

Source = str | os.PathLike | bytes | IO[bytes]


# ---------------------------------------------------------------- reading


class _Digest:
    """The sha256 of some bytes (or of blocks of them, in order), computed once, when first asked for."""

    __slots__ = ("_data", "_hex")

    def __init__(self, data: bytes | list[bytes]) -> None:
        self._data: list[bytes] | None = [data] if isinstance(data, bytes) else data
        self._hex = ""

    def hexdigest(self) -> str:
        blocks = self._data  # read once: another thread may finish first and drop them
        if blocks is not None:
            digest = hashlib.sha256()
            for block in blocks:
                digest.update(block)
            self._hex, self._data = digest.hexdigest(), None
        return self._hex


class LazySha256:
    """A dataclass field holding a sha256 hex digest, or the bytes to hash when it is first read.

    Hashing a large file keeps a core busy for a while, and only saving a dataset needs it.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> str:
        if obj is None:
            return ""  # the dataclass default
        value = obj.__dict__.get(self.slot, "")
        return value if isinstance(value, str) else value.hexdigest()

    def __set__(self, obj: object, value: str | bytes | list[bytes] | _Digest) -> None:
        obj.__dict__[self.slot] = _Digest(value) if isinstance(value, bytes | list) else value


class LazyBytes:
    """A dataclass field of bytes that may be given as blocks, joined when first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> bytes:
        if obj is None:
            return b""  # the dataclass default
        value = obj.__dict__.get(self.slot, b"")
        if isinstance(value, list):
            joined = b"".join(value)
            value[:] = [joined]  # whoever shares the blocks (a digest to come) shares the join
            value = obj.__dict__[self.slot] = joined
        return value

    def __set__(self, obj: object, value: bytes | list[bytes]) -> None:
        # field(default=LazyBytes()) hands the descriptor itself to __init__ as the default
        obj.__dict__[self.slot] = b"" if isinstance(value, LazyBytes) else value


def _pending_sha256(obj: object) -> str | _Digest:
    """A LazySha256 field's value as held (a digest not computed yet stays so), to hand on."""
    return vars(obj).get("_sha256", "")


@dataclass
class RawTable:
    """A file as read: every column, plus how it was read."""

    frame: pd.DataFrame
    encoding: str
    delimiter: str | None  # None for Parquet
    sha256: str = LazySha256()  # of the file's bytes as given (pass the bytes: hashed when read)
    source_name: str = "upload"
    # the text as parsed (BOM and leading blanks removed); blocks given are joined when first read
    data: bytes = field(default=LazyBytes(), repr=False)


def _to_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "upload"
    if hasattr(source, "read"):
        data = source.read()
        return (data if isinstance(data, bytes) else data.encode()), getattr(source, "name", "upload")
    path = Path(source)
    try:
        return path.read_bytes(), path.name
    except FileNotFoundError:
        raise UserError(f"File not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a file.") from None
    except PermissionError:
        raise UserError(f"No permission to read {path}.") from None


def _sniff_encoding(data: bytes, complete: bool | None = None) -> str:
    """The first encoding of ENCODINGS that decodes a leading sample (a cut character at the end is
    fine unless `data` is the `complete` file, by default when it is no longer than the sample)."""
    sample = data[:SNIFF_BYTES]
    final = len(data) <= SNIFF_BYTES if complete is None else complete
    for enc in ENCODINGS:
        try:
            text = codecs.getincrementaldecoder(enc)().decode(sample, final=final)
        except UnicodeDecodeError:
            continue
        if enc == "cp949" and not _plausible_korean(text):
            continue
        return "utf-8-sig" if enc == "utf-8" and sample.startswith(codecs.BOM_UTF8) else enc
    return "latin-1"


_HANGUL_BEFORE_LATIN = re.compile(r"[\uac00-\ud7a3][A-Za-z]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _plausible_korean(text: str) -> bool:
    """Western bytes often decode as CP949 too: "SÄGEN" becomes "S" + a syllable (Ä + G) + "EN".
    Korean text rarely runs a syllable straight into a Latin letter; mis-decoded text nearly always does."""
    hangul = len(_HANGUL.findall(text))
    return hangul > 0 and len(_HANGUL_BEFORE_LATIN.findall(text)) < 0.2 * hangul


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, equally many fields (quotes respected)."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    best, best_score = ",", (-1, -1)
    for delim in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        header = counts[0]
        consistent = sum(1 for c in counts if c == header)
        score = (consistent, header)
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_binary(sample: bytes) -> int | None:
    """Offset of a NUL byte in the sample (text exports never hold one), else None."""
    pos = sample.find(b"\x00")
    return pos if pos >= 0 else None


def read_table(source: Source, name: str | None = None, text_columns: set[str] | None = None) -> RawTable:
    """Read a CSV (delimiter and encoding sniffed) or Parquet file into a frame of its own columns.

    `text_columns` are read as text whatever they hold (codes with leading zeros).
    """
    if isinstance(source, str | os.PathLike) and not text_columns:
        path = Path(source)
        streamed = _stream_path(path, name or path.name)
        if streamed is not None:
            return streamed
    data, source_name = _to_bytes(source)
    return _read_table(data, name or source_name, text_columns)


def _read_table(data: bytes, source_name: str, text_columns: set[str] | None) -> RawTable:
    original = data
    if not data[:65536].strip() and not data.strip():
        raise UserError(f"{source_name} is empty: there is nothing to read.")
    if data[:4] == b"PAR1":
        return RawTable(_read_parquet(data, source_name), "parquet", None, original, source_name)
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            # Excel's "Unicode text" export: re-encode once, then read as UTF-8.
            try:
                data = data.decode(enc).encode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{source_name} starts as {enc.upper()} text but is not valid {enc.upper()}.") from None
            break
    nul = _looks_binary(data[:SNIFF_BYTES])
    if nul is not None:
        raise UserError(
            f"{source_name} is not a text CSV file (binary content at byte {nul}). "
            "Export the routing table as CSV (or Parquet) and try again."
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
        bom = True
    else:
        bom = False
    if data[:1] in (b"\r", b"\n", b" ", b"\t"):
        data = data.lstrip(b" \t\r\n")  # blank lines above the header
    sniffed = "utf-8-sig" if bom else _sniff_encoding(data)
    head = data[:max(65536, _header_end(data) + 65536)].decode(sniffed, errors="replace")
    delimiter = _sniff_delimiter(head)
    # The sniff saw only the first megabyte: a bad byte further down moves on to the next encoding.
    candidates = [sniffed] if bom else [sniffed, *ENCODINGS[ENCODINGS.index(sniffed) + 1 :]]
    for encoding in candidates:
        try:
            frame = _read_csv(data, encoding, delimiter, source_name, text_columns)
            break
        except _NotThisEncoding as exc:
            if encoding == candidates[-1]:
                raise UserError(
                    f"{source_name}: text is not valid {encoding.replace('-sig', '')}{exc.where}. "
                    "Save the file as UTF-8 and retry."
                ) from None
    return RawTable(frame, encoding.replace("-sig", " (BOM)"), delimiter, original, source_name, data)


def _read_parquet(data: bytes, source_name: str) -> pd.DataFrame:
    """A Parquet file's frame, its size checked against the limits before anything is decoded.

    Rows, columns and cells come from the file's metadata; text columns are decoded one row
    group at a time as dictionaries first, so what they expand to is counted before it exists.
    """
    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{source_name} looks like Parquet but cannot be read: {exc}") from None
    nested = [f"'{f.name}' ({_nested_kind(f.type)})" for f in schema if _nested_kind(f.type)]
    if nested:
        raise UserError(
            f"{source_name}: column(s) {', '.join(nested[:5])}{' …' if len(nested) > 5 else ''} hold "
            "nested values; a routing export has one value per cell. Flatten or drop them and retry."
        )
    columns, rows = len(schema), meta.num_rows
    MAX_COLUMNS.check(columns, source_name)
    MAX_ROWS.check(rows, source_name)
    MAX_CELLS.check(rows * columns, source_name)
    text = [f.name for f in schema if _is_text(f.type)]
    fixed = sum(_width(f.type) for f in schema if f.name not in text)
    try:
        reader = pq.ParquetFile(io.BytesIO(data), read_dictionary=text)
        decoded, groups = 0, []
        for i in range(reader.num_row_groups):
            n = reader.metadata.row_group(i).num_rows
            decoded += n * fixed
            MAX_DECODED_BYTES.check(decoded, source_name)
            group = reader.read_row_group(i)
            decoded += sum(_dictionary_bytes(group.column(c)) for c in text)
            MAX_DECODED_BYTES.check(decoded, source_name)
            groups.append(group)
        table = pa.concat_tables(groups) if groups else schema.empty_table()
        if text:  # the dictionaries read for counting become plain text again
            table = table.cast(pa.schema([schema.field(f.name) if f.name in text else f for f in table.schema],
                                         metadata=table.schema.metadata))
        MAX_ROWS.check(table.num_rows, source_name)
        return table.to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{source_name} looks like Parquet but cannot be read: {exc}") from None


def _is_text(typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ)
            or pa.types.is_large_binary(typ))


def _width(typ: pa.DataType) -> int:
    """Bytes per value of a fixed-width column (8 for any other)."""
    try:
        return max(typ.bit_width, 8) // 8
    except ValueError:
        return 8


def _nested_kind(typ: pa.DataType) -> str:
    """'struct', 'list', 'map' … for a column type holding values within values, else ''."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_map(typ):
        return "map"
    if pa.types.is_struct(typ):
        return "struct"
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return "list"
    if pa.types.is_nested(typ) or pa.types.is_union(typ):
        return str(typ)[:40]
    return ""


def _dictionary_bytes(column: pa.ChunkedArray) -> int:
    """Bytes a dictionary-encoded text column takes once decoded (values and offsets)."""
    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            lengths = pc.binary_length(chunk.dictionary).cast(pa.int64())
            total += int(pc.sum(lengths.take(chunk.indices)).as_py() or 0) + 8 * len(chunk)
        else:
            total += chunk.nbytes
    return total


class _NotThisEncoding(Exception):
    def __init__(self, where: str = "") -> None:
        super().__init__(where)
        self.where = where


def _read_csv(
    data: bytes, encoding: str, delimiter: str, source_name: str, text_columns: set[str] | None = None
) -> pd.DataFrame:
    header = _header(data, encoding, delimiter, source_name)
    # pyarrow infers numbers, which would drop the leading zeros of codes: columns that look like
    # codes (a leading zero in the first lines, or a known item/process header) stay text.
    text = set(text_columns or ()) | _code_like_columns(data, encoding, delimiter, header)
    # Quoted line breaks inside values are rare and make parsing slower: only allow them when a
    # quote follows a delimiter or starts a line somewhere in the file.
    newlines = _may_quote_newlines(data, delimiter)
    for _ in range(len(header) + 1):
        try:
            table = pacsv.read_csv(pa.BufferReader(data), *_csv_options(header, encoding, delimiter, text, newlines))
            break
        except UnicodeDecodeError:
            raise _NotThisEncoding() from None
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "UTF-8" in str(exc):
                raise _NotThisEncoding() from None
            # A column typed as numbers from the first block holds text further down: read it
            # as text and let normalise() report the cells with their line numbers.
            column = re.search(r"In CSV column #(\d+): CSV conversion error", str(exc))
            if column is None or header[int(column.group(1))] in text:
                raise UserError(_explain_arrow_error(str(exc), source_name, encoding, data)) from None
            text.add(header[int(column.group(1))])
    for i, typ in enumerate(table.schema.types):
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            # pyarrow keeps cells that are not valid text as raw bytes
            bad = next((n for n, v in enumerate(table.column(i).to_pylist()) if v is not None and not _decodes(v)), 0)
            raise _NotThisEncoding(f" (column '{header[i]}', line {bad + 2})")
    _check_size(table, source_name)
    frame = table.to_pandas()
    if frame.empty:
        raise UserError(f"{source_name} has a header but no data rows.")
    return frame


def _csv_options(
    header: list[str], encoding: str, delimiter: str, text: set[str], newlines: bool
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """pyarrow's options for a file read with our header, `text` columns kept as text."""
    return (
        pacsv.ReadOptions(
            encoding="utf8" if encoding.startswith("utf-8") else encoding,
            column_names=header,
            skip_rows=1,
            block_size=1 << 20,
        ),
        pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines),
        pacsv.ConvertOptions(
            column_types={c: pa.string() for c in text},
            strings_can_be_null=True,
            null_values=["", "NA", "N/A", "NaN", "nan", "NULL", "null"],
            quoted_strings_can_be_null=True,
        ),
    )


class _Tee(io.RawIOBase):
    """A file read once: the parser reads it block by block while the blocks are kept, so
    reading the disk overlaps parsing and the bytes are at hand afterwards."""

    def __init__(self, head: bytes, fh: IO[bytes]) -> None:
        super().__init__()
        self.chunks = [head]
        self.fh = fh
        self.pos = 0  # offset into self.chunks[0] still to hand out
        self.quote_after_head = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        head = self.chunks[0]
        if self.pos < len(head):
            end = len(head) if size < 0 else min(len(head), self.pos + size)
            part, self.pos = head[self.pos:end], end
            return part
        part = self.fh.read(size)
        if part:
            self.chunks.append(part)
            self.quote_after_head = self.quote_after_head or b'"' in part
        return part


# First bytes that need _read_table's care: blank lines above the header, or a byte order mark.
_CAREFUL_START = (b"\r", b"\n", b" ", b"\t", b"\x0b", b"\x0c", b"\xef", b"\xfe", b"\xff", b"\x00")


def _stream_path(path: Path, source_name: str) -> RawTable | None:
    """Read a large plain UTF-8 CSV file with parsing overlapping the disk (as pyarrow does on
    its own). None when the file needs any of the careful steps of _read_table (small, BOM,
    other encodings, binary, quoted line breaks past the first megabyte, a column to read again
    as text): the caller then reads it the usual way, which decides everything exactly."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the parse
    except OSError:
        return None
    with fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None  # a pipe is read once: the caller reads it whole
        head = fh.read(SNIFF_BYTES)
        if (len(head) < SNIFF_BYTES or head[:4] == b"PAR1" or head[:1] in _CAREFUL_START
                or _looks_binary(head) is not None or _sniff_encoding(head, complete=False) != "utf-8"):
            return None
        end = _header_end(head)
        if end < 0:
            return None  # a header longer than the first megabyte: read the usual way
        delimiter = _sniff_delimiter(head[:end + 65536].decode("utf-8", errors="replace"))
        header = _header(head, "utf-8", delimiter, source_name)
        text = _code_like_columns(head, "utf-8", delimiter, header)
        newlines = _may_quote_newlines(head, delimiter)
        tee = _Tee(head, fh)
        try:
            table = pacsv.read_csv(tee, *_csv_options(header, "utf-8", delimiter, text, newlines))
        except (pa.ArrowException, UnicodeDecodeError, OSError):
            return None
    if (tee.quote_after_head and not newlines) or table.num_rows == 0 or any(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types
    ):
        return None
    _check_size(table, source_name)
    return RawTable(table.to_pandas(), "utf-8", delimiter, tee.chunks, source_name, tee.chunks)


def _check_size(table: pa.Table, source_name: str) -> None:
    """UserError if a parsed table is over a limit (before it becomes a pandas frame)."""
    MAX_ROWS.check(table.num_rows, source_name)
    MAX_CELLS.check(table.num_rows * table.num_columns, source_name)
    MAX_DECODED_BYTES.check(table.nbytes, source_name)


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _may_quote_newlines(data: bytes, delimiter: str) -> bool:
    if b'"' not in data:
        return False
    d = delimiter.encode()
    return (d + b'"') in data or b'\n"' in data or data.startswith(b'"')


def _python_encoding(label: str) -> str:
    return "utf-8-sig" if label == "utf-8 (BOM)" else label


def _code_like_columns(data: bytes, encoding: str, delimiter: str, header: list[str]) -> set[str]:
    codes = {c for c, target in detect_mapping(header).items() if target in (ITEM, PROCESS)}
    text = data[: 1 << 18].decode(encoding, errors="replace").lstrip("\ufeff")
    start = re.escape(delimiter)
    if not re.search(rf'(?:^|{start})[ \t]*"?[ \t]*[+-]?0[0-9]', text, re.MULTILINE):
        return codes  # no cell starts with a zero digit: nothing to split into cells
    sample = text.splitlines()[1:-1]
    try:
        rows = list(csv.reader(sample[:2000], delimiter=delimiter))
    except csv.Error:
        return codes
    for i, name in enumerate(header):
        if any(len(r) > i and _LEADING_ZERO.match(r[i].strip()) for r in rows):
            codes.add(name)
    return codes


_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")


def _header_end(data: bytes) -> int:
    """Offset of the line break ending the header (a quoted break inside a name skipped), or -1."""
    end = data.find(b"\n")
    while end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.find(b"\n", end + 1)
    return end


def _header(data: bytes, encoding: str, delimiter: str, source_name: str) -> list[str]:
    end = _header_end(data)
    first = (data if end < 0 else data[:end]).decode(encoding, errors="replace").lstrip("\ufeff")
    try:
        row = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    except (StopIteration, csv.Error):
        raise UserError(f"{source_name} has no header line.") from None
    header = [h.strip() for h in row]
    if not header:
        raise UserError(f"{source_name} has no header line.")
    MAX_COLUMNS.check(len(header), source_name)
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise UserError(f"{source_name}: header column {blank[0]} has no name.")
    counts = Counter(header)
    dupes = sorted(h for h, n in counts.items() if n > 1)
    if dupes:
        raise UserError(f"{source_name}: the header repeats column name(s) {', '.join(map(repr, dupes))}.")
    return header


def _explain_arrow_error(message: str, source_name: str, encoding: str, data: bytes) -> str:
    row = re.search(r"[Rr]ow #?(\d+)", message)
    where = f" near line {int(row.group(1)) + 1}" if row else ""
    shown = re.search(r"got \d+: (.*)", message)
    if shown and not where:
        # pyarrow quotes the offending row: find where it starts in the file.
        snippet = shown.group(1).split("\n")[0].encode(encoding.replace("-sig", ""), errors="replace")
        at = data.find(snippet) if snippet else -1
        if at >= 0:
            line = data.count(b"\n", 0, at) + 1
            where = f" at line {line}"
    if "Expected" in message and "columns" in message:
        counts = re.search(r"Expected (\d+) columns, got (\d+)", message)
        detail = f" (expected {counts.group(1)} fields, found {counts.group(2)})" if counts else ""
        return (
            f"{source_name}: a row has the wrong number of fields{where}{detail}. "
            "Check for an unclosed quote or a stray delimiter."
        )
    if "UTF8" in message or "UTF-8" in message:
        return f"{source_name}: text is not valid {encoding}{where}. Save the file as UTF-8 and retry."
    return f"{source_name} cannot be read as CSV{where}: {message.splitlines()[0][:200]}"


# ---------------------------------------------------------------- normalising


@dataclass
class Dataset:
    """An operations table in canonical form, with what was learned while reading it."""

    ops: pd.DataFrame
    mapping: dict[str, str]
    item_attributes: list[str]
    operation_attributes: list[str]
    warnings: list[str] = field(default_factory=list)
    source_name: str = "upload"
    sha256: str = LazySha256()  # of the file read (given as its bytes, it is hashed when first read)
    encoding: str = "utf-8"
    delimiter: str | None = ","
    inconsistent_items: dict[str, int] = field(default_factory=dict)  # item attribute -> items disagreeing
    source: dict = field(default_factory=dict)  # where a database read came from (routing_core.database)
    _item_numbers: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_items(self) -> int:
        return int(self.ops[ITEM].nunique())

    def item_numbers(self) -> np.ndarray:
        """item_index() of ops, computed once (ops is not changed once made)."""
        if self._item_numbers is None or len(self._item_numbers) != len(self.ops):
            self._item_numbers = item_index(self.ops)
        return self._item_numbers


def _numeric(frame: pd.DataFrame, col: str, label: str, source_name: str) -> pd.Series:
    """Parse a text column as numbers; text that is not a number is an error with examples and lines."""
    raw = frame[col]
    if pd.api.types.is_numeric_dtype(raw):
        return _finite(raw.astype("float64"), raw, label, source_name)
    text = raw.astype("str").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & raw.notna() & (text != "")
    if bad.any():
        # A decimal comma (35,5) is common in European exports.
        comma = text[bad].str.fullmatch(r"-?\d+,\d+")
        if comma.all():
            values = values.where(~bad, pd.to_numeric(text[bad].str.replace(",", "."), errors="coerce"))
            bad = values.isna() & raw.notna() & (text != "")
    if bad.any():
        examples = _examples(bad.to_numpy(), raw)
        raise UserError(
            f"{source_name}: column '{label}' must hold numbers, but {int(bad.sum())} cell(s) do not "
            f"({examples})."
        )
    return _finite(values.astype("float64"), raw, label, source_name)


# No operation takes longer (about 1,900 years); larger values are typos that overflow sums.
MAX_DURATION_MIN = 1e9
# A numeric attribute beyond what float32 holds (the model's features) is kept as a blank cell.
MAX_ATTRIBUTE = float(np.finfo(np.float32).max)


def _examples(bad: np.ndarray, raw: pd.Series) -> str:
    """The first offending cells with their file lines: "line 3: 'abc'" (text quoted), "line 4: -4.0"."""
    quote = not pd.api.types.is_numeric_dtype(raw)
    cells = ((i, raw.iloc[i]) for i in np.flatnonzero(bad)[:MAX_EXAMPLES])
    return ", ".join(f"line {i + 2}: {str(v)[:30]!r}" if quote else f"line {i + 2}: {v}" for i, v in cells)


def _finite(values: pd.Series, raw: pd.Series, label: str, source_name: str,
            limit: float = np.inf, unit: str = "") -> pd.Series:
    """`values` unless a cell is infinite ('inf', '1e309') or above `limit`."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values.to_numpy()) | (values.to_numpy() > limit)
    if bad.any():
        examples = _examples(bad, raw)
        bound = f" (at most {limit:g}{unit})" if np.isfinite(limit) else ""
        raise UserError(
            f"{source_name}: column '{label}' has {int(bad.sum())} infinite or too large "
            f"number(s){bound} ({examples})."
        )
    return values


def normalise(raw: RawTable, mapping: Mapping[str, str] | None = None) -> Dataset:
    """Apply the column mapping, check the contract, and return the canonical operations table."""
    frame = raw.frame
    full = resolve_mapping(frame.columns, mapping)
    sources = {target: source for source, target in full.items()}
    codes = {sources[t] for t in (ITEM, PROCESS) if t in sources}
    numeric_codes = {c for c in codes if not pd.api.types.is_string_dtype(frame[c])}
    if numeric_codes and raw.delimiter is not None and raw.data:
        # A code column was read as numbers: read again with it as text to keep leading zeros.
        frame = _read_csv(raw.data, _python_encoding(raw.encoding), raw.delimiter, raw.source_name, codes)
    missing = [c for c in REQUIRED if c not in sources]
    if missing:
        raise MissingColumns(
            f"{raw.source_name}: required column(s) {', '.join(missing)} not found after mapping.",
            missing, frame.columns, propose_mapping(frame, full), _single_column_hint(frame),
        )
    warnings: list[str] = []
    out = pd.DataFrame(index=frame.index)
    for target in (ITEM, PROCESS):
        out[target] = _code_text(frame[sources[target]])
    unit = next((u for u in DURATION_UNITS if u in sources), None)
    if unit is not None:
        src = sources[unit]
        minutes = _numeric(frame, src, src, raw.source_name) * DURATION_UNITS[unit]
        minutes = _finite(minutes, frame[src], src, raw.source_name, MAX_DURATION_MIN, " minutes")
        negative = minutes < 0
        if negative.any():
            examples = _examples(negative.to_numpy(), frame[src])
            raise UserError(
                f"{raw.source_name}: column '{src}' has {int(negative.sum())} negative duration(s) "
                f"({examples}). Durations must be 0 or more."
            )
        out[DURATION] = minutes
    else:
        out[DURATION] = np.nan
        warnings.append("No duration column: routings are learned without times.")
    if SEQ in sources:
        out[SEQ] = _numeric(frame, sources[SEQ], sources[SEQ], raw.source_name)
    mapped = set(full)
    attributes = [c for c in frame.columns if c not in mapped]
    kept: dict[str, pd.Series] = {}
    for col in attributes:
        values = frame[col]
        if pd.api.types.is_float_dtype(values):
            with np.errstate(invalid="ignore"):  # beyond float32: '1e309', 'inf', '1e308' — dirt
                infinite = np.abs(values.to_numpy(dtype="float64", na_value=np.nan)) > MAX_ATTRIBUTE
            if infinite.any():
                values = values.mask(infinite)
                warnings.append(f"{col}: {int(infinite.sum()):,} infinite or too large number(s) treated as blank.")
        kept[col] = values
    for col in [c for c in kept if c in out.columns]:  # a second column under a canonical name
        out[col] = kept.pop(col)
    if kept:  # all at once: a column at a time is slow for thousands of columns
        out = pd.concat([out, pd.DataFrame(kept, index=frame.index)], axis=1)

    unusable = out[ITEM].isna() | out[PROCESS].isna()
    if unusable.all():
        raise UserError(
            f"{raw.source_name}: no usable rows — every row lacks {ITEM} or {PROCESS}."
        )
    if unusable.any():
        warnings.append(
            f"{int(unusable.sum()):,} row(s) without {ITEM} or {PROCESS} were skipped "
            f"(first at line {int(np.flatnonzero(unusable.to_numpy())[0]) + 2})."
        )
        out = out[~unusable]
    MAX_PROCESS_CODES.check(_distinct(out[PROCESS]), raw.source_name)

    if SEQ in out:
        missing_seq = out[SEQ].isna()
        if missing_seq.any():
            warnings.append(f"{int(missing_seq.sum()):,} row(s) without {SEQ}: file order used there.")
            order_in_item = out.groupby(ITEM, sort=False).cumcount() + 1
            out[SEQ] = out[SEQ].fillna(order_in_item.astype("float64"))
    else:
        out[SEQ] = (out.groupby(ITEM, sort=False).cumcount() + 1).astype("float64")
    idx = item_index(out)
    if not _grouped_and_ordered(out, idx):
        out["_line"] = np.arange(len(out))
        out = out.sort_values([ITEM, SEQ, "_line"], kind="stable").drop(columns="_line")
        idx = item_index(out)
    MAX_ITEMS.check(int(idx[-1]) + 1 if len(idx) else 0, raw.source_name)  # grouped: items are runs
    out = out.reset_index(drop=True)

    item_attrs, op_attrs, disagreeing = classify_attributes(out, attributes, idx)
    duplicates = duplicate_counts(out, idx)
    warnings.extend(_dirt_warnings(out, attributes, disagreeing, duplicates))
    repeated = duplicates[1]
    if SEQ in sources and len(out) and repeated / len(out) > MAPPING_DOUBT_SHARE:
        # Many rows sharing an (item, seq) pair: the mapped column does not tell items apart.
        warnings.insert(0, (
            f"{repeated / len(out):.0%} of the rows repeat an ({ITEM}, {SEQ}) pair: is '{sources[ITEM]}' "
            f"really the item code, and '{sources[SEQ]}' the step number? Check the mapping."
        ))
    dataset = Dataset(
        ops=out,
        mapping=full,
        item_attributes=item_attrs,
        operation_attributes=op_attrs,
        warnings=warnings,
        source_name=raw.source_name,
        sha256=_pending_sha256(raw),  # hashed only if asked for
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        inconsistent_items=disagreeing,
    )
    dataset._item_numbers = idx
    return dataset


def _arrow(values: pd.Series) -> pa.Array:
    """A text column as one pyarrow string array (no copy for pandas' pyarrow-backed strings)."""
    data = getattr(values.array, "_pa_array", None)
    if data is None:
        data = pa.array(values.to_numpy(dtype=object), pa.string(), from_pandas=True)
    if isinstance(data, pa.ChunkedArray):
        return data.chunk(0) if data.num_chunks == 1 else data.combine_chunks()
    return data


def _distinct(values: pd.Series) -> int:
    """Distinct non-blank values of a text column."""
    return int(pc.count_distinct(_arrow(values), mode="only_valid").as_py())


def _code_text(values: pd.Series) -> pd.Series:
    """Codes as text: surrounding blanks removed, an empty code a blank cell."""
    text = _arrow(values if pd.api.types.is_string_dtype(values) else values.astype("str"))
    if _may_need_trim(text):
        text = pc.utf8_trim_whitespace(text)
        empty = pc.equal(text, "")
        if pc.any(empty).as_py():
            text = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    return pd.Series(pd.array(text, dtype="str"), index=values.index)


def _may_need_trim(text: pa.Array) -> bool:
    """False when no value is empty and none starts or ends with a space, a control character or
    a non-ASCII byte (which may be Unicode white space): checked on the raw buffers, no copy."""
    if len(text) == 0 or not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return True
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(text.buffers()[1], dtype=width)[text.offset : text.offset + len(text) + 1]
    if np.any(offsets[1:] <= offsets[:-1]):
        return True  # an empty value (or a blank cell)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    ends = np.concatenate([data[offsets[:-1]], data[offsets[1:] - 1]])
    return bool(np.any((ends <= 0x20) | (ends >= 0x80)))


def blank_count(values: pd.Series) -> int:
    """Blank cells of a column (Arrow-backed text knows its count without a pass)."""
    data = getattr(values.array, "_pa_array", None)
    return int(data.null_count) if data is not None else int(values.isna().sum())


def item_index(ops: pd.DataFrame) -> np.ndarray:
    """Item number of each row (0, 0, 1, 1, 1, 2 …) for a table grouped by item_code."""
    arr = _arrow(ops[ITEM])
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    change = pc.not_equal(arr[1:], arr[:-1]).to_numpy(zero_copy_only=False)
    idx = np.empty(len(arr), dtype=np.int64)
    idx[0] = 0
    np.cumsum(change, out=idx[1:])
    return idx


def _grouped_and_ordered(ops: pd.DataFrame, idx: np.ndarray) -> bool:
    """True when rows are already grouped by item with seq non-decreasing (exports usually are)."""
    if len(idx) == 0:
        return True
    # codes in sorted order are grouped for sure (cheap: compare them where they change);
    # otherwise count the distinct ones
    starts = np.flatnonzero(idx[1:] != idx[:-1]) + 1
    codes = _arrow(ops[ITEM])
    is_sorted = pc.all(pc.less_equal(codes.take(starts - 1), codes.take(starts))).as_py() is not False
    if not is_sorted and int(idx[-1]) + 1 != ops[ITEM].nunique():
        return False
    seq = ops[SEQ].to_numpy()
    return bool(np.all((seq[1:] >= seq[:-1]) | (idx[1:] != idx[:-1])))


# More rows than this share repeating an (item_code, seq) pair put the mapping in doubt.
MAPPING_DOUBT_SHARE = 0.2
# An attribute whose values disagree within at most this share of items is still an item
# attribute (dirty data); above it, the column describes operations.
ITEM_ATTRIBUTE_TOLERANCE = 0.05


def _single_column_hint(frame: pd.DataFrame) -> str:
    if len(frame.columns) != 1:
        return ""
    return " The file has a single column: are its columns separated by ',', ';', tab or '|'?"


def classify_attributes(
    ops: pd.DataFrame, attributes: list[str], idx: np.ndarray | None = None
) -> tuple[list[str], list[str], dict[str, int]]:
    """Split attribute columns into item attributes and operation attributes (see DESIGN §2).

    `ops` must be grouped by item (as normalise() leaves it). Returns also, per item attribute,
    how many items have disagreeing values.
    """
    if not attributes or ops.empty:
        return list(attributes), [], {}
    idx = item_index(ops) if idx is None else idx
    n_multi = max(int(np.count_nonzero(np.bincount(idx) > 1)), 1)
    same = idx[1:] == idx[:-1]
    item_attrs, op_attrs, disagreeing = [], [], {}
    # pyarrow and numpy release the GIL here: columns are counted side by side
    with ThreadPoolExecutor(max_workers=min(len(attributes), os.cpu_count() or 1)) as pool:
        bits = pa.array(same)
        counts = list(pool.map(lambda col: _items_with_several_values(ops[col], idx, same, bits), attributes))
    for col, varying in zip(attributes, counts, strict=True):
        if varying / n_multi <= ITEM_ATTRIBUTE_TOLERANCE:
            item_attrs.append(col)
            if varying:
                disagreeing[col] = varying
        else:
            op_attrs.append(col)
    return item_attrs, op_attrs, disagreeing


def _items_with_several_values(values: pd.Series, idx: np.ndarray, same: np.ndarray | None = None,
                               same_bits: pa.Array | None = None) -> int:
    """How many items hold more than one distinct non-blank value (rows grouped by item, `idx`).

    With the blanks left out, an item holds several values exactly when two of its neighbouring
    values differ: neighbours are compared where both are filled, and across each run of blanks.
    This needs no hashing of the values. `same` is idx[1:] == idx[:-1] (`same_bits` as Arrow).
    """
    same = idx[1:] == idx[:-1] if same is None else same
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric or not pd.api.types.is_string_dtype(values):
        # numbers as they are; other values (flags, categories, mixed objects) by identity
        if numeric:
            x = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            codes = pd.factorize(values)[0]
            x = np.where(codes < 0, np.nan, codes.astype("float64"))
        blank = np.isnan(x)
        with np.errstate(invalid="ignore"):
            differ = (x[1:] != x[:-1]) & same
        if blank.any():
            differ &= ~blank[1:] & ~blank[:-1]
        left, right = _across_blanks(blank, idx)
        across = x[left] != x[right]
    else:
        arr = _arrow(values)
        blank = ~arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(len(arr), bool)
        # Arrow compares into packed bits (blank where a blank takes part): test them there first.
        packed = pc.and_(pc.not_equal(arr[1:], arr[:-1]), pa.array(same) if same_bits is None else same_bits)
        differ = (packed.fill_null(False).to_numpy(zero_copy_only=False) if pc.any(packed).as_py()
                  else np.zeros(len(arr) - 1, dtype=bool))
        left, right = _across_blanks(blank, idx)
        across = pc.not_equal(arr.take(left), arr.take(right)).to_numpy(zero_copy_only=False)
    if not differ.any() and not across.any():
        return 0
    several = np.zeros(int(idx[-1]) + 1, dtype=bool)
    several[idx[1:][differ]] = True
    several[idx[right[across]]] = True
    return int(several.sum())


def _across_blanks(blank: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filled cells on either side of each run of blank cells, where both lie in one item."""
    pos = np.flatnonzero(blank)
    if not len(pos):
        return pos, pos
    breaks = pos[1:] != pos[:-1] + 1
    left, right = pos[np.r_[True, breaks]] - 1, pos[np.r_[breaks, True]] + 1
    inside = (left >= 0) & (right < len(blank))
    left, right = left[inside], right[inside]
    one_item = idx[left] == idx[right]
    return left[one_item], right[one_item]


def duplicate_counts(ops: pd.DataFrame, idx: np.ndarray | None = None) -> tuple[int, int]:
    """(duplicate rows, rows repeating an (item_code, seq) pair) for a table grouped by item."""
    if ops.empty:
        return 0, 0
    idx = item_index(ops) if idx is None else idx
    seq = ops[SEQ].to_numpy()
    repeat = np.r_[False, (idx[1:] == idx[:-1]) & (seq[1:] == seq[:-1])]
    dup_seq = int(repeat.sum())
    if not dup_seq:
        return 0, 0
    # Whole-row duplicates share (item, seq): only those groups need a full comparison.
    involved = repeat | np.r_[repeat[1:], False]
    dup_rows = int(ops[involved].duplicated().sum())
    return dup_rows, dup_seq


def _dirt_warnings(
    ops: pd.DataFrame, attributes: list[str], disagreeing: dict[str, int], duplicates: tuple[int, int]
) -> list[str]:
    warnings = []
    for col, n in disagreeing.items():
        warnings.append(f"{col}: {n:,} item(s) have different values on different rows (first one used).")
    dup_rows, dup_seq = duplicates
    if dup_rows:
        warnings.append(f"{dup_rows:,} duplicate row(s).")
    if dup_seq:
        warnings.append(f"{dup_seq:,} row(s) repeat an ({ITEM}, {SEQ}) pair.")
    if DURATION in ops and ops[DURATION].notna().any():
        blank = blank_count(ops[DURATION])
        if blank:
            warnings.append(f"{DURATION}: {blank:,} blank cell(s) ({blank / len(ops):.1%}).")
    for col in attributes:
        rate = blank_count(ops[col]) / len(ops)
        if rate > 0:
            warnings.append(f"{col}: {rate:.1%} missing.")
    return warnings


def load_dataset(source: Source, mapping: Mapping[str, str] | None = None, name: str | None = None) -> Dataset:
    """Read and normalise a file in one step (what the CLI does)."""
    return normalise(read_table(source, name=name), mapping)


def read_items(source: Source, mapping: Mapping[str, str] | None = None, name: str | None = None) -> pd.DataFrame:
    """Items to predict from a file: one row per item, or long form (first row per item).

    Only the item code is required; every other column keeps its name, so the attributes the
    model learned are found by name.
    """
    raw = read_table(source, name=name)
    full = resolve_mapping(raw.frame.columns, mapping)
    sources = {t: s for s, t in full.items()}
    if ITEM not in sources:
        raise MissingColumns(
            f"{raw.source_name}: no {ITEM} column found.", [ITEM], raw.frame.columns,
            propose_mapping(raw.frame, full), _single_column_hint(raw.frame),
        )
    frame = raw.frame
    if not pd.api.types.is_string_dtype(frame[sources[ITEM]]) and raw.delimiter is not None:
        # keep leading zeros: read the code column again as text
        frame = read_table(raw.data, name=raw.source_name, text_columns={sources[ITEM]}).frame
    if sources[ITEM] != ITEM:
        frame = frame.drop(columns=[ITEM], errors="ignore").rename(columns={sources[ITEM]: ITEM})
    codes = frame[ITEM].astype("str").str.strip()
    frame = frame.assign(**{ITEM: codes})[frame[ITEM].notna() & codes.ne("")]
    if frame.empty:
        raise UserError(f"{raw.source_name}: no rows with an {ITEM}.")
    return frame.drop_duplicates(ITEM, keep="first").reset_index(drop=True)


def item_table(ops: pd.DataFrame, item_attributes: list[str]) -> pd.DataFrame:
    """One row per item: its code and item attributes (first non-blank value of each)."""
    cols = [c for c in item_attributes if c in ops]
    return ops.groupby(ITEM, sort=False)[cols].first().reset_index()


# ---------------------------------------------------------------- store


def data_home() -> Path:
    """Where datasets live: $ROUTING_DATA_HOME, else ./data."""
    return Path(os.environ.get("ROUTING_DATA_HOME", "data"))


@dataclass
class DatasetRecord:
    name: str
    source_name: str
    mapping: dict[str, str]
    sha256: str
    rows: int
    items: int
    processes: int
    item_attributes: list[str]
    operation_attributes: list[str]
    warnings: list[str]
    created_at: str
    inconsistent_items: dict[str, int] = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # a database read: connection, query, time, rows

    def to_json(self) -> dict:
        return asdict(self)


_COUNT = (int,)
# record.json: every field of a DatasetRecord with the JSON types it may hold.
RECORD_FIELDS = {
    "name": Field(TEXT, required=True),
    "source_name": Field(TEXT, required=True),
    "mapping": Field((dict,), required=True),
    "sha256": Field(TEXT, required=True),
    "rows": Field(_COUNT, required=True),
    "items": Field(_COUNT, required=True),
    "processes": Field(_COUNT, required=True),
    "item_attributes": Field((list,), required=True),
    "operation_attributes": Field((list,), required=True),
    "warnings": Field((list,), required=True),
    "created_at": Field(TEXT, required=True),
    "inconsistent_items": Field((dict,)),
    "source": Field((dict,)),
}
_OPTIONAL_SHARE = (*NUMBER, None)
# stats.json: the top-level fields the Dataset page reads, with their JSON types.
STATS_FIELDS = {
    "stats_version": Field((int,), required=True),
    **{k: Field(_COUNT, required=True) for k in ("total_samples", "unique_items", "unique_processes",
                                                 "distinct_routings", "duplicate_rows", "duplicate_item_seq")},
    **{k: Field(_OPTIONAL_SHARE) for k in ("missing_item_code", "missing_process_code", "missing_duration_min",
                                           "most_common_routing_share")},
    **{k: Field((dict, None)) for k in ("missing_rate", "routing_length", "duration_min",
                                        "routing_duration_min", "duration_by_process", "process_frequency",
                                        "inconsistent_items")},
    **{k: Field((list, None)) for k in ("transitions", "item_attributes", "operation_attributes",
                                        "attributes", "alerts")},
}


def _check_record(data: dict, where: str) -> dict:
    """A parsed record.json whose lists hold text and whose mapping maps text to text."""
    for key in ("item_attributes", "operation_attributes", "warnings"):
        if not all(isinstance(v, str) for v in data[key]):
            raise BrokenState(f"{where}: record.json field '{key}' must list text only.")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["mapping"].items()):
        raise BrokenState(f"{where}: record.json field 'mapping' must map text to text.")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in data.get("inconsistent_items", {}).values()):
        raise BrokenState(f"{where}: record.json field 'inconsistent_items' must hold counts.")
    return data


# A hidden save folder older than this is a leftover whatever its pid says.
STALE_SAVE_SEC = 24 * 3600


class DatasetStore:
    """Stored datasets: <root>/datasets/<name>/{ops.parquet, record.json, stats.json}."""

    RECORD = "record.json"
    OPS = "ops.parquet"
    STATS = "stats.json"

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else data_home()
        self.folder = self.root / "datasets"

    def _path(self, name: str) -> Path:
        return self.folder / check_name(name, "dataset name")

    def list(self) -> list[DatasetRecord]:
        """Every whole dataset, newest first (broken ones are left out: see broken())."""
        return self._scan()[0]

    def broken(self) -> list[tuple[str, str]]:
        """Dataset folders that cannot be used, as (name, reason), by name."""
        return self._scan()[1]

    def _scan(self) -> tuple[list[DatasetRecord], list[tuple[str, str]]]:
        records, broken = [], []
        if not self.folder.is_dir():
            return records, broken
        for entry in os.scandir(self.folder):
            if entry.name.startswith(".") or not (entry.is_dir(follow_symlinks=False) or entry.is_symlink()):
                continue
            try:
                records.append(self.record(entry.name))
            except FileNotFoundError:
                continue  # removed meanwhile
            except UserError as exc:
                if "No dataset named" not in str(exc):  # a folder without a record: a save under way
                    broken.append((entry.name, str(exc)))
            except OSError as exc:
                broken.append((entry.name, f"Dataset '{entry.name}' cannot be read ({exc.strerror})."))
        return sorted(records, key=lambda r: r.created_at, reverse=True), sorted(broken)

    def names(self) -> list[str]:
        return [r.name for r in self.list()]

    def _folder(self, name: str) -> Path:
        """The folder of a dataset; UserError when a link stands in its place."""
        path = self._path(name)
        if path.is_symlink():
            raise BrokenState(f"Dataset '{name}' is a symbolic link to another folder, not a dataset folder; "
                              "it is not used.")
        return path

    def record(self, name: str) -> DatasetRecord:
        where = f"Dataset '{name}'"
        path = self._folder(name) / self.RECORD
        try:
            data = read_json(path, where, RECORD_FIELDS)
        except FileNotFoundError:
            raise UserError(f"No dataset named '{name}'.") from None
        _check_record(data, where)
        if data["name"] != name:
            raise BrokenState(f"{where}: record.json names dataset {data['name'][:80]!r}; the folder was "
                              "renamed by hand.")
        known = {f.name for f in fields(DatasetRecord)}
        return DatasetRecord(**{k: v for k, v in data.items() if k in known})

    def find_by_content(self, sha256: str, mapping: Mapping[str, str]) -> DatasetRecord | None:
        """The stored dataset with this file content and mapping, if any."""
        for rec in self.list():
            if rec.sha256 == sha256 and rec.mapping == dict(mapping):
                return rec
        return None

    def save(self, name: str, dataset: Dataset, stats: dict | None = None) -> tuple[DatasetRecord, bool]:
        """Store a dataset under `name`. Returns (record, created); the same content twice is not stored again."""
        target = self._path(name)
        existing = self.find_by_content(dataset.sha256, dataset.mapping) if dataset.sha256 else None
        if existing is not None:
            return existing, False
        if target.exists() or target.is_symlink():
            return self._taken(name, dataset)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cleanup()  # leftovers of saves killed midway
        record = DatasetRecord(
            name=name,
            source_name=dataset.source_name,
            mapping=dict(dataset.mapping),
            sha256=dataset.sha256,
            rows=len(dataset.ops),
            items=dataset.n_items,
            processes=int(dataset.ops[PROCESS].nunique()),
            item_attributes=dataset.item_attributes,
            operation_attributes=dataset.operation_attributes,
            warnings=dataset.warnings,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            inconsistent_items=dict(dataset.inconsistent_items),
            source=dict(dataset.source),
        )
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{name}.{os.getpid()}."))
        try:
            dataset.ops.to_parquet(tmp / self.OPS, index=False)
            if stats is not None:
                atomic_write_json(tmp / self.STATS, stats)
            atomic_write_json(tmp / self.RECORD, record.to_json())
            try:
                os.rename(tmp, target)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                return self._taken(name, dataset)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return record, True

    def _taken(self, name: str, dataset: Dataset) -> tuple[DatasetRecord, bool]:
        """A save found `name` taken: the same content stored meanwhile (another session or process
        saving the same file at the same moment) is that dataset; anything else is refused."""
        existing = self.find_by_content(dataset.sha256, dataset.mapping) if dataset.sha256 else None
        if existing is not None:
            return existing, False
        raise UserError(f"A dataset named '{name}' already exists; choose another name.")

    def load(self, name: str) -> Dataset:
        rec = self.record(name)
        where = f"Dataset '{name}'"
        try:
            with open_regular(self._folder(name) / self.OPS, where) as fh:
                ops = pd.read_parquet(fh)
        except FileNotFoundError:
            raise BrokenState(f"{where}: {self.OPS} is missing.") from None
        except (pa.ArrowException, OSError) as exc:
            raise BrokenState(f"{where}: {self.OPS} cannot be read ({exc}).") from None
        return Dataset(
            ops=ops,
            mapping=rec.mapping,
            item_attributes=rec.item_attributes,
            operation_attributes=rec.operation_attributes,
            warnings=rec.warnings,
            source_name=rec.source_name,
            sha256=rec.sha256,
            inconsistent_items=rec.inconsistent_items,
            source=rec.source,
        )

    def stats(self, name: str) -> dict:
        """The dataset's statistics, computed on first use and kept beside it."""
        from routing_core.stats import STATS_VERSION, compute_stats

        path = self._folder(name) / self.STATS
        try:
            stats = read_json(path, f"Dataset '{name}'", STATS_FIELDS)
            if stats.get("stats_version") == STATS_VERSION:
                return stats
        except (OSError, BrokenState):
            pass
        # missing, unreadable, or written by an older build: compute again
        stats = compute_stats(self.load(name))
        atomic_write_json(path, stats)
        return stats

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.is_dir():
            raise UserError(f"No dataset named '{name}'.")
        # Rename first so a crash mid-delete never leaves a half dataset under its name.
        trash = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".deleted-{name}."))
        os.rename(path, trash / name)
        shutil.rmtree(trash, ignore_errors=True)

    def cleanup(self) -> int:
        """Remove leftovers of interrupted saves and deletes; returns how many were removed.

        A save still running in another process (its pid is in the folder name) is left alone.
        """
        removed = 0
        if self.folder.is_dir():
            for entry in self.folder.iterdir():
                if entry.name.startswith(".") and entry.is_dir() and not _save_running(entry):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
        return removed


def _save_running(entry: Path) -> bool:
    """Whether a hidden `.<name>.<pid>.<random>` folder belongs to a save that is still going."""
    if entry.name.startswith(".deleted-"):
        return False
    try:
        pid = int(entry.name.rsplit(".", 2)[-2])
    except (ValueError, IndexError):
        return False  # not the folder of a save
    try:
        if time.time() - entry.stat().st_mtime > STALE_SAVE_SEC:
            return False
    except FileNotFoundError:
        return False
    return process_alive(pid)
