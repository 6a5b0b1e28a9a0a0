"""Showing user text (item codes, column and file names) inside Markdown without it becoming markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from routing_core.platform import formatting

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them all
# also defuses Streamlit's own directives (:red[...], :material/icon:, $math$).
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md(value: object) -> str:
    """`value` as literal text inside Streamlit Markdown (labels, alerts, captions)."""
    text = str(value)
    return _PUNCT.sub(r"\\\1", text).replace("\n", "  \n")


def code(value: object) -> str:
    """`value` as inline code in Streamlit Markdown (a column name), whatever backticks it holds."""
    text = " ".join(str(value).split()) or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def pct(value: float | None, digits: int = 1) -> str:
    """A share 0–1 as a percentage, or an em dash when unknown (routing_core.platform.formatting: one rounding)."""
    return formatting.percent(value, digits)


def num(value: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals, or an em dash when unknown."""
    return formatting.number(value, digits)


def points(value: float | None, digits: int = 1) -> str:
    """A difference of two shares in percentage points, signed ("+4.2 points")."""
    return formatting.points(value, digits)


def when(iso: str | None) -> str:
    """A stored ISO time as people read it: "2026-11-26 06:24 UTC" (as stored when not a time)."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo is not None else "")


def times(values: list[str | None]) -> pd.Series:
    """Stored ISO times as a datetime column (UTC) for tables; unreadable ones blank."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601")


def readable(value: object) -> str:
    """A stored value as people read it: numbers rounded (at most 4 significant digits), lists joined."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value) if value else "—"
    return str(value)


def key_value_table(mapping: dict, prefix: str = "") -> pd.DataFrame:
    """A nested mapping as a two-column table (name, value); nested keys are joined with " › "."""
    rows: list[dict] = []

    def walk(d: dict, path: str) -> None:
        for k, v in d.items():
            name = f"{path} › {k}" if path else str(k)
            if isinstance(v, dict) and v:
                walk(v, name)
            else:
                rows.append({"name": name, "value": readable(v)})

    walk(mapping or {}, prefix)
    return pd.DataFrame(rows, columns=["name", "value"])
