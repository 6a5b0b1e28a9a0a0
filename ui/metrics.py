"""Metrics in a row that wraps: each as wide as its value, never cut off in a narrow column."""

from __future__ import annotations

import streamlit as st


def row():
    """A horizontal container that wraps its metrics onto the next line when they do not fit
    (1,024 px with the sidebar open, 390 px phones). Add metrics with `width="content"`."""
    return st.container(horizontal=True, gap="large", vertical_alignment="center")


def metrics(items: list[tuple]) -> None:
    """A row of metrics: (label, value) or (label, value, help)."""
    box = row()
    for label, value, *rest in items:
        box.metric(label, value, help=rest[0] if rest else None, width="content")
