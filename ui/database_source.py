"""The Upload page's Database tab: a named connection, then a table, the item + routing views
joined, or one SELECT; the rows read go through the same review as a file."""

from __future__ import annotations

import streamlit as st

from routing_core import database
from routing_core.mapping.schema import ITEM, detect_mapping
from routing_core.platform.errors import UserError
from routing_core.platform.names import suggest_name
from ui import auth, guard, held, loaders, review
from ui.text import md

PREFIX = "db_"
JOIN, TABLE, QUERY = "Item and routing views", "One table or view", "SELECT query"


def _tables(spec: database.ConnectionSpec) -> list[database.TableInfo] | str:
    """The connection's tables, listed once per connection and session (an error as its text)."""
    key = (spec.name, spec.shown, auth.user().name)
    cached = st.session_state.get("db_tables")
    if cached is None or cached[0] != key:
        try:
            with st.spinner("Listing tables and views…"):
                found: list[database.TableInfo] | str = database.list_tables(spec, user=auth.user())
        except UserError as exc:
            found = str(exc)
        cached = (key, found)
        st.session_state["db_tables"] = cached
    return cached[1]


def _warnings(spec: database.ConnectionSpec) -> list[str]:
    """What the connection check says about the login (a superuser, one that may write), once per
    connection and session."""
    key = (spec.name, spec.shown, auth.user().name)
    cached = st.session_state.get("db_warnings")
    if cached is None or cached[0] != key:
        try:
            found = database.privileges(spec, user=auth.user())
        except UserError as exc:
            found = [str(exc)]
        cached = (key, found)
        st.session_state["db_warnings"] = cached
    return cached[1]


def _default(tables: list[database.TableInfo], *hints: str) -> int:
    """The first view (else table) whose name holds a hint: ERPs offer views to read."""
    for hint in hints:
        for kind in ("view", "table"):
            for i, table in enumerate(tables):
                if table.kind == kind and hint in table.name.lower():
                    return i
    return 0


def _query(spec: database.ConnectionSpec, tables: list[database.TableInfo]) -> tuple[str, str]:
    """The SQL to run and a name for the dataset it makes."""
    mode = st.radio("Read", [JOIN, TABLE, QUERY], key="db_mode", horizontal=True)
    by_name = {t.name: t for t in tables}
    names = list(by_name)
    label = lambda n: f"{n} ({by_name[n].kind})"  # noqa: E731
    if mode == JOIN:
        left, mid, right = st.columns(3)
        items = left.selectbox("Item view", names, index=_default(tables, "item"), format_func=label,
                               key="db_items", help="One row per item: its attributes.")
        routings = mid.selectbox("Routing view", names, index=_default(tables, "routing", "oper"),
                                 format_func=label, key="db_routings", help="One row per operation.")
        shared = [c for c, _ in by_name[routings].columns if c in {n for n, _ in by_name[items].columns}]
        if not shared:
            st.error(f"{md(items)} and {md(routings)} have no column in common to join on.",
                     icon=":material/error:")
            st.stop()
        guess = [s for s, t in detect_mapping(shared).items() if t == ITEM]
        on = right.selectbox("Join column", shared, index=shared.index(guess[0]) if guess else 0, key="db_on")
        return database.join_query(spec, by_name[items], by_name[routings], on), f"{spec.name}-{routings}"
    if mode == TABLE:
        table = st.selectbox("Table or view", names, index=_default(tables, "routing", "oper"),
                             format_func=label, key="db_table")
        return database.table_query(spec, table), f"{spec.name}-{table}"
    sql = st.text_area("SELECT query", key="db_query", height=120, placeholder="SELECT … FROM …",
                       help="One SELECT (or WITH … SELECT), run read-only; anything else is refused.")
    return sql, f"{spec.name}-query"


def render() -> None:
    me = auth.user()
    refused = guard.reason("read_database")
    if refused is not None:  # a viewer: no connection is named, listed or read
        st.info(md(refused), icon=":material/lock:")
        st.stop()
    try:
        known = database.connections(loaders.data_root())
        names = [n for n in known if database.may_read(me, n) is None]
    except UserError as exc:  # a secrets or roles file that cannot be read: said, and nothing else runs
        st.error(md(exc), icon=":material/error:")
        st.stop()
    if not names:
        st.info(md(f"The roles file lets {me.name} ({me.role}) read none of the connections."),
                icon=":material/lock:")
        st.stop()
    name = st.selectbox("Connection", names, key="db_connection",
                        help="Named in .streamlit/secrets.toml as [connections.NAME] with a url; "
                             "'sample' is the bundled SQLite database of the sample data.")
    spec = known[name]
    if spec.problem:
        st.error(md(spec.problem), icon=":material/error:")
        st.stop()
    where = "the bundled SQLite database of the sample data" if spec.bundled else spec.shown
    st.caption(md(f"{where} · at most {spec.row_limit:,} rows · timeout {spec.timeout:g} s"))
    for warning in _warnings(spec):
        st.warning(md(warning), icon=":material/shield:")
    tables = _tables(spec)
    if isinstance(tables, str):
        st.error(md(tables), icon=":material/error:")
        st.caption("Nothing was stored. Check the connection in the secrets file.")
        st.stop()
    if not tables:
        st.info(f"'{md(name)}' has no table or view to read.", icon=":material/info:")
        st.stop()
    with st.expander(f"Tables and views ({len(tables)})"):
        st.dataframe(
            {"name": [t.name for t in tables], "kind": [t.kind for t in tables],
             "columns": [", ".join(c for c, _ in t.columns) for t in tables]},
            key="db_tables_list", hide_index=True,
        )
    sql, stem = _query(spec, tables)
    if sql.strip():
        st.code(sql, language="sql", wrap_lines=True)
    top = database.max_row_limit()
    limit = st.number_input("Row limit", 1, top, min(spec.row_limit, top), step=10_000,
                            key="db_row_limit", help="A query returning more rows is refused.")
    if st.button("Read", key="db_read", type="primary", icon=":material/database:", disabled=not sql.strip()):
        bar = st.progress(0.0, text="Reading…")

        def progress(rows: int, cap: int) -> None:
            bar.progress(min(rows / cap, 1.0), text=f"{rows:,} rows read")

        try:
            result: database.QueryResult | str = database.read_query(spec, sql, int(limit), progress=progress,
                                                                     user=auth.user())
        except UserError as exc:
            result = str(exc)
        bar.empty()
        read = (spec, sql, result)
        held.put("db_read_result", read)
        if not isinstance(result, str):
            review.init_mapping(result.raw, PREFIX, suggest_name(stem))
    read = held.get("db_read_result")
    if read is None or read[0].name != spec.name or read[1] != sql:
        st.caption("Press Read to run the query; nothing is stored before you save.")
        st.stop()
    spec, sql, result = read
    if isinstance(result, str):
        st.error(md(result), icon=":material/error:")
        st.caption("Nothing was stored. Change the query and read again.")
        st.stop()
    raw = result.raw
    st.caption(md(f"{result.rows:,} rows × {raw.frame.shape[1]} columns read from '{spec.name}' "
                  f"in {result.seconds:.1f} s."))
    review.review(
        raw, PREFIX,
        make=lambda mapping: database.to_dataset(spec, sql, result, mapping),
        save=lambda name, dataset: database.save(loaders.store(), name, dataset, user=auth.user()),
        fix="Change the mapping above or the query.",
        same="This data with this mapping",
        what="data",
    )
