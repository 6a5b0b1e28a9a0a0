"""Talking to a database: connecting, listing tables, and running one checked SELECT read-only,
in chunks, with a row limit and a timeout, into a RawTable like a file read."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from routing_core.database.connections import (
    MASK,
    ConnectionSpec,
    mask,
    max_row_limit,
    require_read,
)
from routing_core.database.sample_db import ensure_sample_db
from routing_core.database.sql import TableInfo, check_select
from routing_core.datasets import RawTable
from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_CELLS, MAX_COLUMNS

CHUNK_ROWS = 50_000
MAX_TABLES = 500

Progress = Callable[[int, int], None]  # (rows read so far, row limit)


def connect_engine(spec: ConnectionSpec, writable: bool = False):
    """An engine for `spec`; its PostgreSQL sessions are read-only unless `writable` (the one write
    the tool makes: accepted routings into the staging table the connection names)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    if spec.problem:
        raise UserError(spec.problem)
    if spec.bundled:
        ensure_sample_db(Path(spec.url.database).parent)
    args: dict = {}
    if spec.dialect == "postgresql":
        args["connect_timeout"] = max(1, int(min(spec.timeout, 30)))
    if spec.dialect == "postgresql" and not writable:
        # Every transaction of the session read-only by default, besides SET TRANSACTION READ ONLY.
        given = str(spec.url.query.get("options") or "")
        args["options"] = (given + " " if given else "") + "-c default_transaction_read_only=on"
    elif spec.dialect == "sqlite":
        args["check_same_thread"] = False  # the timeout interrupts it from a timer thread
        if not Path(spec.url.database or "").is_file():
            raise UserError(f"Cannot connect to '{spec.name}': the SQLite file {spec.url.database} does not exist.")
    try:
        return create_engine(spec.url, poolclass=NullPool, connect_args=args)
    except NoSuchModuleError:
        raise UserError(
            f"Connection '{spec.name}' names an unknown database kind ({spec.url.drivername}); see the "
            "README for the URLs of SQL Server, Oracle, MySQL and PostgreSQL."
        ) from None
    except (ModuleNotFoundError, ImportError) as exc:
        raise UserError(
            f"Connection '{spec.name}' needs the Python driver '{exc.name or exc}' "
            f"({spec.url.drivername}): install it into the environment (see the README)."
        ) from None
    except ArgumentError:
        raise UserError(f"Connection '{spec.name}': its URL cannot be used ({spec.shown}).") from None


_AUTH = ("password authentication failed", "access denied for user", "login failed", "ora-01017",
         "authentication failed", "invalid password", "no password supplied")


def first_line(exc: BaseException, spec: ConnectionSpec) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    for secret in _secrets_of(spec):
        text = text.replace(secret, MASK)
    return mask(text)[:300]


def _secrets_of(spec: ConnectionSpec) -> list[str]:
    """What of the connection's URL a driver's message must never quote: the password, the part of a
    host before an unencoded '@' (a password's tail), and password-like query values."""
    url = spec.url
    if url is None:
        return []
    found = [str(url.password or "")]
    if "@" in str(url.host or ""):
        found.append(str(url.host).rsplit("@", 1)[0])
    for key, value in url.query.items():
        if mask(f"?{key}=v") != f"?{key}=v":
            found += [str(v) for v in (value if isinstance(value, tuple) else (value,))]
    return sorted({f for f in found if len(f) >= 3}, key=len, reverse=True)


def _connect(engine, spec: ConnectionSpec):
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return engine.connect()
    except SQLAlchemyError as exc:
        detail = first_line(exc, spec)
        if any(k in str(getattr(exc, "orig", exc)).lower() for k in _AUTH):
            raise UserError(
                f"Cannot connect to '{spec.name}': the database refused the user name or password "
                f"(user '{spec.url.username}'). Check [connections.{spec.name}] in the secrets file."
            ) from None
        raise UserError(f"Cannot connect to '{spec.name}' ({spec.shown}): {detail}") from None


def _read_only(conn, spec: ConnectionSpec, timeout: float) -> None:
    """Make the transaction read-only (and bounded in time) where the database can."""
    dialect = spec.dialect
    if dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
    elif dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
    elif dialect in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    elif dialect == "oracle":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    # SQL Server has no read-only transaction: the statement check (and a read-only login) guard it.


_PG_PRIVILEGES = """
SELECT r.rolsuper,
       r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls,
       has_database_privilege(current_database(), 'CREATE'),
       EXISTS (SELECT 1 FROM pg_namespace n WHERE left(n.nspname, 3) <> 'pg_' AND n.nspname <> 'information_schema'
               AND has_schema_privilege(n.oid, 'CREATE')),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND left(n.nspname, 3) <> 'pg_'
           AND n.nspname <> 'information_schema'
           AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
                OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))),
       ARRAY(SELECT b.rolname FROM pg_roles b
              WHERE b.rolname IN ('pg_write_server_files', 'pg_read_server_files', 'pg_execute_server_program',
                                  'pg_signal_backend', 'pg_write_all_data')
                AND pg_has_role(current_user, b.oid, 'MEMBER'))
  FROM pg_roles r WHERE r.rolname = current_user
"""


def _pg_warnings(conn, spec: ConnectionSpec) -> tuple[bool, list[str]]:
    """(superuser, warnings) for the login of a PostgreSQL connection."""
    row = conn.exec_driver_sql(_PG_PRIVILEGES).fetchone()
    if row is None:
        return False, []
    superuser, admin_flags, create_db, create_schema, writable, roles = row
    login = spec.url.username or "this login"
    warnings = []
    if superuser:
        warnings.append(f"'{spec.name}' signs in as a superuser ({login}): a read-only transaction does not "
                        "stop a superuser's functions (another connection through dblink, ending other "
                        "sessions, reading the server's files). Reads are refused; give the connection a "
                        "login that can only read (README, Reading from a database).")
    if writable:
        warnings.append(f"'{spec.name}': {login} may insert, update or delete in {writable:,} table(s); "
                        "reads run read-only, but a login that can only read (SELECT) is safer.")
    if create_db or create_schema or admin_flags:
        warnings.append(f"'{spec.name}': {login} may create objects (CREATE on the database or a schema, "
                        "or roles and databases); a login that can only read is safer.")
    if roles:
        warnings.append(f"'{spec.name}': {login} is a member of {', '.join(roles)}, which reach beyond "
                        "reading tables (server files, other sessions).")
    return bool(superuser), warnings


def privileges(spec: ConnectionSpec, *, user) -> list[str]:
    """Warnings about the connection's login: a superuser, or one that may write or create
    (PostgreSQL; other databases: none are checked, said so). `user` must be allowed to read it."""
    from sqlalchemy.exc import SQLAlchemyError

    require_read(user, spec.name)
    if spec.dialect != "postgresql":
        return [] if spec.dialect == "sqlite" else [
            f"'{spec.name}': the login's rights are not checked for {spec.dialect}; give it a login that "
            "can only read."]
    engine = connect_engine(spec)
    try:
        with _connect(engine, spec) as conn:
            try:
                return _pg_warnings(conn, spec)[1]
            except SQLAlchemyError as exc:
                return [f"'{spec.name}': the login's rights could not be checked ({first_line(exc, spec)})."]
    finally:
        engine.dispose()


def _refuse_superuser(conn, spec: ConnectionSpec) -> None:
    if spec.dialect == "postgresql" and not spec.allow_superuser:
        superuser, warnings = _pg_warnings(conn, spec)
        if superuser:
            raise UserError(warnings[0] + " (allow_superuser = true in the connection's entry reads anyway.)")


def _canceller(conn) -> Callable[[], None] | None:
    raw = conn.connection.dbapi_connection
    for name in ("interrupt", "cancel_safe", "cancel"):
        method = getattr(raw, name, None)
        if callable(method):
            return method
    return None



def list_tables(spec: ConnectionSpec, *, user) -> list[TableInfo]:
    """The tables and views of the connection's default schema, with their columns; `user` must be
    allowed to read the connection (`require_read`)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    require_read(user, spec.name)
    engine = connect_engine(spec)
    try:
        with _connect(engine, spec) as conn:
            try:
                _refuse_superuser(conn, spec)
                insp = inspect(conn)
                names = [(n, "table") for n in insp.get_table_names()]
                names += [(n, "view") for n in insp.get_view_names()]
                found = []
                for name, kind in sorted(names, key=lambda p: p[0].lower())[:MAX_TABLES]:
                    cols = [(str(c["name"]), str(c["type"])) for c in insp.get_columns(name)]
                    found.append(TableInfo(name, kind, cols))
                return found
            except SQLAlchemyError as exc:
                raise UserError(f"Cannot list the tables of '{spec.name}': {first_line(exc, spec)}") from None
    finally:
        engine.dispose()


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Database values as the file readers give them: decimals as floats, odd objects as text."""
    for col in frame.columns:
        values = frame[col]
        if values.dtype != object:
            continue
        filled = values.dropna()
        if filled.empty:
            continue
        if filled.map(lambda v: isinstance(v, Decimal | int | float) and not isinstance(v, bool)).all():
            frame[col] = pd.to_numeric(values.map(lambda v: None if v is None else float(v)), errors="coerce")
        elif filled.map(lambda v: isinstance(v, str)).all():
            frame[col] = values.astype("str").where(values.notna())
        elif not filled.map(lambda v: isinstance(v, datetime | pd.Timestamp)).all():
            frame[col] = values.map(lambda v: v if v is None or isinstance(v, str) else str(v)).astype("str")
            frame.loc[values.isna(), col] = None
    return frame


def content_sha256(frame: pd.DataFrame) -> str:
    """A digest of the rows whatever their order (a database need not return them in one order)."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(copy=True)
    rows.sort()
    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(json.dumps([str(t) for t in frame.dtypes]).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


@dataclass
class QueryResult:
    raw: RawTable
    rows: int
    seconds: float
    read_at: str


def read_query(spec: ConnectionSpec, sql: str, row_limit: int | None = None, timeout: float | None = None,
               progress: Progress | None = None, chunk_rows: int = CHUNK_ROWS, *, user) -> QueryResult:
    """Run one checked SELECT read-only and return its rows as a RawTable (like a file read).

    `user` must be allowed to read the connection (`require_read`: analysts and admins, and the
    connections the roles file gives their role).

    More rows than `row_limit` (the connection's by default) or a run longer than `timeout`
    seconds are refused with a message; nothing is stored either way.
    """
    from sqlalchemy.exc import SQLAlchemyError

    require_read(user, spec.name)
    query = check_select(sql)
    limit = int(row_limit or min(spec.row_limit, max_row_limit()))
    if not 1 <= limit <= max_row_limit():
        raise UserError(f"The row limit must be from 1 to {max_row_limit():,} (got {limit:,}).")
    seconds = float(timeout or spec.timeout)
    engine = connect_engine(spec)
    started = time.monotonic()
    timed_out = threading.Event()
    timer = None
    chunks: list[pd.DataFrame] = []
    rows = 0
    try:
        with _connect(engine, spec) as conn:
            try:
                cancel = _canceller(conn)
                if cancel is not None:
                    def stop() -> None:
                        timed_out.set()
                        cancel()

                    timer = threading.Timer(seconds, stop)
                    timer.daemon = True
                    timer.start()
                _read_only(conn, spec, seconds)
                _refuse_superuser(conn, spec)
                result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows) \
                    .exec_driver_sql(query)
                if not result.returns_rows:
                    raise UserError("The query returns no rows to read.")
                columns = [str(c) for c in result.keys()]
                _check_columns(columns)
                # (not the driver's cursor: with stream_results SQLAlchemy has read ahead of it)
                while True:
                    block = result.fetchmany(chunk_rows)
                    if not block:
                        break
                    rows += len(block)
                    if rows > limit:
                        raise UserError(
                            f"The query returns more than {limit:,} rows (the row limit of '{spec.name}'). "
                            "Narrow it with a WHERE clause, or raise the limit; nothing was stored."
                        )
                    MAX_CELLS.check(rows * len(columns), f"The result of the query on '{spec.name}'")
                    chunks.append(pd.DataFrame.from_records([tuple(r) for r in block], columns=columns))
                    if time.monotonic() - started > seconds:
                        timed_out.set()
                        raise UserError(_timeout_message(spec, seconds))
                    if progress is not None:
                        progress(rows, limit)
                result.close()
                conn.rollback()
            except SQLAlchemyError as exc:
                if timed_out.is_set() or "statement timeout" in str(exc).lower():
                    raise UserError(_timeout_message(spec, seconds)) from None
                raise UserError(f"The database refused the query: {first_line(exc, spec)}") from None
    finally:
        if timer is not None:
            timer.cancel()
        engine.dispose()
    if not rows:
        raise UserError("The query returned no rows: there is nothing to read.")
    frame = _tidy(pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0])
    raw = RawTable(frame, "database", None, content_sha256(frame), f"{spec.name} (database)")
    return QueryResult(raw, rows, time.monotonic() - started, datetime.now(UTC).isoformat(timespec="seconds"))


def _timeout_message(spec: ConnectionSpec, seconds: float) -> str:
    return (f"The query on '{spec.name}' took longer than {seconds:g} s and was stopped. "
            "Narrow it, or raise the connection's timeout; nothing was stored.")


def _check_columns(columns: list[str]) -> None:
    MAX_COLUMNS.check(len(columns), "The result of the query")
    blank = [i + 1 for i, c in enumerate(columns) if not c.strip()]
    if blank:
        raise UserError(f"Column {blank[0]} of the result has no name: give it one with AS.")
    seen = {c for c in columns if columns.count(c) > 1}
    if seen:
        raise UserError(
            f"The result has the column name(s) {', '.join(map(repr, sorted(seen)))} more than once: "
            "name each column once (AS)."
        )
