"""Empty states: what to do first, with a link to the page where it is done."""

from __future__ import annotations

import streamlit as st

from ui.nav import PageSpec


def empty_state(message: str, page: PageSpec, label: str) -> None:
    """An info box saying what is missing and a link to the page that fixes it."""
    st.info(message, icon=":material/info:")
    st.page_link(page.path, label=label, icon=page.icon)
