"""Where a figure comes from: the commit the benchmarks ran at and a hash of the model code.

A benchmark document carries both, so a reader (and a unit test) can tell whether its figures
were produced by the model code in the working tree. The hash covers `routing_core/model/*.py`
only: a change to the dashboard or the documents leaves it as it is; a change to the model
changes it and calls for a fresh accuracy run (docs/design.md, 'Figures and their provenance').
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parents[1] / "model"


def model_code_hash(model_dir: Path | str = MODEL_DIR) -> str:
    """SHA-256 (hex) of the model package's sources: each `*.py` file's name and content, in
    sorted name order, line endings as LF (a Windows checkout hashes the same)."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.py"), key=lambda p: p.name):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def code_commit(root: Path | str | None = None) -> dict:
    """{'commit': the checked-out commit (None outside a git checkout), 'uncommitted': whether
    the code (routing_core/, benchmarks/) differs from it}: figures from uncommitted code say so."""
    root = Path(root) if root is not None else MODEL_DIR.parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--", "routing_core", "benchmarks") if commit else None
    return {"commit": commit, "uncommitted": bool(changes)}


def stamp(root: Path | str | None = None) -> dict:
    """The provenance a benchmark document records: commit, uncommitted flag, model-code hash."""
    return {**code_commit(root), "model_code_hash": model_code_hash()}


def stamp_line(info: dict) -> str:
    """The provenance in words, for a markdown report."""
    commit = info.get("commit") or "unknown"
    dirty = " with uncommitted changes" if info.get("uncommitted") else ""
    return f"Produced at commit `{commit}`{dirty}; model code (`routing_core/model/*.py`) SHA-256 `{info['model_code_hash']}`."
