"""One object's history from the activity log (a model version on the Models page)."""

from __future__ import annotations

import streamlit as st

from routing_core.platform.export import display_safe
from routing_core.users.activity import ActivityLog
from ui import loaders


def expander(obj: str) -> None:
    """A small expander listing what was done to `obj`, newest first, and by whom."""
    table = ActivityLog(loaders.data_root()).frame(obj=obj)
    with st.expander(f"History ({len(table)})", icon=":material/history:"):
        if table.empty:
            st.caption("Nothing recorded for it yet.")
            return
        st.dataframe(
            display_safe(table[["time", "user", "action", "outcome"]]),
            key="history_table",
            hide_index=True,
            column_config={"time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", timezone="UTC")},
        )
