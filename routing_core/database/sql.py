"""The SQL of a read: a query checked to be one read-only SELECT, and the queries the app writes
(one table, or a routing view joined with an item view)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from routing_core.database.connections import ConnectionSpec
from routing_core.platform.errors import UserError

MAX_QUERY_CHARS = 100_000

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# Words a read never needs: data or schema changes, procedures, locks, session changes.
_REFUSED = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "DROP", "ALTER", "CREATE", "TRUNCATE", "RENAME",
    "GRANT", "REVOKE", "EXEC", "EXECUTE", "CALL", "DO", "COPY", "INTO", "LOCK", "PRAGMA", "ATTACH",
    "DETACH", "VACUUM", "ANALYZE", "REINDEX", "SET", "RESET", "BEGIN", "COMMIT", "ROLLBACK",
    "SAVEPOINT", "RELEASE", "DECLARE", "PREPARE", "LOAD", "HANDLER", "SHUTDOWN", "KILL", "USE",
    "LISTEN", "NOTIFY", "REFRESH", "CLUSTER", "COMMENT", "SECURITY", "IMPORT", "OUTFILE", "DUMPFILE",
}


# Functions that act outside the transaction (another connection, the server's files, other
# sessions, the server's settings): a read-only transaction does not stop them. Refused by name
# anywhere in the query, quoted or schema-qualified too; a login that cannot call them is the guard
# that holds (see `privileges`).
_REFUSED_FUNCTIONS = re.compile(
    r"(?<![a-z0-9_$])(dblink\w*|pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_read_file|"
    r"pg_read_binary_file|pg_ls_\w+|pg_stat_file|pg_file_\w+|pg_reload_conf|pg_rotate_logfile|pg_promote|"
    r"lo_import|lo_export|lo_from_bytea|lo_put|set_config|pg_logical_emit_message|pg_switch_wal|"
    r"pg_create_\w+_replication_slot|pg_drop_replication_slot|pg_advisory\w*|pg_backup_\w+|"
    r"load_file|sys_exec|sys_eval|xp_\w+|sp_oa\w+|openrowset|opendatasource|openquery|utl_\w+|dbms_\w+|"
    r"load_extension)(?![a-z0-9_$])",
    re.IGNORECASE,
)


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
    called = _REFUSED_FUNCTIONS.search(sql)
    if called:
        raise UserError(f"Only reading is allowed: '{called.group(1)}' acts outside the read (other "
                        "connections, sessions or the server's files) and is refused; nothing was run.")
    if "FOR" in words and any(w in ("UPDATE", "SHARE") for w in words):
        raise UserError("Only reading is allowed: a locking read (FOR UPDATE / SHARE) is refused.")
    return sql[: len(stripped)].strip()


@dataclass
class TableInfo:
    name: str
    kind: str  # "table" or "view"
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type)



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
