"""The column mapping editor a person meets wherever they upload a file: the Upload page, the
Predict page's batch file and the Models page's labelled file. Widget keys are
`<prefix>map_<target>`; a file given to a model version opens with the columns that version was
trained on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from routing_core.mapping.content import decide_mapping, describe
from routing_core.mapping.mapping_memory import for_version
from routing_core.mapping.schema import DURATION_UNITS, mapping_from_choices, resolve_mapping
from ui.text import code

NONE = "—"
TARGETS = (
    ("item_code", "Item code (required)"),
    ("process_code", "Process code (required)"),
    ("seq", "Sequence"),
    ("duration", "Duration"),
)
UNITS = {"min": "duration_min", "h": "duration_h", "s": "duration_s"}
UNIT_LABELS = {"min": "minutes", "h": "hours", "s": "seconds"}
ALL = tuple(t for t, _ in TARGETS)


def set_widgets(prefix: str, resolved: Mapping[str, str]) -> None:
    """The mapping widgets set to `resolved` (source -> target); roles it leaves out to "—"."""
    detected = {("duration" if t in DURATION_UNITS else t): (s, t) for s, t in resolved.items()}
    for target, _ in TARGETS:
        st.session_state[f"{prefix}map_{target}"] = detected[target][0] if target in detected else NONE
    unit = detected.get("duration", (None, "duration_min"))[1]
    st.session_state[f"{prefix}map_duration_unit"] = next(k for k, v in UNITS.items() if v == unit)


def open_for_version(prefix: str, frame: pd.DataFrame, recorded: Mapping[str, str] | None,
                     needed: Sequence[str], version: str) -> str:
    """Set the widgets for a file given to a version: its training columns when the file has
    them, else the file's names with the contents settling ambiguous ones. Returns the note to show."""
    columns = [str(c) for c in frame.columns]
    mapping = for_version(columns, recorded, needed)
    if mapping is not None:
        resolved = resolve_mapping(columns, mapping)
        note = f"Read with the columns version **{version}** was trained on: {describe(resolved, quote=code)}."
    else:
        decision = decide_mapping(frame)
        resolved = decision.resolved
        note = (f"The file does not have the columns version **{version}** was trained on; read by its own "
                f"names and contents: {describe(resolved, quote=code)}.")
    set_widgets(prefix, resolved)
    return note


def render(columns: Sequence[str], prefix: str, roles: Sequence[str] = ALL) -> tuple[dict[str, str | None], str]:
    """The selectboxes of `roles` (item_code, process_code, seq, duration) and the duration unit;
    returns (choices as mapping_from_choices() takes them, the duration unit key)."""
    columns = [str(c) for c in columns]
    shown = [(t, label) for t, label in TARGETS if t in roles]
    # Three to a row: at 1,024 px with the sidebar open, five in a row cut the names ("ARTICUL").
    count = len(shown) + (1 if "duration" in roles else 0)
    cells = [cell for _ in range(0, count, 3) for cell in st.columns(3)][:count]
    choices: dict[str, str | None] = {}
    for cell, (target, label) in zip(cells, shown, strict=False):
        value = cell.selectbox(label, [NONE, *columns], key=f"{prefix}map_{target}")
        choices[target] = None if value == NONE else value
    unit = "min"
    if "duration" in roles:
        unit = cells[-1].selectbox(
            "Duration unit", list(UNITS), format_func=UNIT_LABELS.get, key=f"{prefix}map_duration_unit",
            help="Durations in hours or seconds are converted to minutes.",
        )
    return choices, unit


def explicit(columns: Sequence[str], choices: Mapping[str, str | None], unit: str) -> dict[str, str]:
    """The explicit mapping of the editor's choices (UserError when a column is chosen twice)."""
    choices = dict(choices)
    if "duration" in choices:
        choices[UNITS[unit]] = choices.pop("duration")
    return mapping_from_choices([str(c) for c in columns], choices)
