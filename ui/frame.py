"""What every page is drawn in: page config, the sample data on a fresh start, navigation and sidebar.

app.py draws it around the page it runs. Streamlit also runs a file in `pages/` on its own (its
older `pages/` folder mode) until st.navigation has been called once in the server process —
e.g. when the first request of a fresh server opens a page's URL, and in AppTest after
switch_page. `page()` at the top of each page notices that, registers the app's navigation
and reruns, so the page is drawn through app.py after all.
"""

from __future__ import annotations

import streamlit as st

from routing_core.platform.memory import use_system_allocator
from ui import auth, loaders, sidebar
from ui.nav import PAGES

use_system_allocator()  # once per server process: a closed session's tables go back to the system

_IN_APP = "_routing_in_app_frame"  # session key: app.py is running the page right now
_REROUTED = "_routing_rerouted"  # session key: page() already asked for a rerun through app.py

# The tables' own "Download as CSV" writes cells as they are, a formula among them; Streamlit has no
# option to turn it off, so it is hidden, and the pages offer their exports through to_safe_csv.
NO_TABLE_DOWNLOAD = (
    "<style>[data-testid='stElementToolbar'] button[aria-label^='Download as CSV'],"
    "[data-testid='stElementToolbarButton']:has(button[aria-label^='Download as CSV'])"
    "{display: none !important;}</style>"
)


def setup() -> None:
    """Page config, the sign-in (nothing else shows before it), the sample data and its background
    training on a fresh start."""
    st.set_page_config(page_title="Routing Studio", page_icon=":material/route:", layout="wide")
    st.html(NO_TABLE_DOWNLOAD)
    auth.gate()
    loaders.ensure_sample()
    loaders.first_start_training()


def navigation() -> st.Page:
    """The app's navigation over the pages; returns the page to run."""
    return st.navigation([st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES])


def run(page: st.Page) -> None:
    """Run the page chosen by st.navigation inside the frame app.py drew."""
    # Consumed by page() at the very top of the page (a `finally` cannot reset it: after
    # st.stop() every st call raises again).
    st.session_state[_IN_APP] = True
    st.session_state.pop(_REROUTED, None)
    page.run()


def page() -> None:
    """First line of every page: make sure it is drawn inside the app's frame."""
    if st.session_state.pop(_IN_APP, False):
        return
    if not st.session_state.get(_REROUTED):
        # Calling st.navigation switches Streamlit from the pages/ folder mode to app.py's
        # navigation for good; the rerun then runs app.py around this same page (same URL).
        st.session_state[_REROUTED] = True
        navigation()
        st.rerun()
    setup()  # should the rerun not go through app.py, still draw a usable page
    sidebar.render()
