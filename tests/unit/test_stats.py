"""Statistics on real files and on hand-built tables whose answers are known."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd

from routing_core.datasets import load_dataset
from routing_core.datasets.stats import compute_stats, routing_keys
from tests.conftest import FABRICAD, FABRICAD_MAP, ROOT, TEST_DATA

SMALL = (
    b"item_code,process_code,seq,duration_min,material,work_center\n"
    b"A,SAW,1,2,steel,W1\nA,MILL,2,10,steel,W2\nA,INSPECT,3,1,steel,W3\n"
    b"B,SAW,1,4,,W1\nB,MILL,2,20,steel,W2\nB,INSPECT,3,,steel,W3\n"
    b"C,SAW,1,3,alu,W1\nC,LATHE,2,30,alu,W4\n"
)


def test_small_table_by_hand():
    s = compute_stats(load_dataset(io.BytesIO(SMALL)))
    assert s["total_samples"] == 8
    assert s["unique_items"] == 3
    assert s["unique_processes"] == 4
    assert s["distinct_routings"] == 2
    # material is an item attribute: B has it on two of its rows, so no item lacks it
    assert s["missing_rate"]["material"] == 0.0
    assert s["missing_duration_min"] == 1 / 8
    assert s["missing_item_code"] == 0.0
    assert s["routing_length"]["distribution"] == {"2": 1, "3": 2}
    assert s["process_frequency"] == {"SAW": 3, "MILL": 2, "INSPECT": 2, "LATHE": 1}
    assert s["transitions"][0] == {"from": "SAW", "to": "MILL", "count": 2}
    assert {"from": "SAW", "to": "LATHE", "count": 1} in s["transitions"]
    assert s["duration_by_process"]["MILL"]["mean"] == 15.0
    assert s["routing_duration_min"]["max"] == 33.0
    assert s["item_attributes"] == ["material"]
    assert s["operation_attributes"] == ["work_center"]
    assert not any(a.startswith("material") for a in s["alerts"])
    json.dumps(s)  # plain JSON values only


def test_routing_keys_distinguish_order_and_length():
    items = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3])
    procs = np.array([0, 1, 1, 0, 0, 1, 1, 0, 1])
    keys = routing_keys(items, procs)
    assert keys[0] == keys[3]
    assert len({keys[0], keys[1], keys[2]}) == 3


def test_fabricad_stats_by_cli():
    args = [sys.executable, "-m", "routing_core", "stats", str(FABRICAD)]
    for src, dst in FABRICAD_MAP.items():
        args += ["--map", f"{src}={dst}"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=True)
    stats = json.loads(out.stdout)
    assert stats["unique_items"] == 25
    raw = pd.read_csv(FABRICAD, sep=";", nrows=1)
    assert set(stats["missing_rate"]) == {"item_code", "process_code", "seq", "duration_min"} | (
        set(raw.columns) - set(FABRICAD_MAP)
    )


def test_cli_bad_input_is_one_line_exit_2():
    for path in ["bad_random_bytes.bin", "bad_text_duration.csv", "does-not-exist.csv"]:
        out = subprocess.run(
            [sys.executable, "-m", "routing_core", "stats", str(TEST_DATA / path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
        assert "Traceback" not in out.stderr
        assert out.stdout == ""


def test_item_attribute_missing_rate_counts_items_not_rows():
    data = (b"item_code,process_code,seq,material\n"
            b"A,SAW,1,steel\nA,MILL,2,\nA,INSPECT,3,\n"  # A has its material on one row
            b"B,SAW,1,\nB,MILL,2,\n"  # B has none
            b"C,SAW,1,alu\nD,SAW,1,alu\n")
    s = compute_stats(load_dataset(io.BytesIO(data)))
    assert s["item_attributes"] == ["material"]
    assert s["missing_rate"]["material"] == 1 / 4  # one item of four, not 4 rows of 7
    assert "material: 25.0 % of items missing" in s["alerts"]
