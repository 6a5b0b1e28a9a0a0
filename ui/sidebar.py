"""The sidebar every page shares: the active model version."""

from __future__ import annotations

import logging

import streamlit as st

from routing_core.errors import UserError
from ui import loaders
from ui.nav import MODELS, TRAIN
from ui.text import md, pct

log = logging.getLogger("routing_studio")


def render() -> None:
    """Show the active model (name, dataset, routing accuracy) or how to get one; never fails a page."""
    with st.sidebar:
        st.subheader("Active model")
        try:
            _render()
        except Exception:
            log.exception("Unexpected error in the sidebar")
            st.caption("The active model cannot be shown; the details are in the server log.")


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
        st.caption(f"routing accuracy {pct(metrics.get('routing_accuracy'))}")
    st.page_link(MODELS.path, label="All versions", icon=MODELS.icon)
