"""The switch between units of time: it starts at the plant's unit (the dataset's) and any page
that shows times offers it."""

from __future__ import annotations

import streamlit as st

from routing_core.mapping import units


def switch(default: str, key: str) -> str:
    """A "Times in" switch (minutes, hours, seconds) starting at `default`; the chosen unit.

    Keyed per page and per plant unit, so another dataset starts again at its own unit."""
    choice = st.segmented_control(
        "Times in", list(units.UNITS), format_func=units.name, default=default, key=f"{key}_{default}",
        help="The unit this dataset's times came in is chosen first; switch to read them in another.",
    )
    return choice or default
