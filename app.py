"""Routing Studio dashboard: navigation over the pages and the sidebar with the active model."""

from ui import frame, sidebar

frame.setup()
page = frame.navigation()
sidebar.render()
frame.run(page)
