"""What the current user may not do, for buttons shown disabled with the reason (`help=`).

The core refuses the same actions itself (`routing_core.users.access.require`); this only says so
before anyone presses.
"""

from __future__ import annotations

from routing_core.users import access
from routing_core.users.access import why_not
from ui import auth


def reason(action: str, owner: str | None = None) -> str | None:
    """Why the current user may not do `action` (of a job `owner` started), or None when they may."""
    return why_not(auth.user(), action, owner)


def blocked(action: str, owner: str | None = None) -> bool:
    """True when the current user may not do `action`: the button's `disabled=`."""
    return reason(action, owner) is not None


def tip(action: str, text: str | None = None, owner: str | None = None) -> str | None:
    """The button's `help=`: the reason it is disabled, else its own `text`."""
    return reason(action, owner) or text


def require(action: str) -> None:
    """Refuse (Forbidden, a UserError the page shows) what the current user may not do, for the core
    calls that do not check the user themselves yet."""
    access.require(auth.user(), action)
