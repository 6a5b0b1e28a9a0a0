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

Modules: `connections` (named connections), `sample_db` (the bundled database), `sql` (the query
check and the queries the app writes), `reading` (connecting and reading), `revisions` (datasets
from a database and their refresh). The names below are those the rest of the code uses.
"""

from routing_core.database.connections import (
    BUNDLED,
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_S,
    SAMPLE_DB,
    SECRETS_ENV,
    ConnectionSpec,
    connection,
    connections,
    mask,
    max_row_limit,
    may_read,
    require_read,
    sample_spec,
    secrets_path,
    url_spec,
)
from routing_core.database.reading import (
    CHUNK_ROWS,
    MAX_TABLES,
    Progress,
    QueryResult,
    content_sha256,
    list_tables,
    privileges,
    read_query,
)
from routing_core.database.revisions import (
    RefreshResult,
    describe_source,
    fetch,
    refresh,
    routing_diff,
    routings_of,
    save,
    source_record,
    to_dataset,
)
from routing_core.database.sample_db import ITEM_COLUMNS, ROUTING_COLUMNS, ensure_sample_db
from routing_core.database.sql import (
    MAX_QUERY_CHARS,
    TableInfo,
    check_select,
    join_query,
    table_query,
)

__all__ = [
    "BUNDLED", "CHUNK_ROWS", "DEFAULT_ROW_LIMIT", "DEFAULT_TIMEOUT_S", "ITEM_COLUMNS", "MAX_QUERY_CHARS",
    "MAX_TABLES", "ROUTING_COLUMNS", "SAMPLE_DB", "SECRETS_ENV", "ConnectionSpec", "Progress", "QueryResult",
    "RefreshResult", "TableInfo", "check_select", "connection", "connections", "content_sha256",
    "describe_source", "ensure_sample_db", "fetch", "join_query", "list_tables", "mask", "max_row_limit",
    "may_read", "privileges", "read_query",
    "refresh", "require_read", "routing_diff", "routings_of", "sample_spec", "save", "secrets_path", "source_record",
    "table_query", "to_dataset", "url_spec",
]
