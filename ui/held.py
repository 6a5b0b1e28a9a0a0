"""What a session has decoded (an uploaded table, its normalised dataset, a batch prediction), held
for as long as the browser stays connected and no longer.

Streamlit keeps a closed tab's `st.session_state` for a reconnect window and frees it only when a
later session touches its store, so a table kept there outlives the tab by minutes or more. Tables
are held here instead, in a session-scoped resource that Streamlit clears the moment the browser
disconnects; the release then hands the freed memory back to the system. Small choices (widget
values, which file was read) stay in `st.session_state`, so a page that reconnects reads its file
again and keeps the analyst's mapping."""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from routing_core.platform.memory import release_free_memory

_STORES: dict[str, dict] = {}  # session id -> what that session holds
_LOCK = threading.Lock()


def release_held(session_id: str) -> None:
    with _LOCK:
        store = _STORES.pop(session_id, None)
    if store is not None:
        store.clear()
        # collecting and trimming a large heap takes a moment: not on the server's event loop
        threading.Thread(target=release_free_memory, name="release-session-memory", daemon=True).start()


@st.cache_resource(scope="session", on_release=release_held, show_spinner=False)
def _watch(session_id: str) -> str:
    """A session-scoped resource whose release (the browser gone) lets go of the session's store."""
    return session_id


def _store() -> dict:
    ctx = get_script_run_ctx()
    session_id = ctx.session_id if ctx is not None else ""
    if runtime.exists() and not runtime.get_instance().is_active_session(session_id):
        return {}  # a run still ending after its browser left: what it makes is not kept
    _watch(session_id)
    with _LOCK:
        return _STORES.setdefault(session_id, {})


def of_session(session_id: str) -> dict:
    """A copy of what a session holds (empty once released): for checks from outside the page."""
    with _LOCK:
        return dict(_STORES.get(session_id, {}))


def get(name: str, default: Any = None) -> Any:
    """The value held under `name` for this session (`default` when none, or after a reconnect)."""
    return _store().get(name, default)


def put(name: str, value: Any) -> None:
    _store()[name] = value


def pop(*names: str) -> None:
    """Let go of the values held under `names`."""
    store = _store()
    for name in names:
        store.pop(name, None)
