"""Routings read straight from a database: named connections, a checked read-only SELECT, refresh.

Connections are named in `.streamlit/secrets.toml` the way Streamlit's `st.connection` names them:

    [connections.plant]
    url = "postgresql+psycopg://analyst:secret@erp-db:5432/erp"
    row_limit = 1000000   # optional
    timeout = 60          # optional, seconds

(or the URL's parts: dialect, driver, username, password, host, port, database, query). The
bundled connection `sample` is a SQLite file built from the sample data in the data home at
first use. A read is one `SELECT` (or `WITH … SELECT`), run in a read-only transaction where the
database has one, fetched in chunks with a row limit and a timeout; the result goes through the
same mapping and checks as a file (`datasets.normalise`) and is stored as a dataset whose record
names its source (connection, query, time, rows; never the password).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from routing_core.datasets import (
    Dataset,
    DatasetRecord,
    DatasetStore,
    RawTable,
    data_home,
    normalise,
)
from routing_core.errors import UserError
from routing_core.limits import MAX_CELLS, MAX_COLUMNS, MAX_ROWS
from routing_core.names import check_name
from routing_core.schema import ITEM, PROCESS

SECRETS_ENV = "ROUTING_SECRETS"
BUNDLED = "sample"
SAMPLE_DB = "sample.sqlite"
# A million operation rows is the performance budget; twice that is still read by default, and
# no connection reads more than a file may hold (routing_core.limits: rows, columns, cells).
DEFAULT_ROW_LIMIT = 2_000_000
DEFAULT_TIMEOUT_S = 60.0
CHUNK_ROWS = 50_000
MAX_TABLES = 500
MAX_QUERY_CHARS = 100_000

Progress = Callable[[int, int], None]  # (rows read so far, row limit)


# ---------------------------------------------------------------- connections


@dataclass(frozen=True)
class ConnectionSpec:
    """A named database connection (its URL holds the password: never show or store `url`)."""

    name: str
    url: object  # sqlalchemy.engine.URL
    row_limit: int = DEFAULT_ROW_LIMIT
    timeout: float = DEFAULT_TIMEOUT_S
    bundled: bool = False
    problem: str = ""  # why the entry cannot be used (bad URL, missing keys)

    @property
    def shown(self) -> str:
        """The URL with the password masked."""
        if self.url is None:
            return "—"
        return self.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return "" if self.url is None else self.url.get_backend_name()


def secrets_path() -> Path:
    """$ROUTING_SECRETS, else .streamlit/secrets.toml of the working folder (where Streamlit looks)."""
    return Path(os.environ.get(SECRETS_ENV) or Path(".streamlit") / "secrets.toml")


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
    except (ValueError, TypeError, UserError, ArgumentError) as exc:
        # the text of a bad URL may hold the password: the message never quotes the entry
        reason = str(exc) if isinstance(exc, UserError | _BadEntry) else "its URL cannot be read"
        return ConnectionSpec(name, None, problem=f"Connection '{name}' cannot be used: {reason}.")
    return ConnectionSpec(name, url, limit, timeout)


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


# ---------------------------------------------------------------- the bundled database


ITEM_COLUMNS = ("item_code", "part_type", "material", "outer_diameter_mm", "length_mm", "weight_kg",
                "tolerance_class", "surface_treatment", "heat_treated", "threaded")
ROUTING_COLUMNS = ("item_code", "seq", "process_code", "duration_min", "work_center", "outsourced")
_build_lock = threading.Lock()


def ensure_sample_db(home: str | os.PathLike | None = None) -> Path:
    """The bundled SQLite database, built from the sample data on first use (written atomically).

    Tables `item_master` and `routing_operation`, with the views `v_item` and `v_routing` an ERP
    would offer over them.
    """
    from routing_core.sample import generate

    path = Path(sample_spec(home).url.database)
    if path.is_file():
        return path
    with _build_lock:
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = generate()
        items = frame.drop_duplicates(ITEM)[list(ITEM_COLUMNS)]
        ops = frame[list(ROUTING_COLUMNS)]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            db = sqlite3.connect(tmp)
            try:
                items.to_sql("item_master", db, index=False)
                ops.to_sql("routing_operation", db, index=False)
                db.executescript(
                    "CREATE UNIQUE INDEX ix_item ON item_master(item_code);"
                    "CREATE INDEX ix_routing_item ON routing_operation(item_code, seq);"
                    "CREATE VIEW v_item AS SELECT * FROM item_master;"
                    "CREATE VIEW v_routing AS SELECT * FROM routing_operation;"
                )
                db.commit()
            finally:
                db.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------- checking a query

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# Words a read never needs: data or schema changes, procedures, locks, session changes.
_REFUSED = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "DROP", "ALTER", "CREATE", "TRUNCATE", "RENAME",
    "GRANT", "REVOKE", "EXEC", "EXECUTE", "CALL", "DO", "COPY", "INTO", "LOCK", "PRAGMA", "ATTACH",
    "DETACH", "VACUUM", "ANALYZE", "REINDEX", "SET", "RESET", "BEGIN", "COMMIT", "ROLLBACK",
    "SAVEPOINT", "RELEASE", "DECLARE", "PREPARE", "LOAD", "HANDLER", "SHUTDOWN", "KILL", "USE",
    "LISTEN", "NOTIFY", "REFRESH", "CLUSTER", "COMMENT", "SECURITY", "IMPORT", "OUTFILE", "DUMPFILE",
}


def _code_only(sql: str) -> str:
    """The SQL with comments blanked out and string literals and quoted names masked (same length)."""
    out, i, n = [], 0, len(sql)
    while i < n:
        ch, nxt = sql[i], sql[i + 1 : i + 2]
        if ch == "-" and nxt == "-":
            end = sql.find("\n", i)
            end = n if end < 0 else end
        elif ch == "/" and nxt == "*":
            end = sql.find("*/", i + 2)
            if end < 0:
                raise UserError("The query has a comment that is never closed ('/*' without '*/').")
            end += 2
        elif ch in "'\"`[":
            close = "]" if ch == "[" else ch
            end = i + 1
            while True:
                end = sql.find(close, end)
                if end < 0:
                    raise UserError(f"The query has a quote that is never closed ({ch} at character {i + 1}).")
                if sql[end + 1 : end + 2] == close and close != "]":
                    end += 2  # a doubled quote inside the literal
                    continue
                end += 1
                break
            out.append("\x01" * (end - i))  # not blank: a literal at the end stays part of the query
            i = end
            continue
        else:
            out.append(ch)
            i += 1
            continue
        out.append(" " * (end - i))
        i = end
    return "".join(out)


def check_select(sql: str) -> str:
    """`sql` (without a trailing ';') if it is one read-only SELECT, else a UserError saying why."""
    if not isinstance(sql, str) or not sql.strip():
        raise UserError("The query is empty: write one SELECT statement.")
    if len(sql) > MAX_QUERY_CHARS:
        raise UserError(f"The query is too long ({len(sql):,} characters, at most {MAX_QUERY_CHARS:,}).")
    if "\x00" in sql:
        raise UserError("The query holds a NUL character.")
    code = _code_only(sql)
    stripped = code.rstrip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    if ";" in stripped:
        raise UserError("Only one statement is allowed: remove everything after the first ';'.")
    words = [w.upper() for w in _WORD.findall(stripped)]
    if not words or words[0] not in ("SELECT", "WITH"):
        first = words[0] if words else stripped.strip()[:20]
        raise UserError(f"Only a SELECT query is allowed (this one starts with {first}); nothing was run.")
    refused = [w for w in words if w in _REFUSED]
    if refused:
        raise UserError(
            f"Only reading is allowed: '{refused[0]}' is refused in a query; nothing was run."
        )
    if "FOR" in words and any(w in ("UPDATE", "SHARE") for w in words):
        raise UserError("Only reading is allowed: a locking read (FOR UPDATE / SHARE) is refused.")
    return sql[: len(stripped)].strip()


# ---------------------------------------------------------------- talking to the database


def _engine(spec: ConnectionSpec):
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


def _first_line(exc: BaseException, spec: ConnectionSpec) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    password = spec.url.password if spec.url is not None else None
    if password:
        text = text.replace(str(password), "***")
    return text[:300]


def _connect(engine, spec: ConnectionSpec):
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return engine.connect()
    except SQLAlchemyError as exc:
        detail = _first_line(exc, spec)
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


def _canceller(conn) -> Callable[[], None] | None:
    raw = conn.connection.dbapi_connection
    for name in ("interrupt", "cancel_safe", "cancel"):
        method = getattr(raw, name, None)
        if callable(method):
            return method
    return None


@dataclass
class TableInfo:
    name: str
    kind: str  # "table" or "view"
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type)


def list_tables(spec: ConnectionSpec) -> list[TableInfo]:
    """The tables and views of the connection's default schema, with their columns."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    engine = _engine(spec)
    try:
        with _connect(engine, spec) as conn:
            try:
                insp = inspect(conn)
                names = [(n, "table") for n in insp.get_table_names()]
                names += [(n, "view") for n in insp.get_view_names()]
                found = []
                for name, kind in sorted(names, key=lambda p: p[0].lower())[:MAX_TABLES]:
                    cols = [(str(c["name"]), str(c["type"])) for c in insp.get_columns(name)]
                    found.append(TableInfo(name, kind, cols))
                return found
            except SQLAlchemyError as exc:
                raise UserError(f"Cannot list the tables of '{spec.name}': {_first_line(exc, spec)}") from None
    finally:
        engine.dispose()


def _quote(spec: ConnectionSpec, name: str) -> str:
    from sqlalchemy.engine import default

    dialect = spec.url.get_dialect()() if spec.url is not None else default.DefaultDialect()
    return dialect.identifier_preparer.quote(name)


def table_query(spec: ConnectionSpec, table: str) -> str:
    """SELECT every column of one table or view."""
    return f"SELECT * FROM {_quote(spec, table)}"


def join_query(spec: ConnectionSpec, items: TableInfo, routings: TableInfo, on: str) -> str:
    """The routing view's rows with the item view's attributes (LEFT JOIN on `on`)."""
    q = lambda n: _quote(spec, n)  # noqa: E731
    have = {c for c, _ in routings.columns}
    if on not in have or on not in {c for c, _ in items.columns}:
        raise UserError(f"'{on}' is not a column of both {items.name} and {routings.name}.")
    extra = [c for c, _ in items.columns if c not in have]
    picked = ", ".join(["r.*", *(f"i.{q(c)}" for c in extra)])
    return (f"SELECT {picked}\nFROM {q(routings.name)} r\n"
            f"LEFT JOIN {q(items.name)} i ON i.{q(on)} = r.{q(on)}")


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
               progress: Progress | None = None, chunk_rows: int = CHUNK_ROWS) -> QueryResult:
    """Run one checked SELECT read-only and return its rows as a RawTable (like a file read).

    More rows than `row_limit` (the connection's by default) or a run longer than `timeout`
    seconds are refused with a message; nothing is stored either way.
    """
    from sqlalchemy.exc import SQLAlchemyError

    query = check_select(sql)
    limit = int(row_limit or min(spec.row_limit, max_row_limit()))
    if not 1 <= limit <= max_row_limit():
        raise UserError(f"The row limit must be from 1 to {max_row_limit():,} (got {limit:,}).")
    seconds = float(timeout or spec.timeout)
    engine = _engine(spec)
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
                raise UserError(f"The database refused the query: {_first_line(exc, spec)}") from None
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


# ---------------------------------------------------------------- datasets from a database


def source_record(spec: ConnectionSpec, sql: str, result: QueryResult, *, base: str | None = None,
                  revision: int = 1, previous: str | None = None) -> dict:
    """What a dataset record keeps of its database source (no password, ever)."""
    source = {
        "kind": "database",
        "connection": spec.name,
        "dialect": spec.dialect,
        "query": check_select(sql),
        "read_at": result.read_at,
        "rows": result.rows,
        "seconds": round(result.seconds, 3),
        "revision": revision,
        "base": base,
        "previous": previous,
    }
    if spec.name == "db-url":  # given on the command line: keep where, masked, to say it later
        source["url"] = spec.shown
    return source


def to_dataset(spec: ConnectionSpec, sql: str, result: QueryResult,
               mapping: Mapping[str, str] | None = None, **source: object) -> Dataset:
    """The query's rows through the file path's mapping and checks, with the source recorded."""
    dataset = normalise(result.raw, mapping)
    dataset.sha256 = result.raw.sha256
    dataset.source = source_record(spec, sql, result, **source)
    return dataset


def fetch(spec: ConnectionSpec, sql: str, mapping: Mapping[str, str] | None = None,
          row_limit: int | None = None, timeout: float | None = None,
          progress: Progress | None = None) -> Dataset:
    """Read a query and normalise it (nothing is stored)."""
    return to_dataset(spec, sql, read_query(spec, sql, row_limit, timeout, progress), mapping)


def save(store: DatasetStore, name: str, dataset: Dataset) -> tuple[DatasetRecord, bool]:
    """Store a dataset read from a database; its revision family is named after it."""
    check_name(name, "dataset name")
    if dataset.source and not dataset.source.get("base"):
        dataset.source = {**dataset.source, "base": name}
    return store.save(name, dataset)


def routings_of(ops: pd.DataFrame) -> pd.Series:
    """Each item's routing as one text ("SAW → MILL → INSPECT"), rows grouped by item in order."""
    return ops.groupby(ITEM, sort=False)[PROCESS].agg(" → ".join)


def routing_diff(old: pd.DataFrame, new: pd.DataFrame, examples: int = 5) -> dict:
    """How two operation tables differ in items and in routings."""
    before, after = routings_of(old), routings_of(new)
    added = after.index.difference(before.index)
    removed = before.index.difference(after.index)
    common = after.index.intersection(before.index)
    changed_mask = before.loc[common].to_numpy() != after.loc[common].to_numpy()
    changed = common[changed_mask]
    return {
        "items_before": int(len(before)),
        "items_after": int(len(after)),
        "items_added": int(len(added)),
        "items_removed": int(len(removed)),
        "routings_changed": int(len(changed)),
        "rows_before": int(len(old)),
        "rows_after": int(len(new)),
        "distinct_routings_before": int(before.nunique()),
        "distinct_routings_after": int(after.nunique()),
        "examples_added": [str(c) for c in added[:examples]],
        "examples_removed": [str(c) for c in removed[:examples]],
        "examples_changed": [
            {"item_code": str(c), "before": str(before[c]), "after": str(after[c])} for c in changed[:examples]
        ],
    }


@dataclass
class RefreshResult:
    status: str  # "changed" (a new revision), "unchanged", or "known" (same as an earlier revision)
    record: DatasetRecord  # the dataset that now holds the data
    previous: str
    diff: dict

    def summary(self) -> str:
        d = self.diff
        if self.status == "unchanged":
            return f"Unchanged: '{self.previous}' already holds what the database returns ({d['items_after']:,} items)."
        parts = (f"{d['items_added']:,} item(s) added, {d['items_removed']:,} removed, "
                 f"{d['routings_changed']:,} routing(s) changed; {d['items_before']:,} → {d['items_after']:,} items")
        if self.status == "known":
            return f"The database holds what dataset '{self.record.name}' already stores: {parts}."
        return f"New revision '{self.record.name}' of '{self.previous}': {parts}."

    def to_json(self) -> dict:
        return {"status": self.status, "dataset": self.record.name, "previous": self.previous,
                "summary": self.summary(), **self.diff}


def _revision_name(store: DatasetStore, base: str) -> tuple[str, int]:
    taken = set(store.names()) | ({p.name for p in store.folder.iterdir()} if store.folder.is_dir() else set())
    revisions = [r.source.get("revision", 1) for r in store.list()
                 if r.source.get("base") == base and isinstance(r.source.get("revision"), int)]
    n = max(revisions, default=1) + 1
    stem = base[:58]
    while f"{stem}-r{n}" in taken:
        n += 1
    return f"{stem}-r{n}", n


def refresh(store: DatasetStore, name: str, spec: ConnectionSpec | None = None,
            progress: Progress | None = None, secrets: str | os.PathLike | None = None) -> RefreshResult:
    """Read a stored database dataset again: a new revision when the data changed."""
    record = store.record(name)
    source = record.source or {}
    if source.get("kind") != "database":
        raise UserError(f"Dataset '{name}' was not read from a database: upload its file again instead.")
    if spec is None:
        if source.get("connection") == "db-url":
            raise UserError(f"Dataset '{name}' was read with --db-url: give the URL again (--db-url).")
        spec = connection(str(source.get("connection")), store.root, secrets)
    sql = str(source.get("query", ""))
    result = read_query(spec, sql, progress=progress)
    old = store.load(name)
    if result.raw.sha256 == record.sha256:
        return RefreshResult("unchanged", record, name, routing_diff(old.ops, old.ops))
    base = str(source.get("base") or name)
    new_name, revision = _revision_name(store, base)
    dataset = to_dataset(spec, sql, result, record.mapping, base=base, revision=revision, previous=name)
    diff = routing_diff(old.ops, dataset.ops)
    saved, created = store.save(new_name, dataset)
    return RefreshResult("changed" if created else "known", saved, name, diff)


def describe_source(source: Mapping) -> dict[str, str]:
    """A stored source as label → text for people (the query shown as written)."""
    if not source or source.get("kind") != "database":
        return {}
    shown = {
        "Connection": str(source.get("connection", "")) + (f" ({source['url']})" if source.get("url") else ""),
        "Read at": str(source.get("read_at", "")),
        "Rows read": f"{int(source.get('rows', 0)):,}",
        "Revision": str(source.get("revision", 1)),
    }
    if source.get("previous"):
        shown["Refreshed from"] = str(source["previous"])
    return shown


__all__ = [
    "BUNDLED", "ConnectionSpec", "QueryResult", "RefreshResult", "TableInfo", "check_select", "connection",
    "connections", "content_sha256", "describe_source", "ensure_sample_db", "fetch", "join_query",
    "list_tables", "read_query", "refresh", "routing_diff", "save", "table_query", "to_dataset", "url_spec",
]
