"""An editable routing (`st.data_editor`): reorder by the sequence column, insert and delete rows,
pick process codes from the plant's list (with the model's probability of each), change times and
operation attributes; shows the total time and what changed against the candidate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from routing_core.accepted import clean_steps, describe, routing_diff
from routing_core.platform.errors import UserError
from ui.text import md

SEQ_STEP = 10  # the editor numbers steps 10, 20 …: a step goes between two by a number between theirs
MINUTES = "minutes"


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def editor_frame(steps: Sequence[Mapping], attributes: Sequence[str]) -> pd.DataFrame:
    """The steps as the editor's table: seq (10, 20 …), process, minutes, one column per attribute."""
    rows = [{"seq": SEQ_STEP * n, "process_code": s["process_code"],
             MINUTES: None if s.get("duration_min") is None else round(float(s["duration_min"]), 3),
             **{a: (None if _blank((s.get("attributes") or {}).get(a)) else str(s["attributes"][a]))
                for a in attributes}}
            for n, s in enumerate(steps, start=1)]
    frame = pd.DataFrame(rows, columns=["seq", "process_code", MINUTES, *attributes])
    return frame.astype({"seq": "float64", MINUTES: "float64", "process_code": "object",
                         **dict.fromkeys(attributes, "object")})


def steps_of(frame: pd.DataFrame, attributes: Sequence[str]) -> list[dict]:
    """The edited table as steps (rows left wholly blank are ignored; order by seq, see clean_steps)."""
    steps = []
    for row in frame.to_dict("records"):
        if all(_blank(v) for v in row.values()):
            continue
        steps.append({"seq": None if _blank(row.get("seq")) else row["seq"],
                      "process_code": None if _blank(row.get("process_code")) else row["process_code"],
                      "duration_min": None if _blank(row.get(MINUTES)) else row[MINUTES],
                      "attributes": {a: row.get(a) for a in attributes if not _blank(row.get(a))}})
    return clean_steps(steps)


def edit_routing(steps: Sequence[Mapping], key: str, codes: Sequence[str], attributes: Sequence[str],
                 probabilities: Mapping[str, float] | None = None, candidate: Sequence[Mapping] | None = None,
                 disabled: bool = False) -> list[dict] | None:
    """Draw the editor; the edited steps, or None (with the reason shown) when they cannot be used."""
    probabilities = probabilities or {}
    options = sorted({*map(str, codes), *(str(s["process_code"]) for s in steps)},
                     key=lambda c: (-probabilities.get(c, -1.0), c))

    def label(code: object) -> str:
        p = probabilities.get(str(code))
        return str(code) if p is None else f"{code} · {p:.2f}"

    config = {
        "seq": st.column_config.NumberColumn(
            "seq", help="The step's place: the table is read in this order. To move a step, give it a number "
                        "between those of its new neighbours (25 goes between 20 and 30).", step=1, format="%d"),
        "process_code": st.column_config.SelectboxColumn(
            "process", options=options, required=True, format_func=label,
            help="The plant's process codes, the most likely for this item first, with the model's probability "
                 "that the item's routing has the step." if probabilities else "The plant's process codes."),
        MINUTES: st.column_config.NumberColumn(MINUTES, min_value=0.0, format="%.2f", help="The step's time in minutes."),
        **{a: st.column_config.TextColumn(a) for a in attributes},
    }
    edited = st.data_editor(editor_frame(steps, attributes), key=key, num_rows="dynamic", hide_index=True,
                            column_config=config, disabled=disabled, width="stretch")
    try:
        result = steps_of(edited, attributes)
    except UserError as exc:
        st.error(md(exc), icon=":material/error:")
        return None
    total = sum(s["duration_min"] for s in result if s["duration_min"] is not None)
    changes = routing_diff(candidate, result) if candidate is not None else []
    with st.container(key=f"{key}_summary"):
        st.markdown(f"**{len(result)} steps · total time {total:,.1f} min** · "
                    + " → ".join(md(s["process_code"]) for s in result))
        if candidate is not None:
            if changes:
                st.markdown("**What changed against the candidate**\n"
                            + "\n".join(f"- {md(describe(c))}" for c in changes))
            else:
                st.caption("Unchanged: the candidate as proposed.")
    return result
