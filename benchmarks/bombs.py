"""Hostile files made quickly at their real sizes, for the benchmark and the reliability tests:
files that are small on disk and large once decoded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("item_code", pa.string()), ("process_code", pa.string())])


def unique_strings(path: str | os.PathLike, rows: int, width: int = 1024, group: int = 250_000) -> Path:
    """A Parquet file of `rows` distinct `width`-byte item codes stored without dictionary encoding
    (zstd packs the repeated filler): about rows × width bytes once decoded."""
    with pq.ParquetWriter(path, SCHEMA, use_dictionary=False, compression="zstd",
                          write_statistics=False) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            buf = np.full((n, width), ord("x"), dtype=np.uint8)
            number = np.arange(start, start + n)
            for k in range(10):  # a 10-digit counter in front makes every value distinct
                buf[:, 9 - k] = 48 + (number // 10**k) % 10
            offsets = np.arange(n + 1, dtype=np.int32) * width
            codes = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
            writer.write_table(pa.table({"item_code": codes, "process_code": pa.array(["SAW"] * n)},
                                        schema=SCHEMA))
    return Path(path)


def row_groups(path: str | os.PathLike, groups: int) -> Path:
    """A Parquet file of `groups` row groups of one row each."""
    table = pa.table({"item_code": pa.array(["I1"]), "process_code": pa.array(["SAW"])}, schema=SCHEMA)
    with pq.ParquetWriter(path, SCHEMA, compression="none") as writer:
        for _ in range(groups):
            writer.write_table(table)
    return Path(path)


def long_csv(path: str | os.PathLike, rows: int, columns: int = 2) -> Path:
    """A CSV of `rows` short rows (written in blocks of 100,000)."""
    header = ",".join(["item_code", "process_code", *(f"a{i}" for i in range(columns - 2))]) + "\n"
    extra = ",1" * (columns - 2)
    block = "".join(f"I{i},SAW{extra}\n" for i in range(100_000)).encode()
    with open(path, "wb") as fh:
        fh.write(header.encode())
        for _ in range(rows // 100_000):
            fh.write(block)
    return Path(path)
