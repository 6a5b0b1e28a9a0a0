"""Who did what (DESIGN §11): an append-only log of every change, one JSON object a line.

The log is `<data home>/activity.jsonl`. Each change of the core appends one entry — a dataset
stored or deleted, a training submitted, cancelled or finished (completed, failed, cancelled), a
version activated or deleted, the caches cleared — with the time, the user, the action, the
object (a dataset or version name, a job id for a dry run) and the outcome. Entries are written
with one `write` on a file opened for appending, under a lock, so writers on one folder never
interleave; nothing ever rewrites or removes an entry. A line that cannot be parsed (a disk that
filled mid-line) is skipped when reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routing_core.access import User, actor
from routing_core.errors import UserError
from routing_core.sharing import share_file

LOG_FILE = "activity.jsonl"
# What the log says was done.
STORE_DATASET = "store_dataset"
DELETE_DATASET = "delete_dataset"
SUBMIT_TRAINING = "submit_training"
CANCEL_TRAINING = "cancel_training"
FINISH_TRAINING = "finish_training"  # outcome: completed, failed or cancelled
ACTIVATE_VERSION = "activate_version"
DELETE_VERSION = "delete_version"
CLEAR_CACHE = "clear_cache"
ACCEPT_ROUTING = "accept_routing"  # one entry for a batch accepted at once
CORRECT_ROUTING = "correct_routing"
WITHDRAW_ROUTING = "withdraw_routing"
EXPORT_ROUTINGS = "export_routings"  # the insert into a database staging table
LOGGED = (STORE_DATASET, DELETE_DATASET, SUBMIT_TRAINING, CANCEL_TRAINING, FINISH_TRAINING,
          ACTIVATE_VERSION, DELETE_VERSION, CLEAR_CACHE, ACCEPT_ROUTING, CORRECT_ROUTING, WITHDRAW_ROUTING,
          EXPORT_ROUTINGS)
COLUMNS = ["time", "user", "action", "object", "outcome", "details"]
# Entries are read from at most this many bytes at the end of the log (the newest).
READ_TAIL_BYTES = 32 << 20
MAX_DETAIL_CHARS = 500


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder of the log: `root`, else $ROUTING_DATA_HOME, else ./data."""
    if root is not None and str(root):
        return Path(root)
    return Path(os.environ.get("ROUTING_DATA_HOME") or "data")


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_DETAIL_CHARS]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in list(value)[:50]]
    return str(value)[:MAX_DETAIL_CHARS]


def _since_ts(since: Any) -> float | None:
    if since is None:
        return None
    if isinstance(since, int | float):
        return float(since)
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    if hasattr(since, "timestamp"):  # pandas Timestamp
        return float(since.timestamp())
    try:
        when = datetime.fromisoformat(str(since))
    except ValueError:
        raise UserError(f"'{since}' is not a time (use e.g. 2026-11-29 or 2026-11-29T14:00).") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class ActivityLog:
    """The activity log of one data folder."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = data_root(root)
        self.path = self.root / LOG_FILE

    def record(self, user: User | str | None, action: str, obj: str, outcome: str = "ok",
               **details: Any) -> dict:
        """Append one entry; `user` is a User, a name (a job's owner) or None (the local user)."""
        if isinstance(user, str):
            name, role = user, None
        else:
            who = actor(user)
            name, role = who.name, who.role
        now = time.time()
        entry = {
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "ts": now,
            "user": name,
            "role": role,
            "action": str(action),
            "object": str(obj),
            "outcome": str(outcome),
            "details": _plain({k: v for k, v in details.items() if v is not None}),
        }
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            share_file(self.path, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line stays apart
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return entry

    def _read(self) -> list[dict]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > READ_TAIL_BYTES:
                fh.seek(size - READ_TAIL_BYTES)
                fh.readline()  # the partial first line
            raw = fh.read(READ_TAIL_BYTES)
        out = []
        for line in raw.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and isinstance(entry.get("action"), str):
                    out.append(entry)
        return out

    def entries(self, user: str | None = None, action: str | None = None, obj: str | None = None,
                since: Any = None) -> list[dict]:
        """Entries newest first, those of one user, action, object and since a time (epoch seconds,
        datetime or ISO text) when given."""
        cutoff = _since_ts(since)
        rows = [
            e for e in self._read()
            if (user is None or e.get("user") == user)
            and (action is None or e.get("action") == action)
            and (obj is None or e.get("object") == obj)
            and (cutoff is None or float(e.get("ts") or 0) >= cutoff)
        ]
        rows.sort(key=lambda e: float(e.get("ts") or 0), reverse=True)
        return rows

    def frame(self, **filters: Any):
        """The entries (newest first) as a table: time (UTC), user, action, object, outcome, details
        (JSON text)."""
        import pandas as pd

        rows = self.entries(**filters)
        table = pd.DataFrame(
            [[e.get("time"), e.get("user"), e.get("action"), e.get("object"), e.get("outcome"),
              json.dumps(e.get("details") or {}, ensure_ascii=False, sort_keys=True)] for e in rows],
            columns=COLUMNS,
        )
        table["time"] = pd.to_datetime(table["time"], utc=True, format="ISO8601")
        return table
