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


# ---------------------------------------------------------------- the benchmark rows

START, END = "<!-- bombs:start -->", "<!-- bombs:end -->"
PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from routing_core.datasets import load_dataset
from routing_core.platform.errors import UserError
start = time.perf_counter()
try:
    load_dataset(sys.argv[2])
    said = ""
except UserError as exc:
    said = str(exc)
sec = time.perf_counter() - start
with open("/proc/self/status") as fh:  # this process's own peak (imports included)
    peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
print(json.dumps({"sec": sec, "refused": said, "peak_mb": peak}))
"""


def measure(path: Path) -> dict:
    """Read `path` in a fresh process: refused or not, the seconds, the process's peak memory."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", PROBE, str(root), str(path)], capture_output=True, text=True,
                         check=True, timeout=600, cwd=root)
    return {"file_mb": path.stat().st_size / 1e6, **json.loads(out.stdout.strip().splitlines()[-1])}


def run(work: Path, markdown: Path) -> dict:
    """Make the two bombs of the reliability notes at full size, read each, write their rows."""
    import time

    made = time.perf_counter()
    strings = unique_strings(work / "strings.parquet", rows=2_000_000)
    groups = row_groups(work / "groups.parquet", 400_000)
    results = {"strings": measure(strings), "groups": measure(groups), "made_sec": time.perf_counter() - made}
    lines = [START, "", "### Files small on disk, large once decoded", "",
             "`python benchmarks/bombs.py` (also run by `make bench`); each file read by "
             "`load_dataset` in a fresh process, whose own peak memory (VmHWM, imports included) is shown.", "",
             "| file | outcome | budget | result |", "|---|---|---|---|"]
    for key, what in (("strings", "2,000,000 distinct 1 KB item codes without dictionary encoding (2 GB decoded)"),
                      ("groups", "400,000 row groups of one row")):
        r = results[key]
        ok = bool(r["refused"]) and r["sec"] < 2 and r["peak_mb"] < 512
        lines.append(f"| a {r['file_mb']:.1f} MB Parquet file of {what} | "
                     f"{'refused' if r['refused'] else '**read**'} in {r['sec']:.2f} s, peak {r['peak_mb']:.0f} MB: "
                     f"“{r['refused'][:110]}…” | refused, < 2 s, < 0.5 GB | {'pass' if ok else '**FAIL**'} |")
    lines += ["", END]
    text = markdown.read_text() if markdown.exists() else "# Benchmarks\n"
    block = "\n".join(lines)
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    markdown.write_text(text)
    return results


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="routing-bombs-") as tmp:
        print(json.dumps(run(Path(tmp), Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"), indent=2))
