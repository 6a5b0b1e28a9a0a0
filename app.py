"""Routing Studio dashboard: navigation over the pages and the sidebar with the active model."""

import streamlit as st

from ui import frame, sidebar
from ui.nav import PAGES

frame.setup()
page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES])
sidebar.render()
frame.run(page)
