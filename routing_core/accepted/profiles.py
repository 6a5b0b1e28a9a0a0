"""Output profiles: how accepted routings become the rows an ERP takes.

A profile names the ERP's columns in order, each filled from a field of the accepted routing or
with a constant, numbers the operations in the plant's step (10, 20 …), gives times in the
plant's unit, and says how a CSV is written (delimiter, encoding). Profiles are JSON files in
`<data home>/profiles/`, one per name:

```json
{"name": "sap", "op_start": 10, "op_step": 10, "time_unit": "min", "time_decimals": 3,
 "delimiter": ";", "encoding": "utf-8-sig",
 "columns": [{"column": "MATNR", "field": "item_code"}, {"column": "VORNR", "field": "operation"},
             {"column": "ARBPL", "field": "work_center"}, {"column": "STEUS", "constant": "PP01"},
             {"column": "VGW01", "field": "time"}, {"column": "VGE01", "field": "time_unit"}]}
```

Fields: `item_code`, `operation` (the numbered operation), `seq` (1, 2 …), `process_code`,
`time`, `time_unit`, `version`, `candidate_rank`, `accepted_by`, `accepted_at`, `revision`, and
any other name: the step's operation attribute of that name, else the item's attribute (blank
when the routing has neither).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import pandas as pd

from routing_core.platform.atomic import atomic_write_json
from routing_core.platform.errors import UserError
from routing_core.platform.names import check_name
from routing_core.platform.sharing import share_dir
from routing_core.platform.statefile import BrokenState, read_json
from routing_core.users.access import User, require
from routing_core.users.activity import data_root

FOLDER = "profiles"
UNITS = {"min": 1.0, "h": 60.0, "s": 1.0 / 60.0}  # minutes in one unit
FIXED = ("item_code", "operation", "seq", "process_code", "time", "time_unit", "version", "candidate_rank",
         "accepted_by", "accepted_at", "revision")
DELIMITERS = (",", ";", "\t", "|")
MAX_COLUMNS = 200
MAX_PROFILE_BYTES = 1 << 20


@dataclass
class Column:
    """One ERP column: filled from `field`, or with `constant` when a field is not given."""

    column: str
    field: str | None = None
    constant: object = None


@dataclass
class Profile:
    name: str
    columns: list[Column]
    op_start: int = 10
    op_step: int = 10
    time_unit: str = "min"
    time_decimals: int = 3
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "profile name")
        self.columns = [c if isinstance(c, Column) else _column(c, self.name) for c in self.columns]
        where = f"Profile '{self.name}'"
        if not self.columns:
            raise UserError(f"{where} has no columns.")
        if len(self.columns) > MAX_COLUMNS:
            raise UserError(f"{where} has {len(self.columns)} columns, more than {MAX_COLUMNS}.")
        names = [c.column for c in self.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserError(f"{where} names column(s) {', '.join(twice)} more than once.")
        for key in ("op_start", "op_step", "time_decimals"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
                raise UserError(f"{where}: {key} must be a whole number from 0 to 100,000 (got {value!r}).")
        if self.op_step < 1:
            raise UserError(f"{where}: op_step must be 1 or more.")
        if self.time_decimals > 9:
            raise UserError(f"{where}: time_decimals must be at most 9.")
        if self.time_unit not in UNITS:
            raise UserError(f"{where}: the time unit must be one of {', '.join(UNITS)} (got {self.time_unit!r}).")
        if self.delimiter not in DELIMITERS:
            raise UserError(f"{where}: the delimiter must be one of , ; tab | (got {self.delimiter!r}).")
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            raise UserError(f"{where}: {self.encoding!r} is not an encoding Python knows.") from None

    def to_json(self) -> dict:
        return asdict(self)


def _column(data: object, profile: str) -> Column:
    where = f"Profile '{profile}'"
    if not isinstance(data, Mapping) or not isinstance(data.get("column"), str) or not data["column"].strip():
        raise UserError(f"{where}: each column needs a name ('column').")
    name = data["column"].strip()[:128]
    source = data.get("field")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise UserError(f"{where}: column {name}'s field must be a name.")
    constant = data.get("constant")
    if source is None and constant is None:
        raise UserError(f"{where}: column {name} needs a field or a constant.")
    if constant is not None and not isinstance(constant, str | int | float) or isinstance(constant, bool):
        raise UserError(f"{where}: column {name}'s constant must be text or a number.")
    return Column(name, source.strip() if source else None, constant)


def profile_from_json(data: object, where: str = "The profile") -> Profile:
    if not isinstance(data, Mapping):
        raise UserError(f"{where} is not a set of settings.")
    known = {"name", "columns", "op_start", "op_step", "time_unit", "time_decimals", "delimiter", "encoding",
             "description"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {', '.join(map(str, unknown))[:200]}.")
    if not isinstance(data.get("columns"), list):
        raise UserError(f"{where} needs a list of columns.")
    try:
        return Profile(**dict(data))
    except TypeError as exc:
        raise UserError(f"{where}: {exc}.") from None


SAP_EXAMPLE = {
    "name": "sap-routing", "description": "SAP routing operations (PLPO-like columns), times in minutes",
    "op_start": 10, "op_step": 10, "time_unit": "min", "time_decimals": 3, "delimiter": ";",
    "encoding": "utf-8-sig",
    "columns": [{"column": "MATNR", "field": "item_code"}, {"column": "VORNR", "field": "operation"},
                {"column": "ARBPL", "field": "work_center"}, {"column": "STEUS", "constant": "PP01"},
                {"column": "LTXA1", "field": "process_code"}, {"column": "VGW01", "field": "time"},
                {"column": "VGE01", "field": "time_unit"}],
}


class ProfileStore:
    """The output profiles of one data home, `<home>/profiles/<name>.json`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.folder = data_root(root) / FOLDER

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if not p.name.startswith("."))

    def get(self, name: str) -> Profile:
        path = self.folder / f"{check_name(name, 'profile name')}.json"
        where = f"Profile '{name}'"
        try:
            data = read_json(path, where, max_bytes=MAX_PROFILE_BYTES)
        except FileNotFoundError:
            raise UserError(f"No output profile named '{name}' (known: {', '.join(self.names()) or 'none'}).") from None
        try:
            profile = profile_from_json(data, where)
        except UserError as exc:
            raise BrokenState(str(exc)) from None
        if profile.name != name:
            raise BrokenState(f"{where}: the file names profile {profile.name!r}; it was renamed by hand.")
        return profile

    def save(self, profile: Profile, *, user: User) -> Profile:
        require(user, "accept")
        self.folder.mkdir(parents=True, exist_ok=True)
        share_dir(self.folder)
        atomic_write_json(self.folder / f"{profile.name}.json", profile.to_json())
        return profile

    def ensure_example(self) -> None:
        """The SAP example profile, written once when the data home has no profile yet."""
        if not self.names():
            self.folder.mkdir(parents=True, exist_ok=True)
            share_dir(self.folder)
            atomic_write_json(self.folder / f"{SAP_EXAMPLE['name']}.json", SAP_EXAMPLE)


def _value(routing, step: dict, position: int, source: str, profile: Profile) -> object:
    if source == "item_code":
        return routing.item_code
    if source == "operation":
        return profile.op_start + (position - 1) * profile.op_step
    if source == "seq":
        return position
    if source == "process_code":
        return step["process_code"]
    if source == "time":
        minutes = step.get("duration_min")
        return None if minutes is None else round(minutes / UNITS[profile.time_unit], profile.time_decimals)
    if source == "time_unit":
        return profile.time_unit
    if source in ("version", "candidate_rank", "accepted_by", "accepted_at", "revision"):
        return getattr(routing, source)
    if source in step.get("attributes", {}):
        return step["attributes"][source]
    return routing.attributes.get(source)


def apply_profile(routings: Iterable, profile: Profile) -> pd.DataFrame:
    """One row per step of each routing (in order), the profile's columns in its order. UserError when
    a column reads an attribute none of the routings has (a blank column would go to the ERP unseen)."""
    routings = list(routings)
    have = {a for r in routings for a in r.attributes} | {a for r in routings for s in r.steps for a in s["attributes"]}
    missing = [c for c in profile.columns if c.field is not None and c.field not in FIXED and c.field not in have]
    if routings and missing:
        raise UserError(
            f"Profile '{profile.name}': " + "; ".join(f"column {c.column} reads '{c.field}'" for c in missing)
            + f", which none of the {len(routings):,} routing(s) has (their attributes: "
            + (", ".join(sorted(map(str, have))[:30]) or "none") + "). Change the profile's field or give the "
            "column a constant.")
    rows = []
    for routing in routings:
        for position, step in enumerate(routing.steps, start=1):
            rows.append([c.constant if c.field is None else _value(routing, step, position, c.field, profile)
                         for c in profile.columns])
    frame = pd.DataFrame(rows, columns=[c.column for c in profile.columns])
    return frame.astype(object).where(frame.notna(), None)
