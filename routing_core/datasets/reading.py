"""Reading a routing export: bytes or a path to a RawTable of its own columns.

CSV with the encoding and delimiter sniffed (large plain UTF-8 files streamed from disk),
Parquet through routing_core.datasets.parquet; every size checked against routing_core.platform.limits.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from routing_core.datasets.parquet import read_parquet
from routing_core.datasets.tables import RawTable
from routing_core.mapping.schema import ITEM, PROCESS, detect_mapping
from routing_core.platform.errors import UserError
from routing_core.platform.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_DECODED_BYTES,
    MAX_LINE_BYTES,
    MAX_ROWS,
)

DELIMITERS = (",", ";", "\t", "|")
ENCODINGS = ("utf-8", "cp949", "cp1252", "latin-1")
SNIFF_BYTES = 1 << 20

Source = str | os.PathLike | bytes | IO[bytes]


def _to_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "upload"
    if hasattr(source, "read"):
        data = source.read()
        return (data if isinstance(data, bytes) else data.encode()), getattr(source, "name", "upload")
    path = Path(source)
    with open_file(path) as fh:
        return fh.read(), path.name


def open_file(path: Path) -> IO[bytes]:
    """A file given by path opened for reading, if it is a regular file of at most the decoded-bytes
    limit; a device, FIFO or socket is refused without reading from it (it may never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"File not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a file.") from None
    except PermissionError:
        raise UserError(f"No permission to read {path}.") from None
    except OSError as exc:
        raise UserError(f"{path} cannot be opened ({exc.strerror or exc}).") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"{path} is a folder, not a file.")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else (
                "a socket" if stat.S_ISSOCK(info.st_mode) else "a device")
            raise UserError(f"{path} is {kind}, not a file; only regular files are read.")
        MAX_DECODED_BYTES.check(info.st_size, path.name, " on disk")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        _admit_path(path, name or path.name)
        if not text_columns:
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
        return RawTable(read_parquet(data, source_name), "parquet", None, original, source_name)
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            # Excel's "Unicode text" export: re-encode once, then read as UTF-8.
            try:
                data = data.decode(enc).encode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{source_name} starts as {enc.upper()} text but is not valid {enc.upper()}.") from None
            break
    nul = _looks_binary(data)
    if nul is not None:
        raise UserError(
            f"{source_name} is not a text CSV file (a NUL byte at byte {nul:,}, {_where(data, nul)}). "
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
    MAX_DECODED_BYTES.check(len(data), source_name, " of text")
    _admit_rows(_line_count([data]), data, sniffed, delimiter, source_name)
    # The sniff saw only the first megabyte: a bad byte further down moves on to the next encoding,
    # unless the text is UTF-8 with a few damaged bytes (then they are replaced and reported).
    if not bom and sniffed != "utf-8" and _damaged_utf8(data, delimiter, source_name) is not None:
        sniffed = "utf-8"  # UTF-8 text with damage in the first megabyte: not another encoding
    candidates = [sniffed] if bom else [sniffed, *ENCODINGS[ENCODINGS.index(sniffed) + 1 :]]
    notes: list[str] = []
    for encoding in candidates:
        try:
            frame = read_csv(data, encoding, delimiter, source_name, text_columns)
            break
        except _NotThisEncoding as exc:
            repaired = _damaged_utf8(data, delimiter, source_name) if encoding.startswith("utf-8") else None
            if repaired is not None:
                data, note = repaired
                frame = read_csv(data, encoding, delimiter, source_name, text_columns)
                notes.append(note)
                break
            if encoding == candidates[-1]:
                raise UserError(
                    f"{source_name}: text is not valid {encoding.replace('-sig', '')}{exc.where}. "
                    "Save the file as UTF-8 and retry."
                ) from None
    return RawTable(frame, encoding.replace("-sig", " (BOM)"), delimiter, original, source_name, data, notes)


def _where(data: bytes, offset: int, delimiter: str | None = None, header: list[str] | None = None) -> str:
    """Line (and with `delimiter`, column) of a byte offset in text, as people count them."""
    start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    if delimiter is None:
        return f"line {line:,}"
    column = data.count(delimiter.encode(), start, offset)  # quoted delimiters aside
    name = f"'{header[column]}'" if header and column < len(header) else str(column + 1)
    return f"line {line:,}, column {name}"


_BAD = threading.local()


def _note_bad_byte(exc: UnicodeError) -> tuple[str, int]:
    offsets = getattr(_BAD, "offsets", None)
    if offsets is None or not isinstance(exc, UnicodeDecodeError):
        raise exc
    offsets.append(exc.start)
    if len(offsets) > 100_000:
        raise exc  # far too many for damage: another encoding
    return "\ufffd", exc.end


codecs.register_error("routing-bad-bytes", _note_bad_byte)


def _damaged_utf8(data: bytes, delimiter: str, source_name: str) -> tuple[bytes, str] | None:
    """UTF-8 text with a few invalid bytes: the text with each replaced by U+FFFD and a note of where
    they were. None when the invalid bytes are not fewer than the characters that decode as UTF-8
    beyond ASCII: then the file is in another encoding (CP949, CP1252, Latin-1) and read as such."""
    import numpy as np

    _BAD.offsets = bad = []
    try:
        text = data.decode("utf-8", errors="routing-bad-bytes")
    except UnicodeDecodeError:
        return None
    finally:
        _BAD.offsets = None
    ascii_bytes = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) < 128))
    decoded = len(text) - ascii_bytes - len(bad)  # characters beyond ASCII that decoded
    if not bad or decoded <= len(bad):
        return None
    header = _header(data, "utf-8", delimiter, source_name)
    places = list(dict.fromkeys(_where(data, at, delimiter, header) for at in bad[:200]))
    shown = "; ".join(places[:5])
    more = " and more places" if len(places) > 5 or len(bad) > 200 else ""
    note = (f"{len(bad):,} byte(s) are not valid UTF-8 and were replaced by \ufffd: {shown}{more}. "
            "Fix them in the source and upload again for the true text.")
    return text.encode("utf-8"), note


class _NotThisEncoding(Exception):
    def __init__(self, where: str = "") -> None:
        super().__init__(where)
        self.where = where


def read_csv(
    data: bytes, encoding: str, delimiter: str, source_name: str, text_columns: set[str] | None = None
) -> pd.DataFrame:
    header = _header(data, encoding, delimiter, source_name)
    # pyarrow infers numbers, which would drop the leading zeros of codes: columns that look like
    # codes (a leading zero in the first lines, or a known item/process header) stay text.
    text = set(text_columns or ()) | _code_like_columns(data, encoding, delimiter, header)
    # Quoted line breaks inside values are rare and make parsing slower: only allow them when a
    # quote follows a delimiter or starts a line somewhere in the file.
    newlines = _may_quote_newlines(data, delimiter)
    block = 1 << 20
    for _ in range(len(header) + 3):
        try:
            options = _csv_options(header, encoding, delimiter, text, newlines)
            options[0].block_size = block
            table = pacsv.read_csv(pa.BufferReader(data), *options)
            break
        except UnicodeDecodeError:
            raise _NotThisEncoding() from None
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "UTF-8" in str(exc):
                raise _NotThisEncoding() from None
            if "straddl" in str(exc) and block < (2 << 30):
                # a row longer than a parser block: blocks big enough, or a message in our words
                length, line = _longest_line(data)
                MAX_LINE_BYTES.check(length, source_name, f" (line {line:,})")
                block = max(block * 2, 1 << (2 * length).bit_length())
                continue
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
    if any(b"\x00" in chunk for chunk in tee.chunks):
        return None  # the careful reader refuses it with its position
    if (tee.quote_after_head and not newlines) or table.num_rows == 0 or any(
        pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types
    ):
        return None
    _check_size(table, source_name)
    return RawTable(table.to_pandas(), "utf-8", delimiter, tee.chunks, source_name, tee.chunks)


def _line_count(chunks) -> int:
    """Lines in the bytes of `chunks` as a CSV parser ends them (\n, \r\n or a lone \r): an
    upper bound of the rows (a quoted line break counts too)."""
    lines, last, tail = 0, b"", b""
    for chunk in chunks:
        if tail == b"\r" and chunk[:1] == b"\n":
            lines -= 1  # a \r\n split between two chunks
        lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if chunk:
            last, tail = chunk[-1:], chunk[-1:]
    return lines + (1 if last not in (b"\n", b"\r", b"") else 0)


def _file_chunks(path: Path, size: int = 8 << 20):
    with open_file(path) as fh:
        while chunk := fh.read(size):
            yield chunk


def _admit_path(path: Path, source_name: str) -> None:
    """A file given by path refused before it is parsed (or read whole) when it is not a regular
    file, or its bytes or lines (as CSV) are over a limit."""
    with open_file(path) as fh:
        head = fh.read(SNIFF_BYTES)
        if head[:4] == b"PAR1" or not head.strip():
            return  # Parquet is admitted by its metadata; an empty file is refused by the reader
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return  # re-encoded first, then admitted as bytes
    encoding = _sniff_encoding(head, complete=False)
    stripped = head[3:] if head.startswith(codecs.BOM_UTF8) else head.lstrip(b" \t\r\n")
    delimiter = _sniff_delimiter(stripped[:65536].decode(encoding, errors="replace"))
    _admit_rows(_line_count(_file_chunks(path)), path, encoding, delimiter, source_name)


def _admit_rows(lines: int, source: bytes | Path, encoding: str, delimiter: str, source_name: str) -> None:
    """UserError when the rows or cells of a CSV are over a limit, found before the whole parse.

    `lines` bounds the rows from above; only when it is over a limit are the rows counted exactly,
    by pyarrow's streaming reader keeping one column of one block at a time, and the count stops
    as soon as a limit is passed."""
    head = source[:SNIFF_BYTES] if isinstance(source, bytes) else next(_file_chunks(source, SNIFF_BYTES), b"")
    head = head[3:] if head.startswith(codecs.BOM_UTF8) else head.lstrip(b" \t\r\n")
    try:
        header = _header(head, "utf-8" if encoding.startswith("utf-8") else encoding, delimiter, source_name)
    except UserError:
        return  # the reader says what is wrong with the header
    columns = len(header)
    rows_limit = min(MAX_ROWS.value, MAX_CELLS.value // max(columns, 1))
    if lines - 1 <= rows_limit:
        return
    read, parse, _ = _csv_options(header, encoding, delimiter, set(), _may_quote_newlines(head, delimiter))
    convert = pacsv.ConvertOptions(include_columns=[header[0]], column_types={header[0]: pa.string()})
    stream = pa.BufferReader(source) if isinstance(source, bytes) else pa.OSFile(str(source))
    rows = 0
    try:
        with pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert) as reader:
            for batch in reader:
                rows += batch.num_rows
                if rows > rows_limit:
                    break
    except (pa.ArrowException, UnicodeDecodeError):
        return  # the full read reports the broken row in its own words
    MAX_ROWS.check(rows, source_name, " (counted so far)")
    MAX_CELLS.check(rows * columns, source_name, " (counted so far)")


def _check_size(table: pa.Table, source_name: str) -> None:
    """UserError if a parsed table is over a limit (before it becomes a pandas frame)."""
    MAX_ROWS.check(table.num_rows, source_name)
    MAX_CELLS.check(table.num_rows * table.num_columns, source_name)
    MAX_DECODED_BYTES.check(table.nbytes, source_name)


def _longest_line(data: bytes) -> tuple[int, int]:
    """(bytes, line number) of the longest line of `data`."""
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    bounds = np.concatenate(([-1], ends, [len(data)]))
    lengths = np.diff(bounds) - 1
    longest = int(lengths.argmax())
    return int(lengths[longest]), longest + 1


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


def python_encoding(label: str) -> str:
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
