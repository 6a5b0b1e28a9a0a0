"""Named database connections: the bundled `sample` and those of the secrets file, each a
ConnectionSpec (its URL holds the password: never shown or stored)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from routing_core.datasets import data_home
from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_ROWS
from routing_core.platform.names import check_name
from routing_core.platform.settings import env_name, setting

SECRETS_ENV = env_name("secrets")
BUNDLED = "sample"
SAMPLE_DB = "sample.sqlite"
# A million operation rows is the performance budget; twice that is still read by default, and
# no connection reads more than a file may hold (routing_core.platform.limits: rows, columns, cells).
DEFAULT_ROW_LIMIT = 2_000_000
DEFAULT_TIMEOUT_S = 60.0


# What may hold a credential in a URL or a driver's message: the user-info before the host (up to
# the last '@', so an unencoded '@' in a password hides its tail too), and query parameters or
# ODBC keywords named like a password or a key (also inside an encoded odbc_connect).
_USERINFO = re.compile(r"([A-Za-z][\w+.-]*://)[^\s'\"<>]*@")
_SECRET_KEYS = (r"(?:password|passwd|pwd|pass|secret|token|access_token|api_key|apikey|sslpassword|sslkey|auth|key"
                r"|uid|user|username)")
_SECRET_PARAM = re.compile(
    r"((?:^|[?&;\s]|%3B|%26)" + _SECRET_KEYS + r"\s*(?:=|%3D))"
    r"(\{[^}]*\}|%7B(?:(?!%7D).)*%7D|(?:(?!%3B|%26)[^&;\s'\"])*)",
    re.IGNORECASE)
MASK = "***"


def mask(text: object) -> str:
    """`text` (a URL, or a message that may quote one) with every credential masked: user-info,
    password-like query parameters, ODBC `PWD=` (also URL-encoded inside odbc_connect)."""
    out = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", str(text))
    return _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, out)


@dataclass(frozen=True)
class ConnectionSpec:
    """A named database connection (its URL holds the password: never show or store `url`)."""

    name: str
    url: object  # sqlalchemy.engine.URL
    row_limit: int = DEFAULT_ROW_LIMIT
    timeout: float = DEFAULT_TIMEOUT_S
    bundled: bool = False
    problem: str = ""  # why the entry cannot be used (bad URL, missing keys)
    allow_superuser: bool = False  # read even when the login is a superuser (PostgreSQL; not advised)
    staging_table: str = ""  # the one table accepted routings may be inserted into ("" = none)

    @property
    def shown(self) -> str:
        """The URL with every credential masked (`mask`): what captions, the CLI and records show."""
        if self.url is None:
            return "—"
        return mask(self.url.render_as_string(hide_password=True))

    @property
    def dialect(self) -> str:
        return "" if self.url is None else self.url.get_backend_name()


def may_read(user: object, name: str) -> str | None:
    """None when `user` may read connection `name`, else why not: only analysts and admins read a
    database, and the roles file may narrow which connections a role uses (`[connections]`)."""
    from routing_core.users.access import NO_USER, User, load_roles

    if not isinstance(user, User):
        return NO_USER
    return load_roles().may_use_connection(user, name)


def require_read(user: object, name: str) -> None:
    """UserError (Forbidden for a known user) unless `user` may read connection `name`."""
    from routing_core.users.access import Forbidden, User

    reason = may_read(user, name)
    if reason is not None:
        if isinstance(user, User):
            raise Forbidden(user, "read_database", "analyst", reason)
        raise UserError(reason)


def secrets_path() -> Path:
    """$ROUTING_SECRETS, else .streamlit/secrets.toml of the working folder (where Streamlit looks)."""
    return setting("secrets")


class _BadEntry(ValueError):
    """A connection entry's own problem, in words that never quote its values."""


def _url(entry: Mapping) -> object:
    from sqlalchemy.engine import URL, make_url

    if "url" in entry:
        if not isinstance(entry["url"], str) or not entry["url"].strip():
            raise _BadEntry("'url' must be a non-empty text")
        return make_url(entry["url"].strip())
    if "dialect" not in entry:
        raise _BadEntry("give a 'url' (or at least 'dialect' and 'database')")
    drivername = str(entry["dialect"]) + (f"+{entry['driver']}" if entry.get("driver") else "")
    return URL.create(
        drivername,
        username=entry.get("username"),
        password=entry.get("password"),
        host=entry.get("host"),
        port=int(entry["port"]) if entry.get("port") else None,
        database=entry.get("database"),
        query=dict(entry.get("query") or {}),
    )


def max_row_limit() -> int:
    """The highest row limit a read may have: the file readers' row limit."""
    return MAX_ROWS.value


def _number(entry: Mapping, key: str, default: float, low: float, high: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _BadEntry(f"'{key}' must be a number from {low:g} to {high:g}")
    return value


def _spec(name: str, entry: object) -> ConnectionSpec:
    from sqlalchemy.exc import ArgumentError

    try:
        check_name(name, "connection name")
        if not isinstance(entry, Mapping):
            raise _BadEntry("it is not a table of settings")
        url = _url(entry)
        high = max_row_limit()
        limit = int(_number(entry, "row_limit", min(DEFAULT_ROW_LIMIT, high), 1, high))
        timeout = float(_number(entry, "timeout", DEFAULT_TIMEOUT_S, 0.1, 3600))
        allow_superuser = entry.get("allow_superuser", False)
        if not isinstance(allow_superuser, bool):
            raise _BadEntry("'allow_superuser' must be true or false")
        staging = _staging(entry)
    except (ValueError, TypeError, UserError, ArgumentError) as exc:
        # the text of a bad URL may hold the password: the message never quotes the entry
        reason = str(exc) if isinstance(exc, UserError | _BadEntry) else "its URL cannot be read"
        return ConnectionSpec(name, None, problem=f"Connection '{name}' cannot be used: {reason}.")
    return ConnectionSpec(name, url, limit, timeout, allow_superuser=allow_superuser, staging_table=staging)


_TABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?")


def _staging(entry: Mapping) -> str:
    """The entry's `staging_table` (`table` or `schema.table`), or "" when it names none."""
    value = entry.get("staging_table", "")
    if not isinstance(value, str) or (value and not _TABLE_RE.fullmatch(value.strip())):
        raise _BadEntry("'staging_table' must be a table name (letters, digits, _; optionally schema.table)")
    return value.strip()


def sample_spec(home: str | os.PathLike | None = None) -> ConnectionSpec:
    """The bundled SQLite connection (the file is built when first connected)."""
    from sqlalchemy.engine import URL

    path = Path(home if home is not None else data_home()).resolve() / SAMPLE_DB
    return ConnectionSpec(BUNDLED, URL.create("sqlite", database=str(path)), bundled=True)


def connections(home: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> dict[str, ConnectionSpec]:
    """Every named connection: the bundled `sample` first, then those of the secrets file."""
    found = {BUNDLED: sample_spec(home)}
    file = Path(path) if path is not None else secrets_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return found
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file} cannot be read: {exc}") from None
    try:
        secrets = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{file} is not valid TOML: {exc}.") from None
    entries = secrets.get("connections", {})
    if not isinstance(entries, Mapping):
        raise UserError(f"{file}: 'connections' must be a table of [connections.NAME] entries.")
    for name, entry in entries.items():
        found[name] = _spec(str(name), entry)
    return found


def connection(name: str, home: str | os.PathLike | None = None,
               path: str | os.PathLike | None = None) -> ConnectionSpec:
    """The connection named `name`, or a UserError that says which ones exist."""
    known = connections(home, path)
    if name not in known:
        raise UserError(
            f"No connection named '{name}' (known: {', '.join(known)}). Add it as "
            f"[connections.{name}] with a url in {path or secrets_path()}."
        )
    spec = known[name]
    if spec.problem:
        raise UserError(spec.problem)
    return spec


def url_spec(url: str, row_limit: int | None = None, timeout: float | None = None) -> ConnectionSpec:
    """A connection given as a URL on the command line (`--db-url`)."""
    spec = _spec("db-url", {"url": url})
    if spec.problem:
        raise UserError("--db-url cannot be read as a database URL (dialect+driver://user:password@host/db).")
    return ConnectionSpec("db-url", spec.url, row_limit or DEFAULT_ROW_LIMIT, timeout or DEFAULT_TIMEOUT_S)
