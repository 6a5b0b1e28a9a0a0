"""Reading a Parquet file, its size checked against the limits before anything is decoded."""

from __future__ import annotations

import io
import os
import struct
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from routing_core.platform.errors import UserError
from routing_core.platform.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_DECODED_BYTES,
    MAX_PARQUET_METADATA,
    MAX_ROW_GROUPS,
    MAX_ROWS,
)


def _footer_length(fh: IO[bytes], source_name: str) -> int:
    """The length of a Parquet file's metadata, read from its last 8 bytes (before it is parsed)."""
    size = fh.seek(0, os.SEEK_END)
    if size < 12:
        raise UserError(f"{source_name} looks like Parquet but is too short to be one ({size} bytes).")
    fh.seek(size - 8)
    tail = fh.read(8)
    fh.seek(0)
    if tail[4:] != b"PAR1":
        raise UserError(f"{source_name} looks like Parquet but has no Parquet footer (cut short?).")
    return struct.unpack("<I", tail[:4])[0]


def read_parquet(data: bytes | IO[bytes], source_name: str) -> pd.DataFrame:
    """A Parquet file's frame, its size checked against the limits before anything is decoded.

    The metadata's length is checked before it is parsed; rows, columns, cells, row groups and
    the uncompressed bytes of every column chunk come from the metadata; text columns are then
    decoded one row group at a time as dictionaries first, so what a dictionary expands to is
    counted before it exists. `data` is the file's bytes or a seekable binary file.
    """
    fh = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    MAX_PARQUET_METADATA.check(_footer_length(fh, source_name), source_name)
    try:
        meta = pq.ParquetFile(fh).metadata
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        _memory_refused(exc)
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
    MAX_ROW_GROUPS.check(meta.num_row_groups, source_name)
    # Values stored without a dictionary decode to about their uncompressed size: all of it is
    # counted before the first group is read.
    MAX_DECODED_BYTES.check(sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
                            source_name, " (uncompressed, from its metadata)")
    text = [f.name for f in schema if _is_text(f.type)]
    fixed = sum(_width(f.type) for f in schema if f.name not in text)
    try:
        fh.seek(0)
        reader = pq.ParquetFile(fh, read_dictionary=text)
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
        _memory_refused(exc)
        raise UserError(f"{source_name} looks like Parquet but cannot be read: {exc}") from None


def _memory_refused(exc: BaseException) -> None:
    """MemoryError when pyarrow failed for want of memory (a thread or buffer refused under a memory
    limit): that is no fault of the file."""
    if isinstance(exc, pa.ArrowMemoryError) or "Failed to launch worker thread" in str(exc):
        raise MemoryError(str(exc)) from exc


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
