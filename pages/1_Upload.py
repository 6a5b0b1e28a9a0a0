"""Upload: read a routing export (or a database query), check and change the column mapping,
preview, save as a dataset."""

from __future__ import annotations

import streamlit as st

from routing_core.datasets import RawTable, read_routings, read_table
from routing_core.datasets.eventlog import detect_event_log
from routing_core.platform.errors import UserError
from routing_core.platform.names import suggest_name
from ui import auth, frame, guard, held, loaders, review
from ui.nav import DATASET
from ui.text import md

frame.page()

st.title("Upload routings")
st.caption(
    "One row per operation: item, process, and optionally sequence and duration. "
    "Every other column is kept as an attribute."
)

# Only the open tab runs: a file read and a database read each keep their own state.
file_tab, db_tab = st.tabs(["File", "Database"], key="upload_source", on_change="rerun")
if db_tab.open:
    with db_tab:
        from ui import database_source

        database_source.render()
    st.stop()

with file_tab:
    with st.container(border=True):
        left, right = st.columns([2, 1], vertical_alignment="center")
        left.markdown(
            "**No export at hand?** The bundled sample data (machined parts with their routings) "
            "makes every page usable right away."
        )
        if right.button("Use sample data", key="upload_use_sample", icon=":material/science:",
                        disabled=guard.blocked("upload"), help=guard.tip("upload")):
            try:
                guard.require("upload")
            except UserError as exc:
                st.error(md(exc), icon=":material/error:")
                st.stop()
            record, _ = loaders.store_sample(user=auth.user())
            st.session_state[loaders.CURRENT_DATASET] = record.name
            st.success(
                f"Sample data is ready as dataset **{md(record.name)}**: "
                f"{record.items:,} items, {record.rows:,} operations."
            )
            st.page_link(DATASET.path, label="Look at the sample data", icon=DATASET.icon)

    upload = st.file_uploader(
        "Routing export", type=["csv", "tsv", "txt", "parquet"], key="upload_file",
        help="CSV with , ; tab or | (detected); UTF-8, Excel UTF-8, CP949/EUC-KR or Latin-1; or Parquet.",
    )
    if upload is None:
        for stale in ("upload_file_id", "upload_log"):
            st.session_state.pop(stale, None)
        held.pop("upload_raw")  # a removed file leaves nothing in memory
        review.forget("")
        st.info(
            "Drop a CSV, TSV, TXT or Parquet file above to see how it is read. Files up to "
            f"{st.get_option('server.maxUploadSize')} MB; the command line reads larger ones "
            "(`python -m routing_core stats FILE`).",
            icon=":material/upload:",
        )
        st.stop()

    # Read once per uploaded file (again after a reconnect: the table is held only while the browser
    # is connected); a new file resets the mapping widgets to what its header suggests.
    new_file = st.session_state.get("upload_file_id") != upload.file_id
    kept = held.get("upload_raw")
    if new_file or kept is None or kept[0] != upload.file_id:
        try:
            raw: RawTable | str = read_table(upload.getvalue(), name=upload.name)
        except UserError as exc:
            raw = str(exc)
        held.put("upload_raw", (upload.file_id, raw))
    else:
        raw = kept[1]
    if new_file:
        st.session_state["upload_file_id"] = upload.file_id
        review.forget("")
        if isinstance(raw, RawTable):
            review.init_mapping(raw, "", suggest_name(upload.name))
            # an event log opens with its case as the item and its activity as the process
            log = detect_event_log(raw.frame)
            st.session_state["upload_log"] = log
            st.session_state["upload_event_log"] = log is not None
            if log is not None:
                st.session_state["map_item_code"] = log.case
                st.session_state["map_process_code"] = log.activity

    if not isinstance(raw, RawTable):
        st.error(md(raw), icon=":material/error:")
        st.caption("Nothing was stored. Fix the file and drop it again.")
        st.stop()

    delimiter = {None: "none (Parquet)", "\t": "tab"}.get(raw.delimiter, repr(raw.delimiter))
    st.caption(
        md(f"{raw.source_name}: {len(raw.frame):,} rows × {raw.frame.shape[1]} columns, "
           f"read as {raw.encoding}, delimiter {delimiter}.")
    )
    log = st.session_state.get("upload_log")
    if log is not None:
        times = " and ".join(f"`{md(c)}`" for c in log.timestamps)
        with st.container(border=True, key="upload_event_log_box"):
            st.markdown(
                f"**This file is an event log**: one row per report of case `{md(log.case)}`, activity "
                f"`{md(log.activity)}`, time from {times}"
                + (f", lifecycle `{md(log.lifecycle)}`" if log.lifecycle else "") + ". "
                "Read as an event log, each case becomes an item whose routing is its activities in "
                "start order, repeated reports of one activity merged into one step, the step's time "
                "taken from the timestamps."
            )
            st.toggle("Read as an event log", key="upload_event_log",
                      on_change=lambda: (held.pop("upload_norm"), st.session_state.pop("upload_saved", None)),
                      help="Off: every row is read as one operation, as in a routing export.")
    as_log = bool(st.session_state.get("upload_event_log")) and log is not None
    review.review(
        raw, "",
        make=lambda mapping: read_routings(raw, mapping, event_log=as_log),
        save=lambda name, dataset: loaders.store().save(name, dataset, user=auth.user()),
        fix="Change the mapping above or fix the file.",
        same="This file with this mapping",
    )
