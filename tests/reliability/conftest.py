"""Reliability tests drive the app like tests/app does: the same steady-server setup for AppTest."""

from __future__ import annotations

from tests.app.conftest import steady_server  # noqa: F401  (autouse fixture, see its docstring)
