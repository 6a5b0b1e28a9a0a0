"""Reading the files the studio keeps in its models and data folders (docs/design.md, 'Reliability and security').

Manifests, metrics, job records, `ACTIVE`, dataset records and statistics are opened only when
they are regular files (a symbolic link, FIFO, device or folder under that name is refused
without reading it), read up to a size limit, parsed with a limit on nesting, and checked
against a schema of field types before any page or command uses them. A file that fails says
why in a `BrokenState` (a `UserError`), so the entry it belongs to is listed as broken and
every other entry keeps working.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

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
    if depth(data) > limit:
        raise BrokenState(f"{where}: {name} nests deeper than {limit} levels (set {MAX_STATE_DEPTH.env} "
                          "to change it).")
    return data


def read_json(path: str | os.PathLike, where: str, schema: Mapping[str, Any] | None = None,
              max_bytes: int | Limit | None = None) -> Any:
    """A state file parsed and, with `schema`, checked to be an object with those field types."""
    path = Path(path)
    data = parse_json(read_bytes(path, where, max_bytes), where, path.name)
    if schema is not None:
        check(data, schema, where, path.name)
    return data


# ---------------------------------------------------------------- schemas
#
# A schema maps a field to `Field(types, required, inner)`: the JSON types it may hold (None for
# null), whether it must be there, and for an object the schema of its fields.

NUMBER = (int, float)
TEXT = (str,)


class Field:
    """A field's JSON types; `low`/`high` bound a number (every number must be finite), `each` gives
    the types of a list's items, `inner` the schema of an object."""

    __slots__ = ("each", "high", "inner", "low", "required", "types")

    def __init__(self, types: tuple, required: bool = False, inner: Mapping[str, Field] | None = None,
                 low: float | None = None, high: float | None = None, each: tuple | None = None) -> None:
        self.types, self.required, self.inner = types, required, inner
        self.low, self.high, self.each = low, high, each


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _wanted(types: tuple) -> str:
    names = []
    for t in types:
        name = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a whole number",
                float: "a number", None: "null"}.get(t, str(t))
        if name not in names:
            names.append(name)
    return " or ".join(names)


def _matches(value: Any, types: tuple) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, float) and float not in types:
        return False
    return any(t is not None and t is not bool and isinstance(value, t) for t in types)


def check(data: Any, schema: Mapping[str, Field], where: str, name: str, prefix: str = "") -> None:
    """BrokenState unless `data` is an object whose fields have the types of `schema`."""
    if not isinstance(data, dict):
        raise BrokenState(f"{where}: {name} holds {_type_name(data)}, not an object{_at(prefix)}.")
    for key, spec in schema.items():
        if key not in data:
            if spec.required:
                raise BrokenState(f"{where}: {name} lacks the field '{prefix}{key}'.")
            continue
        value = data[key]
        if not _matches(value, spec.types):
            raise BrokenState(
                f"{where}: {name} field '{prefix}{key}' holds {_type_name(value)}, expected "
                f"{_wanted(spec.types)}."
            )
        field = f"{prefix}{key}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            _check_number(value, spec, where, name, field)
        if spec.each is not None and isinstance(value, list):
            for i, item in enumerate(value):
                if not _matches(item, spec.each):
                    raise BrokenState(f"{where}: {name} field '{field}' item {i + 1} holds {_type_name(item)}, "
                                      f"expected {_wanted(spec.each)}.")
                if isinstance(item, float) and not math.isfinite(item):
                    raise BrokenState(f"{where}: {name} field '{field}' item {i + 1} is not a finite number.")
        if spec.inner is not None and isinstance(value, dict):
            check(value, spec.inner, where, name, f"{prefix}{key}.")


def _check_number(value: float, spec: Field, where: str, name: str, field: str) -> None:
    """BrokenState for a number that is not finite (NaN, Infinity, 1e999) or outside the field's range."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BrokenState(f"{where}: {name} field '{field}' holds {value!r}, not a finite number.")
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        low = "" if spec.low is None else f"{spec.low:g}"
        high = "" if spec.high is None else f"{spec.high:g}"
        raise BrokenState(f"{where}: {name} field '{field}' holds {value:g}, outside {low}…{high}.")


def _at(prefix: str) -> str:
    return f" at '{prefix.rstrip('.')}'" if prefix else ""
