"""Activity: who changed what and when (datasets, trainings, versions, caches), with filters and a CSV."""

from __future__ import annotations

from datetime import UTC, datetime, time

import streamlit as st

from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe, to_safe_csv
from routing_core.users.activity import LOGGED, ActivityLog
from ui import frame, loaders
from ui.text import md

frame.page()

EVERYONE, EVERY_ACTION, EVERY_OBJECT = "everyone", "every action", "every object"

st.title("Activity")
st.caption("Every change, newest first: datasets stored or deleted, trainings submitted and finished, "
           "versions activated or deleted, caches cleared. The log is only ever appended to.")

log = ActivityLog(loaders.data_root())
everything = log.entries()
if not everything:
    st.info("Nothing has been changed yet.", icon=":material/info:")
    st.stop()

users = sorted({str(e.get("user")) for e in everything})
actions = [a for a in LOGGED if any(e.get("action") == a for e in everything)]
objects = sorted({str(e.get("object")) for e in everything})
a, b, c, d = st.columns(4)
who = a.selectbox("User", [EVERYONE, *users], key="activity_user")
what = b.selectbox("Action", [EVERY_ACTION, *actions], key="activity_action")
obj = c.selectbox("Object", [EVERY_OBJECT, *objects], key="activity_object",
                  help="A dataset, a model version, or a job id for a dry run.")
day = d.date_input("Since", value=None, key="activity_since", format="YYYY-MM-DD",
                   help="Only what happened on this day (UTC) or later.")

try:
    table = log.frame(
        user=None if who == EVERYONE else who,
        action=None if what == EVERY_ACTION else what,
        obj=None if obj == EVERY_OBJECT else obj,
        since=None if day is None else datetime.combine(day, time(0), tzinfo=UTC),
    )
except UserError as exc:
    st.error(md(exc), icon=":material/error:")
    st.stop()

st.caption(f"{len(table):,} of {len(everything):,} entries.")
st.dataframe(
    display_safe(table),
    key="activity_table",
    hide_index=True,
    column_config={"time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", timezone="UTC")},
)
st.download_button(
    "Download (CSV)", data=lambda: to_safe_csv(table), file_name="activity.csv", mime="text/csv",
    key="activity_download", icon=":material/download:", on_click="ignore",
)
