"""Writes that readers see whole or not at all: a temporary file in the same folder, then a rename;
and whether the process that owns such a temporary still runs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from routing_core.platform.sharing import process_alive, share_file

__all__ = ["atomic_write_bytes", "atomic_write_json", "process_alive"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        share_file(tmp, fd)  # mkstemp's 0600 would lock the folder's group out
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: object) -> None:
    """Write JSON so readers see the old file or the new one, never half of one."""
    atomic_write_bytes(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str).encode())
