"""Memory bounded by what a file decodes to (docs/reliability.md, "Bounded reads, records, exports,
encodings"): Parquet admitted by its metadata, CSV by a count before the parse, stored datasets read
under the same limits, devices and FIFOs refused. The bombs are made in tmp at test time; each read
runs in a fresh process whose own peak memory (VmHWM) is measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from benchmarks.bombs import long_csv, row_groups, unique_strings
from routing_core.datasets import DatasetStore, load_dataset
from routing_core.platform.errors import UserError
from routing_core.platform.statefile import BrokenState
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.conftest import ADMIN, ROOT

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])


def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


from routing_core.datasets import DatasetStore, load_dataset
from routing_core.platform.errors import UserError
before = peak_mb()
start = time.perf_counter()
try:
    if sys.argv[2] == "stored":
        DatasetStore(sys.argv[3]).load(sys.argv[4])
    else:
        load_dataset(sys.argv[3])
    said = "READ"
except UserError as exc:
    said = str(exc)
print(json.dumps({"sec": time.perf_counter() - start, "said": said, "added_mb": peak_mb() - before,
                  "peak_mb": peak_mb()}))
"""


def probe(*args: str, env: dict | None = None) -> dict:
    """Read in a fresh process: what it said, how long it took, how much its peak memory grew."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), *args], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_unique_strings_stored_without_a_dictionary_are_refused_from_the_metadata(tmp_path):
    # 100,000 distinct 1 KB codes: 0.2 MB on disk, 100 MB once decoded, the limit set to 32 MB
    path = unique_strings(tmp_path / "strings.parquet", rows=100_000)
    assert path.stat().st_size < 1_000_000
    got = probe("file", str(path), env={"ROUTING_MAX_DECODED_BYTES": str(32 << 20)})
    assert "bytes once decoded" in got["said"] and "ROUTING_MAX_DECODED_BYTES" in got["said"], got
    assert got["sec"] < 2, got
    assert got["added_mb"] < 50, got  # decoding it would take 100 MB at least


def test_a_file_of_more_row_groups_than_the_limit_is_refused_before_any_is_read(tmp_path):
    path = row_groups(tmp_path / "groups.parquet", 10_001)
    got = probe("file", str(path))
    assert got["said"].startswith("groups.parquet has 10,001 row groups; the limit is 10,000"), got
    assert "ROUTING_MAX_ROW_GROUPS" in got["said"], got
    assert got["sec"] < 2, got


def test_parquet_metadata_longer_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    path = row_groups(tmp_path / "groups.parquet", 3_000)  # a footer of about 0.7 MB
    got = probe("file", str(path), env={"ROUTING_MAX_PARQUET_METADATA": str(256 << 10)})
    assert "bytes of metadata" in got["said"] and "ROUTING_MAX_PARQUET_METADATA" in got["said"], got


def test_a_csv_over_the_row_limit_is_refused_by_a_count_before_the_whole_parse(tmp_path):
    # 3,000,000 rows of 12 columns against a limit of 500,000 rows: parsed whole it takes
    # hundreds of MB; the streaming count stops soon after the limit
    path = long_csv(tmp_path / "long.csv", rows=3_000_000, columns=12)
    got = probe("file", str(path), env={"ROUTING_MAX_ROWS": "500000"})
    assert "rows" in got["said"] and "the limit is 500,000" in got["said"], got
    assert got["added_mb"] < 120, got
    assert got["sec"] < 5, got


def test_a_csv_over_the_cell_limit_is_refused_by_the_count_too(tmp_path):
    path = long_csv(tmp_path / "long.csv", rows=1_000_000, columns=12)
    got = probe("file", str(path), env={"ROUTING_MAX_CELLS": "3000000"})
    assert "cells" in got["said"] and "ROUTING_MAX_CELLS" in got["said"], got
    assert got["added_mb"] < 120, got


def test_a_csv_with_quoted_line_breaks_under_the_limit_is_still_read(tmp_path, monkeypatch):
    # 30 rows whose notes hold 4 line breaks each: 150 lines, 30 rows, the limit 100 rows
    monkeypatch.setenv("ROUTING_MAX_ROWS", "100")
    rows = "".join(f'I{i},SAW,{i % 3 + 1},"a\nb\nc\nd\ne"\n' for i in range(30))
    path = tmp_path / "notes.csv"
    path.write_text("item_code,process_code,seq,note\n" + rows)
    assert load_dataset(path).ops.shape[0] == 30
    assert load_dataset(path.read_bytes(), name="notes.csv").ops.shape[0] == 30


def test_the_stats_command_refuses_a_device_at_once():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "routing_core", "stats", "/dev/zero"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "error: /dev/zero is a device, not a file; only regular files are read."
    assert time.perf_counter() - start < 20


def test_a_fifo_given_as_a_file_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "routings.csv"
    os.mkfifo(fifo)
    try:
        out = subprocess.run([sys.executable, "-m", "routing_core", "stats", str(fifo)], capture_output=True,
                             text=True, timeout=30, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the stats command waited for the FIFO")
    assert out.returncode == 2 and "is a FIFO (named pipe), not a file" in out.stderr, out.stderr


def test_a_stored_dataset_whose_ops_became_a_bomb_is_broken_not_read(tmp_path, monkeypatch):
    store = DatasetStore(tmp_path / "data")
    store.save("kept", load_dataset(sample_csv_bytes(SampleConfig(n_items=20)), name="s.csv"), user=ADMIN)
    store.save("swapped", load_dataset(sample_csv_bytes(SampleConfig(n_items=30)), name="t.csv"), user=ADMIN)
    ops = tmp_path / "data" / "datasets" / "swapped" / "ops.parquet"
    unique_strings(ops, rows=100_000)
    got = probe("stored", str(tmp_path / "data"), "swapped", env={"ROUTING_MAX_DECODED_BYTES": str(32 << 20)})
    assert got["said"].startswith("Dataset 'swapped': ops.parquet has"), got
    assert "bytes once decoded" in got["said"] and got["added_mb"] < 50, got
    monkeypatch.setenv("ROUTING_MAX_DECODED_BYTES", str(32 << 20))
    with pytest.raises(BrokenState, match="bytes once decoded"):
        DatasetStore(tmp_path / "data").load("swapped")
    assert DatasetStore(tmp_path / "data").load("kept").n_items == 20


def test_a_stored_dataset_without_its_code_columns_is_broken(tmp_path):
    store = DatasetStore(tmp_path / "data")
    store.save("d", load_dataset(sample_csv_bytes(SampleConfig(n_items=20)), name="s.csv"), user=ADMIN)
    ops = tmp_path / "data" / "datasets" / "d" / "ops.parquet"
    frame = DatasetStore(tmp_path / "data").load("d").ops.drop(columns=["process_code"])
    frame.to_parquet(ops, index=False)
    with pytest.raises(UserError, match="ops.parquet lacks the column"):
        store.load("d")


def test_a_symlinked_ops_file_is_not_followed(tmp_path):
    store = DatasetStore(tmp_path / "data")
    store.save("d", load_dataset(sample_csv_bytes(SampleConfig(n_items=20)), name="s.csv"), user=ADMIN)
    ops = tmp_path / "data" / "datasets" / "d" / "ops.parquet"
    shutil.move(ops, tmp_path / "elsewhere.parquet")
    ops.symlink_to(tmp_path / "elsewhere.parquet")
    with pytest.raises(BrokenState, match="symbolic link"):
        store.load("d")
