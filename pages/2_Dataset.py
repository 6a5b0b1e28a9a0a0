"""Dataset: headline numbers, data quality and the shape of the routings of one stored dataset."""

from __future__ import annotations

import streamlit as st

from routing_core import database
from routing_core.mapping import units
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe
from routing_core.platform.formatting import HELP, percent_value
from ui import auth, charts, frame, guard, loaders, missing_view
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.nav import TRAIN, UPLOAD
from ui.text import md, pct, when
from ui.units import switch as unit_switch

frame.page()

# A refresh that stored a new revision opens it: the picker starts again at the current dataset.
if st.session_state.pop("dataset_pick_new", False):
    st.session_state.pop("dataset_pick", None)

st.title("Dataset")
record = loaders.pick_dataset("dataset_pick")
if record is None:
    empty_state("No dataset is stored yet. Upload a routing export (or use the sample data) first.",
                UPLOAD, "Go to Upload")
    st.stop()

try:
    stats = loaders.dataset_stats(record)
except UserError as exc:  # a damaged dataset folder: say why, break nothing else
    st.error(md(f"Dataset {record.name} is unreadable: {exc}"), icon=":material/error:")
    st.stop()
st.caption(
    md(f"From {record.source_name}, stored {when(record.created_at)}. ")
    + "Mapping: " + md(", ".join(f"{s} → {t}" for s, t in record.mapping.items()))
)

source = database.describe_source(record.source)
if source:
    with st.container(border=True, key="dataset_source"):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown("**Read from a database** · " + " · ".join(f"{k}: {md(v)}" for k, v in source.items()))
        refused = guard.reason("upload") or database.may_read(auth.user(), str(record.source.get("connection")))
        pressed = right.button("Refresh from the database", key="dataset_refresh", icon=":material/refresh:",
                               disabled=refused is not None, help=refused or
                               "Read the query again: a new revision of this dataset if the data changed.")
        with left.expander("Query"):
            st.code(record.source.get("query", ""), language="sql", wrap_lines=True)
        if pressed:
            bar = st.progress(0.0, text="Reading the database…")
            try:
                guard.require("upload")
                result = database.refresh(
                    loaders.store(), record.name, user=auth.user(),
                    progress=lambda rows, cap: bar.progress(min(rows / cap, 1.0), text=f"{rows:,} rows read"))
            except UserError as exc:
                st.session_state["dataset_refreshed"] = ("error", str(exc))
            else:
                kind = "info" if result.status == "unchanged" else "success"
                st.session_state["dataset_refreshed"] = (kind, result.summary())
                if result.record.name != record.name:
                    st.session_state["dataset_pick_new"] = True
                    st.session_state[loaders.CURRENT_DATASET] = result.record.name
                    st.rerun()
            bar.empty()
        said = st.session_state.pop("dataset_refreshed", None)
        if said is not None:
            kind, text = said
            getattr(st, kind)(md(text), icon={"error": ":material/error:", "info": ":material/info:",
                                               "success": ":material/check_circle:"}[kind])

plant_unit = units.dataset_unit(record)
metric_row([
    ("Rows", f"{stats['total_samples']:,}"),
    ("Items", f"{stats['unique_items']:,}"),
    ("Processes", f"{stats['unique_processes']:,}"),
    ("Distinct routings", f"{stats['distinct_routings']:,}"),
    ("Duration missing", pct(stats["missing_duration_min"]), HELP["missing_rows"]),
    ("Times recorded in", units.name(plant_unit), "The unit the export's durations came in (from the mapping)."),
])

st.subheader("Alerts")
if stats["alerts"]:
    for alert in stats["alerts"]:
        st.warning(md(alert), icon=":material/warning:")
else:
    st.success("No alerts: the data looks clean.", icon=":material/check_circle:")

quality, routings, processes = st.tabs(["Quality", "Routings and durations", "Processes and transitions"])
with quality:
    if not any(stats["missing_rate"].values()):
        st.caption("No column has a missing value.")
    st.caption("Item attributes: the share of items with no value on any of their rows. Other columns: "
               "the share of rows (operations) without a value. The table has both for every column.")
    st.plotly_chart(charts.missing_rate_chart(stats["missing_rate"]), key="dataset_missing_chart")
    missing_view.table(stats["missing_rate"], stats.get("missing_rate_rows") or stats["missing_rate"],
                       stats["item_attributes"], key="dataset_missing_table")
with routings:
    unit = unit_switch(plant_unit, "dataset_unit")
    left, right = st.columns(2)
    left.plotly_chart(charts.routing_length_chart(stats["routing_length"]["distribution"]),
                      key="dataset_length_chart")
    summaries = {"per operation": stats.get("duration_min"), "per routing (total)": stats.get("routing_duration_min")}
    if any(summaries.values()):
        right.plotly_chart(charts.duration_summary_chart(summaries, unit=unit), key="dataset_duration_chart")
        st.plotly_chart(charts.duration_by_process_chart(stats["duration_by_process"], unit=unit),
                        key="dataset_duration_process_chart")
    else:
        right.info("This dataset has no durations.")
with processes:
    st.plotly_chart(charts.process_frequency_chart(stats["process_frequency"]), key="dataset_frequency_chart")
    if stats["transitions"]:
        st.plotly_chart(charts.transition_heatmap(stats["transitions"]), key="dataset_transition_chart")
    else:
        st.info("No transitions: every routing has a single step.")

with st.expander("Attributes"):
    st.caption("Item attributes feed the model; operation attributes are carried onto predicted steps.")
    st.dataframe(
        display_safe({
            "column": stats["item_attributes"] + stats["operation_attributes"],
            "kind": ["item"] * len(stats["item_attributes"]) + ["operation"] * len(stats["operation_attributes"]),
            "missing (%)": [percent_value(stats["missing_rate"].get(c, 0.0)) for c in stats["attributes"]],
        }),
        key="dataset_attributes",
        hide_index=True,
        column_config={"missing (%)": st.column_config.NumberColumn(
            format="%.1f %%", help=HELP["missing_items"] + " (operation attributes: " + HELP["missing_rows"] + ")")},
    )

st.page_link(TRAIN.path, label="Train a model on this dataset", icon=TRAIN.icon)
