"""Who did what (docs/design.md, 'Reliability and security'): an append-only log of every change, one JSON object a line.

The log is `<data home>/activity.jsonl`. Each change of the core appends one entry — a dataset
stored or deleted, a training submitted, cancelled or finished (completed, failed, cancelled), a
version activated or deleted, the caches cleared — with the time, the user, the action, the
object (a dataset or version name, a job id for a dry run) and the outcome. Entries are written
with one `write` on a file opened for appending, under a lock, so writers on one folder never
interleave; nothing ever rewrites or removes an entry. A line that cannot be parsed (a disk that
filled mid-line) is skipped when reading.

A change and its entry are one: a change first checks that the log can be written
(`check_writable`), and when the entry then cannot be written (a disk that filled meanwhile) the
change is undone and `LogError` says so; an entry needs a named user (a User, or a job owner's
name), never None.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from routing_core.platform.errors import UserError
from routing_core.platform.settings import setting
from routing_core.platform.sharing import share_file
from routing_core.platform.statefile import StateRecord, Text, number, problem
from routing_core.users.access import NO_USER, User

LOG_FILE = "activity.jsonl"
# What the log says was done.
STORE_DATASET = "store_dataset"
DELETE_DATASET = "delete_dataset"
SUBMIT_TRAINING = "submit_training"
CANCEL_TRAINING = "cancel_training"
FINISH_TRAINING = "finish_training"  # outcome: completed, failed or cancelled
PUBLISH_VERSION = "publish_version"
ACTIVATE_VERSION = "activate_version"
DELETE_VERSION = "delete_version"
CLEAR_CACHE = "clear_cache"
ACCEPT_ROUTING = "accept_routing"  # one entry for a batch accepted at once
CORRECT_ROUTING = "correct_routing"
WITHDRAW_ROUTING = "withdraw_routing"
EXPORT_ROUTINGS = "export_routings"  # the insert into a database staging table
LOGGED = (STORE_DATASET, DELETE_DATASET, SUBMIT_TRAINING, CANCEL_TRAINING, FINISH_TRAINING,
          PUBLISH_VERSION, ACTIVATE_VERSION, DELETE_VERSION, CLEAR_CACHE, ACCEPT_ROUTING, CORRECT_ROUTING,
          WITHDRAW_ROUTING, EXPORT_ROUTINGS)
COLUMNS = ["time", "user", "action", "object", "outcome", "details"]
# Entries are read from at most this many bytes at the end of the log (the newest).
READ_TAIL_BYTES = 32 << 20
MAX_DETAIL_CHARS = 500


class LogError(UserError):
    """The activity log cannot be written: the change it would record is not made (or undone)."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder of the log: `root`, else $ROUTING_DATA_HOME, else ./data."""
    if root is not None and str(root):
        return Path(root)
    return setting("data_home")


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

    def _open(self) -> int:
        """The log opened for appending (never through a link, never blocking on a FIFO); LogError when
        it cannot be, or is not a regular file."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o666)
        except OSError as exc:
            raise self._refused(exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LogError(f"The activity log {self.path} is not a regular file, so nothing was changed: "
                           "every change is recorded with who made it. Put the file back.")
        return fd

    def _refused(self, exc: OSError) -> LogError:
        why = exc.strerror or type(exc).__name__
        return LogError(f"The activity log {self.path} cannot be written ({why}), so nothing was changed: "
                        "every change is recorded with who made it. Free space on that disk or fix the file.")

    def check_writable(self) -> None:
        """LogError unless an entry could be appended now (called before a change is made)."""
        os.close(self._open())

    def record(self, user: User | str, action: str, obj: str, outcome: str = "ok", **details: Any) -> dict:
        """Append one entry; `user` is a User or a name (a job's owner), never None. LogError when the
        entry cannot be written whole (nothing of it stays in the log)."""
        if isinstance(user, str) and user.strip():
            name, role = user, None
        elif isinstance(user, User):
            name, role = user.name, user.role
        else:
            raise UserError(NO_USER)
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
        fd = self._open()
        try:
            share_file(self.path, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line stays apart
                    line = b"\n" + line
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(28, "No space left on device (the entry was cut short)")
                    os.fsync(fd)
                except OSError as exc:
                    with contextlib.suppress(OSError):  # no torn entry stays behind
                        os.ftruncate(fd, size)
                    raise self._refused(exc) from None
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise self._refused(exc) from None
        finally:
            os.close(fd)
        return entry

    def _read(self) -> list[dict]:
        """The entries of the log's tail; a line that is not a whole entry, or a log that cannot be read
        (a link, FIFO or folder under its name: opened without blocking, never followed), becomes one
        row whose outcome says "unreadable: why"."""
        from routing_core.platform.statefile import BrokenState, open_regular

        try:
            with open_regular(self.path, "The activity log") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > READ_TAIL_BYTES:
                    fh.seek(size - READ_TAIL_BYTES)
                    fh.readline()  # the partial first line
                raw = fh.read(READ_TAIL_BYTES)
        except FileNotFoundError:
            return []
        except (BrokenState, OSError) as exc:
            return [_unreadable(str(exc) if isinstance(exc, BrokenState) else f"cannot be read ({exc})")]
        out = []
        for line_no, line in enumerate(raw.splitlines(), 1):
            why = _why_not_an_entry(line) if line.strip() else "blank"
            if why in ("blank", "not JSON"):
                continue  # a line torn by a full disk, or no entry at all
            out.append(_unreadable(f"line {line_no}: {why}") if why else json.loads(line))
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
        table["time"] = pd.to_datetime(table["time"], utc=True, format="ISO8601", errors="coerce")
        return table


def _a_time(text: str | None) -> str | None:
    if text is not None:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("not a time") from None
    return text


class ActivityEntry(StateRecord):
    """One line of the log as the pages read it."""

    ts: number(low=0) = 0
    action: Text
    time: Annotated[Text | None, AfterValidator(_a_time)] = None
    user: Text | None = None
    object: Text | None = None
    outcome: Text | None = None
    details: dict | None = None


def _why_not_an_entry(line: bytes) -> str:
    """Why a line of the log is not an entry the pages can show ("" when it is one)."""
    def constant(name: str) -> float:
        raise ValueError(f"holds {name}")

    try:
        entry = json.loads(line, parse_constant=constant)
    except ValueError as exc:
        return str(exc) if str(exc).startswith("holds") else "not JSON"
    return problem(entry, ActivityEntry)


def _unreadable(why: str) -> dict:
    return {"ts": 0, "time": None, "user": None, "action": "unreadable", "object": None,
            "outcome": f"unreadable: {why}", "details": {}}
