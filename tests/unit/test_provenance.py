"""Figures that match the code: the model-code hash, and the benchmark documents stamped with it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from routing_core.scoring.provenance import code_commit, model_code_hash, stamp_line

ROOT = Path(__file__).resolve().parents[2]


def test_model_code_hash_is_sha256_of_sorted_names_and_contents(tmp_path):
    (tmp_path / "b.py").write_bytes(b"B = 2\n")
    (tmp_path / "a.py").write_bytes(b"A = 1\r\n")  # CRLF hashes as LF
    (tmp_path / "notes.txt").write_bytes(b"not code")  # only *.py counts
    expected = hashlib.sha256(b"a.py\0A = 1\n\0" + b"b.py\0B = 2\n\0").hexdigest()
    assert model_code_hash(tmp_path) == expected

    (tmp_path / "b.py").write_bytes(b"B = 3\n")
    assert model_code_hash(tmp_path) != expected


def test_a_renamed_file_changes_the_hash(tmp_path):
    (tmp_path / "a.py").write_bytes(b"X = 1\n")
    before = model_code_hash(tmp_path)
    (tmp_path / "a.py").rename(tmp_path / "c.py")
    assert model_code_hash(tmp_path) != before


def test_code_commit_names_the_checked_out_commit():
    git = shutil.which("git")
    if git is None:
        pytest.skip("no git")
    head = subprocess.run([git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    info = code_commit(ROOT)
    assert info["commit"] == head.stdout.strip()
    assert isinstance(info["uncommitted"], bool)


def test_stamp_line_states_commit_and_hash():
    line = stamp_line({"commit": "abc123", "uncommitted": True, "model_code_hash": "f00"})
    assert "`abc123` with uncommitted changes" in line and "`f00`" in line


def test_the_accuracy_report_was_produced_by_this_model_code():
    """docs/accuracy.json carries the model-code hash it was produced with: a change to
    routing_core/model/ comes with a fresh `python benchmarks/accuracy.py`."""
    report = json.loads((ROOT / "docs" / "accuracy.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[0-9a-f]{40}", report.get("commit") or ""), "the report names no commit"
    assert report.get("model_code_hash") == model_code_hash(), (
        "docs/accuracy.json was produced by other model code than the working tree's: run "
        "`.venv/bin/python benchmarks/accuracy.py` and commit docs/accuracy.json and docs/benchmarks.md")
    # the markdown report states the same provenance
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    accuracy = text.split("<!-- accuracy:start -->", 1)[1].split("<!-- accuracy:end -->", 1)[0]
    assert f"`{report['commit']}`" in accuracy and f"`{report['model_code_hash']}`" in accuracy
