"""The database source's pure parts: the statement check, the connections file, the routing diff."""

from __future__ import annotations

import pandas as pd
import pytest

from routing_core import database
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN


@pytest.mark.parametrize("sql", [
    "SELECT * FROM v_routing",
    "select item_code, seq from v_routing where process_code = 'DELETE';",
    "WITH r AS (SELECT * FROM v_routing) SELECT * FROM r",
    "SELECT \"update\", [insert] FROM t -- DROP TABLE t\n",
    "/* a comment; with a semicolon */ SELECT 'a;b' AS x",
    "SELECT replace(material, 'x', 'y') FROM v_item",
    "SELECT 'it''s' AS x",
])
def test_one_select_is_accepted(sql):
    checked = database.check_select(sql)
    expected = sql.split(" --")[0].strip().removesuffix(";").strip()  # without a trailing ';' or comment
    assert checked == expected


@pytest.mark.parametrize(("sql", "said"), [
    ("", "empty"),
    ("DELETE FROM v_routing", "Only a SELECT query is allowed (this one starts with DELETE)"),
    ("SELECT 1; DROP TABLE v_routing", "Only one statement"),
    ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "'DELETE' is refused"),
    ("SELECT * INTO backup FROM t", "'INTO' is refused"),
    ("SELECT * FROM t FOR UPDATE", "'UPDATE' is refused"),
    ("UPDATE t SET a = 1", "starts with UPDATE"),
    ("EXEC sp_who", "starts with EXEC"),
    ("SELECT 'open", "never closed"),
    ("SELECT 1 /* open", "never closed"),
])
def test_anything_else_is_refused(sql, said):
    with pytest.raises(UserError) as caught:
        database.check_select(sql)
    assert said in str(caught.value)


def test_connections_file_follows_st_connection(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[connections.erp]\nurl = "postgresql+psycopg://analyst:s3cret@erp:5432/plant"\nrow_limit = 1000\n'
        '[connections.mes]\ndialect = "mssql"\ndriver = "pyodbc"\nusername = "ro"\npassword = "pw!"\n'
        'host = "mes"\ndatabase = "mes"\nquery = { driver = "ODBC Driver 18 for SQL Server" }\n'
        '[connections.broken]\nurl = "not a url with s3cret"\n'
        '[connections.nolimit]\nurl = "sqlite:///x.db"\nrow_limit = 0\n'
    )
    found = database.connections(tmp_path, secrets)
    assert list(found) == ["sample", "erp", "mes", "broken", "nolimit"]
    assert found["sample"].bundled and found["sample"].dialect == "sqlite"
    assert found["erp"].shown == "postgresql+psycopg://***@erp:5432/plant"  # user-info masked whole
    assert found["erp"].row_limit == 1000 and found["erp"].timeout == database.DEFAULT_TIMEOUT_S
    assert found["mes"].url.drivername == "mssql+pyodbc" and "pw!" not in found["mes"].shown
    assert "s3cret" not in found["broken"].problem and "cannot be used" in found["broken"].problem
    assert "'row_limit' must be a number" in found["nolimit"].problem
    with pytest.raises(UserError, match="Connection 'broken' cannot be used"):
        database.connection("broken", tmp_path, secrets)
    with pytest.raises(UserError, match=r"No connection named 'plant' \(known: sample, erp, mes"):
        database.connection("plant", tmp_path, secrets)


def test_a_bad_connections_file_says_so(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[connections.erp\nurl = 1")
    with pytest.raises(UserError, match="is not valid TOML"):
        database.connections(tmp_path, secrets)
    assert list(database.connections(tmp_path, tmp_path / "missing.toml")) == ["sample"]


def test_missing_driver_is_named(tmp_path):
    spec = database.url_spec("mysql+notadriver://u:p@h/db")
    with pytest.raises(UserError, match="unknown database kind|needs the Python driver"):
        database.read_query(spec, "SELECT 1", user=ADMIN)


def test_routing_diff_counts_items_and_routings():
    old = pd.DataFrame({"item_code": ["A", "A", "B", "C"], "process_code": ["SAW", "MILL", "SAW", "LATHE"]})
    new = pd.DataFrame({"item_code": ["A", "A", "B", "B", "D"], "process_code": ["SAW", "MILL", "SAW", "GRIND", "EDM"]})
    diff = database.routing_diff(old, new)
    assert (diff["items_before"], diff["items_after"], diff["items_added"], diff["items_removed"],
            diff["routings_changed"]) == (3, 3, 1, 1, 1)
    assert diff["examples_changed"] == [{"item_code": "B", "before": "SAW", "after": "SAW → GRIND"}]


def test_a_bad_port_never_shows_the_entry(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.erp]\nurl = "postgresql://u:hunter2@h:hunter2/db"\n')
    problem = database.connections(tmp_path, secrets)["erp"].problem
    assert problem == "Connection 'erp' cannot be used: its URL cannot be read."
