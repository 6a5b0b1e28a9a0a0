"""The sidebar every page shares: the active model version."""

from __future__ import annotations

import streamlit as st

from routing_core.errors import UserError
from ui import loaders
from ui.nav import MODELS, TRAIN
from ui.text import md, pct


def render() -> None:
    """Show the active model (name, dataset, routing accuracy) or how to get one."""
    with st.sidebar:
        st.subheader("Active model")
        try:
            registry = loaders.registry()
            name = registry.active()
            info = registry.get(name) if name else None
        except UserError as exc:
            st.error(md(exc))
            return
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
