"""Start: what Routing Studio does, the five steps with links, and where things stand."""

from __future__ import annotations

import streamlit as st

from ui import first_start, frame, loaders
from ui.metrics import metrics as metric_row
from ui.nav import DATASET, MODELS, PREDICT, TRAIN, UPLOAD
from ui.text import md, pct

frame.page()

STEPS = (
    (UPLOAD, "Upload a routing export (CSV, TSV or Parquet, or a database table): one row per operation "
             "of an item, in order, with its time."),
    (DATASET, "Look at the stored data: routings, process frequencies, times, missing values."),
    (TRAIN, "Train a model version on a dataset; part of the items is held out to measure it."),
    (MODELS, "Compare the versions and their baselines, head to head on the same items; pick the active one."),
    (PREDICT, "Get ranked candidate routings with step times for a new item or a whole file."),
)
POLLING = "start_polling"

st.title("Routing Studio")
st.markdown(
    "Routing Studio learns from the routings your plant already has — which operations each item "
    "goes through, in which order, and how long each takes — and proposes routings for new items: "
    "a few ranked candidates with step times, each backed by the similar items it comes from."
)

st.subheader("Five steps")
for n, (spec, text) in enumerate(STEPS, start=1):
    left, right = st.columns([1, 3], vertical_alignment="center")
    with left:
        st.page_link(spec.path, label=f"{n}. {spec.title}", icon=spec.icon)
    right.caption(text)

st.subheader("Where things stand")
manager = loaders.job_manager()
running = manager.active()
st.session_state.setdefault(POLLING, bool(running))


@st.fragment(run_every=1.0 if running else None)
def state() -> None:
    records = loaders.datasets()
    registry = loaders.registry()
    active = registry.active()
    jobs = manager.active()
    metric_row([("Datasets", f"{len(records):,}"), ("Model versions", f"{len(registry.names()):,}"),
                ("Training now", f"{len(jobs):,}")])
    if records:
        st.caption("Datasets: " + ", ".join(f"{md(r.name)} ({r.items:,} items)" for r in records[:10])
                   + (" …" if len(records) > 10 else ""))
    if active:
        info = registry.get(active)
        accuracy = (info.metrics or {}).get("routing_accuracy")
        st.success(f"Active version: **{md(active)}**, trained on {md(info.dataset.get('name'))}"
                   + (f", routing accuracy {pct(accuracy)} on held-out items." if accuracy is not None else "."),
                   icon=":material/check_circle:")
        st.page_link(PREDICT.path, label="Predict with it", icon=PREDICT.icon)
    elif not jobs:
        st.info("No active model version yet.", icon=":material/info:")
        st.page_link(TRAIN.path, label="Train one", icon=TRAIN.icon)
    first = first_start.read(manager) or {}
    for job in jobs:
        sample = job["job_id"] == first.get("job_id")
        label = (f"Training the sample model {md(job.get('version'))} so the pages have something to show"
                 if sample else f"Training {md(job.get('version') or 'a dry run')} on {md(job.get('dataset'))}")
        st.progress(min(max(float(job.get("progress") or 0) / 100, 0.0), 1.0),
                    text=f"{label}: {md(job.get('message') or job['state'])}")
    if jobs:
        st.page_link(TRAIN.path, label="Follow it on Train", icon=TRAIN.icon)
        st.session_state[POLLING] = True
    elif st.session_state.get(POLLING):
        # The last job ended: settle the first start (activate its version) and redraw the page and sidebar.
        st.session_state[POLLING] = False
        first_start.settle(manager)
        st.rerun()


state()
