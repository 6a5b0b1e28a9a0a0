"""Who is using the dashboard, and the sign-in that comes before every page.

Three ways to know the user, chosen by configuration:
- a trusted reverse proxy puts the signed-in user in a request header (env
  ROUTING_TRUSTED_USER_HEADER names it; ROUTING_TRUSTED_GROUPS_HEADER optionally names a
  comma-separated groups header). Only safe when the app is reachable through that proxy alone;
- Streamlit's own OpenID Connect sign-in (`st.login`), when `.streamlit/secrets.toml` (or a
  file named by `--secrets.files`) has an `[auth]` section;
- neither: one person on this machine, the OS user as admin (`local_user()`), as before.
The role comes from the roles file (`routing_core.access.load_roles`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import NoReturn

import streamlit as st

from routing_core.access import User, load_roles, local_user
from routing_core.errors import UserError
from ui.nav import PAGES
from ui.text import md

log = logging.getLogger("routing_studio")

USER_HEADER_ENV = "ROUTING_TRUSTED_USER_HEADER"
GROUPS_HEADER_ENV = "ROUTING_TRUSTED_GROUPS_HEADER"
NAME_CLAIMS = ("email", "preferred_username", "name", "sub")  # the first one present names the user
GROUPS_CLAIM = "groups"
_USER = "_routing_user"  # session key: the user of the current run, set by gate()


def identity_from_claims(claims: Mapping[str, object]) -> tuple[str, tuple[str, ...]] | None:
    """(name, groups) from an ID token's claims: the first of email, preferred_username, name, sub."""
    name = next((str(claims[c]).strip() for c in NAME_CLAIMS if str(claims.get(c) or "").strip()), "")
    if not name:
        return None
    raw = claims.get(GROUPS_CLAIM) or ()
    groups = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, list | tuple) else ()
    return name, tuple(str(g).strip() for g in groups if str(g).strip())


def identity_from_headers(headers: Mapping[str, str], user_header: str,
                          groups_header: str | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(name, groups) from the trusted proxy's headers (names compared without case); None without a user."""
    lowered = {k.lower(): v for k, v in headers.items()}
    name = (lowered.get(user_header.lower()) or "").strip()
    if not name:
        return None
    raw = lowered.get(groups_header.lower(), "") if groups_header else ""
    return name, tuple(g.strip() for g in raw.split(",") if g.strip())


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all, or one that cannot be read: sign-in is not set up
        return False


def mode() -> str:
    """"proxy", "oidc" or "local": how this server knows its users."""
    if os.environ.get(USER_HEADER_ENV, "").strip():
        return "proxy"
    return "oidc" if _oidc_configured() else "local"


def _identity() -> tuple[str, tuple[str, ...]] | None:
    how = mode()
    if how == "proxy":
        return identity_from_headers(dict(st.context.headers), os.environ[USER_HEADER_ENV].strip(),
                                     os.environ.get(GROUPS_HEADER_ENV, "").strip() or None)
    if not st.user.is_logged_in:
        return None
    return identity_from_claims(st.user.to_dict())


def resolve() -> User | None:
    """The user of this request with the role the roles file gives them; None when not signed in."""
    if mode() == "local":
        return local_user()
    found = _identity()
    if found is None:
        return None
    name, groups = found
    return User(name=name, role=load_roles().role_for(name, groups), groups=groups)


def user() -> User:
    """The current user (gate() has run at the top of this run)."""
    current = st.session_state.get(_USER)
    if current is None:
        current = resolve()
        if current is None:
            st.stop()
        st.session_state[_USER] = current
    return current


def _sign_in_page() -> None:
    st.title("Routing Studio")
    if mode() == "proxy":
        st.warning("This dashboard is served behind a sign-in proxy, and this request carried no "
                   "signed-in user. Open it through the proxy's address.", icon=":material/lock:")
        return
    st.caption("Sign in to see the routings, models and predictions of this plant.")
    st.button("Sign in", key="auth_sign_in", type="primary", icon=":material/login:", on_click=st.login)


def _only(draw: Callable[[], None]) -> NoReturn:
    """Draw this instead of any page, then stop the run.

    The pages stay known (a page's address opens it once signed in, and no "page not found"
    shows meanwhile), but the menu is hidden and no page runs."""
    st.navigation([st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES], position="hidden")
    draw()
    st.stop()


def gate() -> None:
    """Before any page: know the user, or show only a sign-in button and stop."""
    st.session_state.pop(_USER, None)
    try:
        current = resolve()
    except UserError as exc:  # a roles file that cannot be read: fail closed, say why
        log.warning("roles file refused: %s", exc)
        message = md(exc)
        _only(lambda: st.error(message, icon=":material/error:"))
    if current is None:
        _only(_sign_in_page)
    st.session_state[_USER] = current
    how = mode()
    if how == "local":  # one person, no sign-in: nothing to say
        return
    with st.sidebar:
        st.caption(f"Signed in as **{md(current.name)}** · {current.role}")
        if how == "oidc":
            st.button("Sign out", key="auth_sign_out", icon=":material/logout:", on_click=st.logout)
