"""Who is using the dashboard, and the sign-in that comes before every page.

Three ways to know the user, chosen by configuration:
- a trusted reverse proxy puts the signed-in user in a request header (env
  ROUTING_TRUSTED_USER_HEADER names it; ROUTING_TRUSTED_GROUPS_HEADER optionally names a
  comma-separated groups header). Only safe when the app is reachable through that proxy alone;
- Streamlit's own OpenID Connect sign-in (`st.login`), when `.streamlit/secrets.toml` (or a
  file named by `--secrets.files`) has an `[auth]` section;
- neither: one person on this machine, the OS user as admin (`local_user()`), as before.
The role comes from the roles file (`routing_core.users.access.load_roles`). Names are compared and
shown in lower case (`ANA@PLANT.TEST` is ana@plant.test, for her role and for what she owns).

Fail closed: a secrets file that exists but cannot be read or parsed, an `[auth]` section that
cannot be used, a roles file that cannot be read, or a user header sent more than once gets one
message for the administrator and nothing else. Without sign-in or a proxy the app serves only
a loopback address (`server.address`); on any other it serves only a message saying so, unless
`ROUTING_ALLOW_OPEN=1`, and then every page carries a banner.
"""

from __future__ import annotations

import ipaddress
import logging
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

import streamlit as st

from routing_core.platform.errors import UserError
from routing_core.platform.settings import env_name, setting
from routing_core.users.access import User, load_roles, local_user
from ui.nav import PAGES
from ui.text import md

log = logging.getLogger("routing_studio")

USER_HEADER_ENV = env_name("trusted_user_header")
GROUPS_HEADER_ENV = env_name("trusted_groups_header")
ALLOW_OPEN_ENV = env_name("allow_open")
AUTH_NEEDS = ("redirect_uri", "cookie_secret")  # every [auth] section
PROVIDER_NEEDS = ("client_id", "client_secret", "server_metadata_url")  # [auth] or one [auth.NAME]
NAME_CLAIMS = ("email", "preferred_username", "name", "sub")  # the first one present names the user
GROUPS_CLAIM = "groups"
_USER = "_routing_user"  # session key: the user of the current run, set by gate()


class ConfigError(UserError):
    """The sign-in configuration cannot be used: the administrator's to fix; nothing else is served."""


def _name(raw: object) -> str:
    """A user name as compared and shown: stripped, lower case."""
    return str(raw).strip().lower()


def identity_from_claims(claims: Mapping[str, object]) -> tuple[str, tuple[str, ...]] | None:
    """(name, groups) from an ID token's claims: the first of email, preferred_username, name, sub
    (in lower case)."""
    name = next((_name(claims[c]) for c in NAME_CLAIMS if str(claims.get(c) or "").strip()), "")
    if not name:
        return None
    raw = claims.get(GROUPS_CLAIM) or ()
    groups = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, list | tuple) else ()
    return name, tuple(str(g).strip() for g in groups if str(g).strip())


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value the request carried for header `name` (any case), repeated ones included."""
    if hasattr(headers, "get_all"):  # st.context.headers keeps repeated headers
        return [str(v) for v in headers.get_all(name)]
    return [str(v) for k, v in headers.items() if k.lower() == name.lower()]


def _one(headers: Mapping[str, str], name: str) -> str:
    values = _header_values(headers, name)
    if len(values) > 1:
        raise ConfigError(f"The request carried the header {name} {len(values)} times; a sign-in proxy "
                          "sends it once, so this request is refused. Make the proxy replace the header "
                          "a client sends, never add to it.")
    return values[0] if values else ""


def identity_from_headers(headers: Mapping[str, str], user_header: str,
                          groups_header: str | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(name, groups) from the trusted proxy's headers (names compared without case, the user in
    lower case); None without a user. A user or groups header sent more than once is refused
    (ConfigError): the first value may be the client's own, never a proxy's."""
    name = _name(_one(headers, user_header))
    if not name:
        return None
    if "," in name:
        raise ConfigError(f"The request's {user_header} header holds several users ({name[:80]!r}); a "
                          "sign-in proxy sends one, so this request is refused.")
    raw = _one(headers, groups_header) if groups_header else ""
    return name, tuple(g.strip() for g in raw.split(",") if g.strip())


def _secrets_files() -> list[Path]:
    """The TOML secrets files this server reads: Streamlit's (`secrets.files`) and the connections'."""
    from routing_core.database import secrets_path

    found = [Path(p) for p in (st.get_option("secrets.files") or []) if str(p).endswith(".toml")]
    return [*found, secrets_path()]


def check_secrets_files() -> None:
    """ConfigError when a secrets file exists but cannot be read or parsed (missing is fine)."""
    for path in _secrets_files():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(f"The secrets file {path} exists but cannot be read ({why}). Nothing is "
                              "served until it is fixed: it may hold the sign-in settings.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The secrets file {path} is not valid TOML ({exc}). Nothing is served "
                              "until it is fixed: it may hold the sign-in settings.") from None


def _usable(section: object) -> str | None:
    """Why an [auth] section cannot sign anyone in, or None."""
    if not isinstance(section, Mapping):
        return "[auth] must be a table of settings"
    missing = [k for k in AUTH_NEEDS if not str(section.get(k) or "").strip()]
    providers = [section, *(v for v in section.values() if isinstance(v, Mapping))]
    if not any(all(str(p.get(k) or "").strip() for k in PROVIDER_NEEDS) for p in providers):
        missing.append(" and ".join(PROVIDER_NEEDS) + " (in [auth] or one [auth.PROVIDER])")
    return f"[auth] lacks {', '.join(missing)}" if missing else None


def _oidc_configured() -> bool:
    """Whether sign-in is set up in the secrets; ConfigError when a secrets file or its [auth]
    section exists but cannot be used (never read as "no sign-in")."""
    from streamlit.errors import StreamlitSecretNotFoundError

    check_secrets_files()
    try:
        present = "auth" in st.secrets
    except StreamlitSecretNotFoundError:  # no secrets file at all: sign-in is not set up
        return False
    except Exception as exc:  # anything else: fail closed
        raise ConfigError(f"The secrets cannot be read ({type(exc).__name__}: {str(exc)[:200]}).") from None
    if not present:
        return False
    problem = _usable(st.secrets["auth"])
    if problem:
        raise ConfigError(f"Sign-in is configured but cannot be used: {problem}. Nothing is served until "
                          "the [auth] section of the secrets is complete (see the README, Serving a team).")
    return True


def mode() -> str:
    """"proxy", "oidc" or "local": how this server knows its users (ConfigError: none can be used)."""
    if setting("trusted_user_header"):
        return "proxy"
    return "oidc" if _oidc_configured() else "local"


def loopback(address: object) -> bool:
    """Whether the server address serves this machine only (blank and 0.0.0.0 serve every network)."""
    text = str(address or "").strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False  # a blank address, a host name: it may face the network


def open_without_sign_in() -> bool | None:
    """For a server without sign-in: None when it listens on loopback only; True when it listens on
    the network and ROUTING_ALLOW_OPEN=1 says that is meant; False when it must not serve."""
    if loopback(st.get_option("server.address")):
        return None
    return setting("allow_open")


def _identity() -> tuple[str, tuple[str, ...]] | None:
    how = mode()
    if how == "proxy":
        return identity_from_headers(st.context.headers, setting("trusted_user_header"),
                                     setting("trusted_groups_header"))
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


def _refuse(exc: UserError) -> NoReturn:
    log.warning("configuration refused: %s", exc)
    message = md(exc)

    def draw() -> None:
        st.title("Routing Studio")
        st.error(message, icon=":material/error:")
        st.caption("For the administrator of this server; nothing else is served until it is fixed.")

    _only(draw)


OPEN_REFUSED = ("This server listens on {address} without sign-in or a sign-in proxy: anyone who "
                "reaches it would act as {name}, an admin. Nothing is served. Set up sign-in (README, "
                "Serving a team), or serve 127.0.0.1 only; ROUTING_ALLOW_OPEN=1 opens it anyway.")
OPEN_BANNER = ("Open to the network without sign-in (ROUTING_ALLOW_OPEN=1): everyone who reaches this "
               "address acts as {name}, an admin.")


def gate() -> None:
    """Before any page: know the user, or show only a sign-in button (or the administrator's
    message) and stop."""
    st.session_state.pop(_USER, None)
    try:
        how = mode()
        current = resolve()
        opened = open_without_sign_in() if how == "local" else None
    except UserError as exc:  # secrets, [auth], roles, a header or ROUTING_ALLOW_OPEN unusable: fail closed, say why
        _refuse(exc)
    if how == "local":
        address = st.get_option("server.address") or "every address (server.address is not set)"
        if opened is False:
            _refuse(ConfigError(OPEN_REFUSED.format(address=address, name=current.name)))
        if opened:
            st.warning(md(OPEN_BANNER.format(name=current.name)), icon=":material/public:")
    if current is None:
        _only(_sign_in_page)
    st.session_state[_USER] = current
    if how == "local":  # one person, no sign-in: nothing more to say
        return
    with st.sidebar:
        st.caption(f"Signed in as **{md(current.name)}** · {current.role}")
        if how == "oidc":
            st.button("Sign out", key="auth_sign_out", icon=":material/logout:", on_click=st.logout)
