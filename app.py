"""Routing Studio dashboard: navigation over the pages and the sidebar with the active model."""

import streamlit as st

from ui import loaders, sidebar
from ui.nav import PAGES

st.set_page_config(page_title="Routing Studio", page_icon=":material/route:", layout="wide")
loaders.ensure_sample()
page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES])
sidebar.render()
page.run()
