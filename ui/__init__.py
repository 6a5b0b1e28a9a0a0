"""Shared Streamlit helpers for the pages: navigation, cached loaders, empty states, the sidebar."""
