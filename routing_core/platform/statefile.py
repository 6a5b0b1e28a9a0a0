"""Reading the files the studio keeps in its models and data folders (docs/design.md, 'Reliability and security').

Manifests, metrics, job records, `ACTIVE`, dataset records and statistics are opened only when
they are regular files (a symbolic link, FIFO, device or folder under that name is refused
without reading it), read up to a size limit, parsed with a limit on nesting, and checked
against a record (a pydantic model of the fields read: `StateRecord`) before any page or command
uses them: engine.records.JobRecord, versions.manifest.Manifest and Metrics, datasets.store.RecordFile
and StatsFile, users.activity.ActivityEntry. A file that fails says
why in a `BrokenState` (a `UserError`), so the entry it belongs to is listed as broken and
every other entry keeps working.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import UnionType
from typing import IO, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_STATE_BYTES, MAX_STATE_DEPTH, Limit

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class BrokenState(UserError):
    """A state file that cannot be used; the message says which and why."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike, where: str) -> IO[bytes]:
    """`path` opened for reading if it is a regular file (not a link, FIFO, device or folder).

    FileNotFoundError when there is nothing under that name; BrokenState for anything else.
    """
    path = Path(path)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os.path.islink(path):
            raise BrokenState(f"{where}: {path.name} is a symbolic link; it is not followed.") from None
        raise BrokenState(f"{where}: {path.name} cannot be opened ({exc.strerror or exc}).") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise BrokenState(f"{where}: {path.name} is {_kind(mode)}, not a file; it is not read.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, where: str, max_bytes: int | Limit | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (default: the state-file limit)."""
    with open_regular(path, where) as fh:
        return read_limited(fh, where, Path(path).name, max_bytes)


def read_limited(fh: IO[bytes], where: str, name: str, max_bytes: int | Limit | None = None) -> bytes:
    """The rest of an open file, refused if it holds more than `max_bytes` (a number of bytes or a
    Limit; default: the state-file limit)."""
    named = max_bytes if isinstance(max_bytes, Limit) else MAX_STATE_BYTES
    limit = named.value if max_bytes is None or isinstance(max_bytes, Limit) else max_bytes
    size = os.fstat(fh.fileno()).st_size
    if size > limit:
        raise BrokenState(
            f"{where}: {name} has {size:,} bytes, more than the {limit:,} it may have; it is skipped "
            f"(set {named.env} to change it)."
        )
    data = fh.read(limit + 1)
    if len(data) > limit:  # grew while read
        raise BrokenState(f"{where}: {name} is larger than {limit:,} bytes.")
    return data


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_json(raw: bytes, where: str, name: str) -> Any:
    """JSON from bytes, UTF-8 and nested at most MAX_STATE_DEPTH levels (BrokenState otherwise)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BrokenState(f"{where}: {name} is not UTF-8 text (byte {exc.start}).") from None
    limit = MAX_STATE_DEPTH.value
    try:
        data = json.loads(text)
    except RecursionError:
        raise BrokenState(f"{where}: {name} nests deeper than {limit} levels.") from None
    except json.JSONDecodeError as exc:
        raise BrokenState(f"{where}: {name} is not valid JSON ({exc}).") from None
    except ValueError:  # a number of more digits than Python converts (4,300)
        raise BrokenState(f"{where}: {name} holds a number too long to read.") from None
    if depth(data) > limit:
        raise BrokenState(f"{where}: {name} nests deeper than {limit} levels (set {MAX_STATE_DEPTH.env} "
                          "to change it).")
    return data


def read_json(path: str | os.PathLike, where: str, record: type[StateRecord] | None = None,
              max_bytes: int | Limit | None = None) -> Any:
    """A state file parsed and, with `record`, checked to hold an object that record accepts."""
    path = Path(path)
    data = parse_json(read_bytes(path, where, max_bytes), where, path.name)
    if record is not None:
        check(data, record, where, path.name)
    return data


# ---------------------------------------------------------------- records
#
# A record is a pydantic model of the fields the studio reads (StateRecord): each field typed as
# JSON holds it, numbers finite and within their range, objects as nested records. Fields it does
# not name are kept as written. `check` validates parsed JSON against one and says what is wrong
# in one sentence naming the field.

Text = StrictStr
Count = Annotated[StrictInt, Field(ge=0)]
Flag = StrictBool


def number(low: float | None = None, high: float | None = None) -> Any:
    """A finite JSON number (whole or not, never true/false) within [low, high]."""
    return Annotated[float, Field(ge=low, le=high)]


class StateRecord(BaseModel):
    """The fields of a state file the studio reads; every other field is kept as written."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)


def check(data: Any, record: type[StateRecord], where: str, name: str) -> Any:
    """`data` unchanged if it is an object whose fields `record` accepts; BrokenState naming the first
    field that is not."""
    why = problem(data, record)
    if why:
        raise BrokenState(f"{where}: {name} {why}.")
    return data


def problem(data: Any, record: type[StateRecord]) -> str:
    """What is wrong with `data` as a `record`, naming the field ("" when nothing is)."""
    try:
        record.model_validate(data)
    except ValidationError as exc:
        return _problem(exc.errors()[0], record)
    return ""


def _problem(error: dict, record: type[StateRecord]) -> str:
    """One validation error in words: which field (a dotted path), what it holds, what it may hold."""
    path, item, annotation, meta = [], None, record, []
    for step in error["loc"]:
        model = _record_in(annotation)
        named = {f.alias or n: f for n, f in model.model_fields.items()} if model is not None else {}
        if isinstance(step, int):
            item, annotation = step + 1, _member(annotation, list)
        elif step in named:
            path.append(step)
            annotation, meta = named[step].annotation, named[step].metadata
        elif _member(annotation, dict) is not None:  # a key of a mapping
            path.append(str(step)[:40])
            annotation = _member(annotation, dict)
    field = f"field '{'.'.join(path)}'" + (f" item {item}" if item else "")
    value, kind = error.get("input"), error["type"]
    if kind == "missing":
        return f"lacks the field '{'.'.join(path)}'"
    if not path and item is None:
        return f"holds {_type_name(value)}, not an object"
    if kind == "finite_number" or (kind == "float_type" and isinstance(value, int) and not isinstance(value, bool)):
        return f"{field} holds {_shown(value)}, not a finite number"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(Annotated[(annotation, *meta)] if meta else annotation)
        return f"{field} holds {_shown(value)}, outside {_shown(low, '')}…{_shown(high, '')}"
    if kind.endswith("_type") or kind == "none_required":
        return f"{field} holds {_type_name(value)}, expected {_wanted(annotation)}"
    if kind == "value_error":  # a validator's ValueError: its text says what the value is not
        return f"{field} holds {_shown(value)}, {str(error.get('ctx', {}).get('error', 'not valid'))[:80]}"
    if kind == "too_short":
        return f"{field} holds {_shown(value)}, fewer than {error['ctx']['min_length']} entries"
    return f"{field} holds {_shown(value)}, which is not valid here"


def _shown(value: Any, none: str = "null") -> str:
    """A value as a message quotes it: numbers as written (a huge whole number by its first digits),
    anything else cut to 40 characters."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            digits = str(abs(value))
        except ValueError:  # more digits than Python writes out
            return "a number of more than 4,300 digits"
        return f"{value:g}" if len(digits) <= 15 else f"{'-' if value < 0 else ''}{digits[:6]}… ({len(digits):,} digits)"
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _members(annotation: Any) -> list[Any]:
    """The types a field may hold, Annotated and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _record_in(annotation: Any) -> type[StateRecord] | None:
    return next((m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)), None)


def _member(annotation: Any, container: type) -> Any:
    """The item type of the list (or the value type of the dict) a field may hold, if it may hold one."""
    for m in _members(annotation):
        if m is container or get_origin(m) is container:
            args = get_args(m)
            return args[-1] if args else Any
    return None


def _bounds(annotation: Any) -> tuple[float | None, float | None]:
    low = high = None
    stack = [annotation]
    while stack:
        a = stack.pop()
        if get_origin(a) is Annotated:
            for meta in get_args(a)[1:]:
                for m in getattr(meta, "metadata", [meta]):
                    low = getattr(m, "ge", low)
                    high = getattr(m, "le", high)
            stack.append(get_args(a)[0])
        elif get_origin(a) in (Union, UnionType):
            stack.extend(get_args(a))
    return low, high


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _wanted(annotation: Any) -> str:
    names = []
    for m in _members(annotation):
        base = get_origin(m) or m
        name = ("an object" if base is dict or (isinstance(base, type) and issubclass(base, BaseModel)) else
                {list: "a list", str: "text", bool: "true/false", int: "a whole number", float: "a number",
                 type(None): "null"}.get(base, "a value"))
        if name not in names:
            names.append(name)
    return " or ".join(names)
