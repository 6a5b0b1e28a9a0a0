"""The sidebar every page shares: the active model version."""

from __future__ import annotations

import logging

import streamlit as st

from routing_core.platform import formatting
from routing_core.platform.errors import UserError
from ui import loaders
from ui.nav import MODELS, TRAIN
from ui.text import md, pct

log = logging.getLogger("routing_studio")


def render() -> None:
    """Show the active model (name, dataset, routing accuracy) or how to get one; never fails a page."""
    with st.sidebar:
        try:
            _training_badge()
        except Exception:
            log.exception("Unexpected error in the sidebar's training badge")
        st.subheader("Active model")
        try:
            _render()
        except Exception:
            log.exception("Unexpected error in the sidebar")
            st.caption("The active model cannot be shown; the details are in the server log.")


def _training_badge() -> None:
    """A small badge on every page while a training (or dry run) is pending or running, with a
    link to follow it on Train."""
    try:
        active = loaders.job_manager().active()
    except (UserError, OSError):
        return
    if not active:
        return
    job = active[0]
    what = "Dry run" if job.get("dry_run") else "Training"
    text = training_badge_text(what, job.get("version"), job.get("progress"), len(active))
    st.badge(text, icon=":material/model_training:", color="blue")
    st.page_link(TRAIN.path, label="Follow it on Train", icon=TRAIN.icon, query_params={"job": job["job_id"]})


def training_badge_text(what: str, version: object, progress: object, n: int) -> str:
    """ "Training running: v-first · 45 %" (and how many more wait)."""
    name = f": {md(version)}" if version and what == "Training" else ""
    try:
        share = f" · {float(progress or 0):.0f} %"
    except (TypeError, ValueError):
        share = ""
    more = f" (+{n - 1} more)" if n > 1 else ""
    return f"{what} running{name}{share}{more}"


def _render() -> None:
    try:
        registry = loaders.registry()
        name = registry.active()
        info = registry.get(name) if name else None
    except UserError as exc:
        st.error(md(exc))
        return
    problem = registry.active_problem()
    if problem:
        st.error(md(problem))
    if info is None:
        st.caption("No active model yet.")
        st.page_link(TRAIN.path, label="Train a model", icon=TRAIN.icon)
        return
    st.markdown(f"**{md(info.name)}**")
    metrics = info.metrics or {}
    dataset = info.dataset.get("name") if info.dataset else None
    if dataset:
        st.caption(f"trained on {md(dataset)}")
    if info.broken:
        st.error(md(info.broken))
    elif "routing_accuracy" in metrics:
        st.caption(f"routing accuracy {pct(metrics.get('routing_accuracy'))}",
                   help=formatting.HELP["routing_accuracy"])
    st.page_link(MODELS.path, label="All versions", icon=MODELS.icon)
