"""The one exception type a user can cause; the UI and the CLI show its text as is."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from a user: a message written for that user, naming the problem and where."""
