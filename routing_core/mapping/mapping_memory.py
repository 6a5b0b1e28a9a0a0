"""Mappings remembered by header: the next file with the same set of column names opens with the
mapping a person confirmed for it. One JSON file in the data home (`mappings.json`), written
atomically under a lock; a damaged file is set aside by being ignored (nothing is remembered),
never a reason to refuse a file."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from routing_core.mapping.schema import IGNORE, TARGETS
from routing_core.platform.atomic import atomic_write_json
from routing_core.platform.statefile import BrokenState, read_json

FILE = "mappings.json"
LOCK = ".mappings.lock"
# The newest this many header sets are kept.
MAX_ENTRIES = 500


def header_key(columns: Iterable[object]) -> str:
    """The same for the same set of column names, whatever their order."""
    names = sorted({str(c) for c in columns})
    return hashlib.sha256(json.dumps(names, ensure_ascii=False).encode()).hexdigest()


def _path(home: str | os.PathLike) -> Path:
    return Path(home) / FILE


def _entries(home: str | os.PathLike) -> dict:
    try:
        data = read_json(_path(home), "Remembered mappings")
    except (FileNotFoundError, BrokenState, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def _valid(columns: list[str], mapping: object) -> dict[str, str] | None:
    """A remembered mapping that names only these columns and known targets, else None."""
    if not isinstance(mapping, dict):
        return None
    out = {}
    for source, target in mapping.items():
        if not isinstance(source, str) or source not in columns or target not in (*TARGETS, IGNORE):
            return None
        out[source] = target
    return out


def recall(home: str | os.PathLike, columns: Iterable[object]) -> tuple[dict[str, str], str] | None:
    """(mapping, when it was confirmed) for this set of headers, or None."""
    columns = [str(c) for c in columns]
    entry = _entries(home).get(header_key(columns))
    if not isinstance(entry, dict):
        return None
    mapping = _valid(columns, entry.get("mapping"))
    if mapping is None:
        return None
    return mapping, str(entry.get("saved_at", ""))


def remember(home: str | os.PathLike, columns: Iterable[object], mapping: Mapping[str, str]) -> None:
    """Keep `mapping` (source -> target or "-") for this set of headers."""
    columns = [str(c) for c in columns]
    clean = _valid(columns, dict(mapping))
    if clean is None:
        return
    folder = Path(home)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _entries(folder)
        entries[header_key(columns)] = {
            "columns": sorted(columns), "mapping": clean,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if len(entries) > MAX_ENTRIES:
            newest = sorted(entries.items(), key=lambda kv: str(kv[1].get("saved_at", "")), reverse=True)
            entries = dict(newest[:MAX_ENTRIES])
        atomic_write_json(_path(folder), entries)


def for_version(columns: Iterable[object], recorded: Mapping[str, str] | None,
                needed: Iterable[str]) -> dict[str, str] | None:
    """The mapping a version was trained with (`recorded`: source -> target, from its manifest),
    as an explicit mapping for a file with these `columns`, when the file has the recorded source
    column of every `needed` target (item_code; item_code and process_code for a labelled file).
    None when it has not: the file is read by its own names."""
    from routing_core.mapping.content import canonical, explicit_form

    columns = [str(c) for c in columns]
    if not isinstance(recorded, Mapping):
        return None
    present = {s: t for s, t in recorded.items() if isinstance(s, str) and s in columns and t in TARGETS}
    roles = {canonical(t) for t in present.values()}
    if not set(needed) <= roles:
        return None
    return explicit_form(columns, present)
