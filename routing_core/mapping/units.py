"""The plant's unit of time: a dataset remembers the unit its times came in (minutes, hours or
seconds); the core keeps minutes inside, and pages, metrics and exports show the plant's unit.

A unit is one of `UNITS`' keys: "min", "h", "s". The mapping target a duration column was read
as (schema.DURATION_UNITS: duration_min, duration_h, duration_s) says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from routing_core.mapping.schema import DURATION, DURATION_UNITS
from routing_core.platform.errors import UserError
from routing_core.platform.formatting import DASH, rounded

DEFAULT = "min"
# unit: (name, minutes per unit, mapping target)
UNITS = {"min": ("minutes", 1.0, "duration_min"), "h": ("hours", 60.0, "duration_h"),
         "s": ("seconds", 1.0 / 60.0, "duration_s")}
_BY_TARGET = {target: unit for unit, (_, _, target) in UNITS.items()}
# The duration columns of a prediction table (output.predictions_frame) and of a batch summary.
DURATION_COLUMNS = (DURATION, "duration_low", "duration_high")


def check(unit: str) -> str:
    """`unit` when it is one of UNITS, else a UserError naming the ones there are."""
    if unit not in UNITS:
        raise UserError(f"Unknown unit of time {unit!r}: use one of {', '.join(UNITS)}.")
    return unit


def name(unit: str) -> str:
    """"hours" for "h"."""
    return UNITS[check(unit)][0]


def unit_of_mapping(mapping: Mapping[str, str]) -> str:
    """The unit a dataset's times came in, from the target its duration column was mapped to
    (minutes when it had none: the stored times are minutes either way)."""
    for target in mapping.values():
        if target in DURATION_UNITS and target in _BY_TARGET:
            return _BY_TARGET[target]
    return DEFAULT


def dataset_unit(record: object) -> str:
    """The unit a stored dataset's times came in: its recorded `duration_unit`, else its mapping's."""
    unit = getattr(record, "duration_unit", None)
    if unit in UNITS:
        return unit
    return unit_of_mapping(getattr(record, "mapping", None) or {})


def version_unit(dataset_info: Mapping | None, records: Iterable[object]) -> str:
    """The unit of the dataset a model version was trained on (found by name and content digest
    among the stored `records`; minutes when it is no longer stored)."""
    info = dict(dataset_info or {})
    if info.get("duration_unit") in UNITS:
        return info["duration_unit"]
    for record in records:
        if getattr(record, "name", None) == info.get("name") and getattr(record, "sha256", None) == info.get("sha256"):
            return dataset_unit(record)
    return DEFAULT


def from_minutes(minutes: object, unit: str) -> float | None:
    """A time in minutes (as the core keeps it) in `unit`; None when unknown."""
    if minutes is None or isinstance(minutes, bool):
        return None
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        return None
    if value != value:
        return None
    return value / UNITS[check(unit)][1]


def duration_text(minutes: object, unit: str, digits: int = 1) -> str:
    """"3.8 h": a time kept in minutes written in `unit`, rounded as every figure is."""
    value = rounded(from_minutes(minutes, unit), digits)
    return DASH if value is None else f"{value:.{digits}f} {unit}"


def column_name(unit: str) -> str:
    """The duration column's name in `unit`: duration_min, duration_h, duration_s."""
    return UNITS[check(unit)][2]


def renamed(column: str, unit: str) -> str:
    """A duration column's name in `unit` ("duration_low" → "duration_low_h"; duration_min →
    duration_h; "total time (min)" → "total time (h)"). Other columns keep their name."""
    if column == DURATION:
        return column_name(unit)
    if column in DURATION_COLUMNS:
        return f"{column}_{unit}"
    if column.endswith("(min)"):
        return column[: -len("(min)")] + f"({unit})"
    return column


def in_unit(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """A copy of a table whose times are in minutes (duration_min, duration_low, duration_high,
    "… (min)") with those columns converted to `unit` and named by it; minutes leave it as it is."""
    check(unit)
    if unit == DEFAULT:
        return frame
    out = frame.copy()
    factor = UNITS[unit][1]
    times = [c for c in out.columns if c in DURATION_COLUMNS or str(c).endswith("(min)")]
    for c in times:
        out[c] = pd.to_numeric(out[c], errors="coerce") / factor
    return out.rename(columns={c: renamed(str(c), unit) for c in times})
