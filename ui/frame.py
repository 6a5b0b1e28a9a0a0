"""What every page is drawn in: page config, the sample data on a fresh start, the sidebar.

app.py draws it around the page it runs. Streamlit also runs a file in `pages/` on its own
(its older `pages/` folder mode) until app.py has called st.navigation once in the server
process — e.g. when the first request of a fresh server opens a page's URL, and in every
AppTest run after switch_page. `page()` at the top of each page draws the frame then.
"""

from __future__ import annotations

import streamlit as st

from ui import loaders, sidebar

_IN_APP = "_routing_in_app_frame"  # session key: app.py is running the page right now


def setup() -> None:
    """Page config and the sample data on a fresh start."""
    st.set_page_config(page_title="Routing Studio", page_icon=":material/route:", layout="wide")
    loaders.ensure_sample()


def run(page: st.Page) -> None:
    """Run the page chosen by st.navigation inside the frame app.py drew."""
    # Consumed by page() at the very top of the page (a `finally` cannot reset it: after
    # st.stop() every st call raises again).
    st.session_state[_IN_APP] = True
    page.run()


def page() -> None:
    """Draw the frame when the page runs without app.py around it."""
    if not st.session_state.pop(_IN_APP, False):
        setup()
        sidebar.render()
