"""The database source on the bundled SQLite database (built from the sample data at first use)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from routing_core import database
from routing_core.cli.commands import main
from routing_core.datasets import DatasetStore, load_dataset
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import generate, sample_csv_bytes
from tests.conftest import ADMIN

RECURSIVE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A data home whose bundled database is built once for the module."""
    folder = tmp_path_factory.mktemp("home")
    database.ensure_sample_db(folder)
    return folder


@pytest.fixture
def sample(home):
    return database.connection("sample", home=home, path=home / "no-secrets.toml")


@pytest.fixture
def copy(home, tmp_path):
    """A writable copy of the bundled database as connection `copy` of a secrets file."""
    target = tmp_path / "plant.sqlite"
    shutil.copy(database.ensure_sample_db(home), target)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[connections.copy]\nurl = "sqlite:///{target}"\n')
    return target, secrets


def test_bundled_database_is_built_once_from_the_sample(home, sample):
    path = database.ensure_sample_db(home)
    stamp = path.stat().st_mtime_ns
    assert database.ensure_sample_db(home) == path and path.stat().st_mtime_ns == stamp
    assert sample.bundled and sample.shown == f"sqlite:///{path.resolve()}"
    tables = {t.name: t.kind for t in database.list_tables(sample, user=ADMIN)}
    assert tables == {"item_master": "table", "routing_operation": "table", "v_item": "view", "v_routing": "view"}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM routing_operation").fetchone()[0] == len(generate())


def test_view_join_gives_the_sample_routings(sample, home):
    tables = {t.name: t for t in database.list_tables(sample, user=ADMIN)}
    sql = database.join_query(sample, tables["v_item"], tables["v_routing"], "item_code")
    dataset = database.fetch(sample, sql, user=ADMIN)
    from_file = load_dataset(sample_csv_bytes(), name="sample.csv")
    assert dataset.n_items == from_file.n_items and len(dataset.ops) == len(from_file.ops)
    routings = database.routings_of(dataset.ops)
    assert routings.equals(database.routings_of(from_file.ops).loc[routings.index])
    assert set(dataset.item_attributes) == set(from_file.item_attributes)
    assert dataset.source["connection"] == "sample" and dataset.source["query"] == sql
    assert dataset.source["rows"] == len(dataset.ops)


def test_same_rows_in_another_order_have_the_same_digest(sample):
    a = database.read_query(sample, "SELECT * FROM v_routing ORDER BY item_code, seq", user=ADMIN).raw.sha256
    b = database.read_query(sample, "SELECT * FROM v_routing ORDER BY seq DESC, item_code", user=ADMIN).raw.sha256
    c = database.read_query(sample, "SELECT * FROM v_routing WHERE seq > 10", user=ADMIN).raw.sha256
    assert a == b != c


def test_refresh_makes_a_revision_only_when_the_data_changed(copy, tmp_path):
    path, secrets = copy
    spec = database.connection("copy", home=tmp_path, path=secrets)
    store = DatasetStore(tmp_path / "data")
    record, created = database.save(store, "plant", database.fetch(spec, "SELECT * FROM v_routing", user=ADMIN), user=ADMIN)
    assert created and record.source["base"] == "plant" and record.source["revision"] == 1
    unchanged = database.refresh(store, "plant", secrets=secrets, user=ADMIN)
    assert unchanged.status == "unchanged" and unchanged.record.name == "plant"
    assert unchanged.summary().startswith("Unchanged: 'plant' already holds")
    with sqlite3.connect(path) as db:
        item = db.execute("SELECT item_code FROM routing_operation LIMIT 1").fetchone()[0]
        db.execute("UPDATE routing_operation SET process_code = 'EDM' WHERE item_code = ? AND seq = 10", (item,))
        db.execute("DELETE FROM routing_operation WHERE item_code = (SELECT max(item_code) FROM routing_operation)")
    changed = database.refresh(store, "plant", secrets=secrets, user=ADMIN)
    assert changed.status == "changed" and changed.record.name == "plant-r2"
    assert (changed.diff["routings_changed"], changed.diff["items_removed"], changed.diff["items_added"]) == (1, 1, 0)
    assert changed.record.mapping == record.mapping and changed.record.source["previous"] == "plant"
    assert database.refresh(store, "plant-r2", secrets=secrets, user=ADMIN).status == "unchanged"
    assert sorted(store.names()) == ["plant", "plant-r2"]


def test_a_viewer_cannot_store_or_refresh_a_database_dataset(copy, tmp_path):
    from routing_core.users.access import Forbidden, User

    path, secrets = copy
    spec = database.connection("copy", home=tmp_path, path=secrets)
    store = DatasetStore(tmp_path / "data")
    viewer = User("vera@plant.example", "viewer")
    with pytest.raises(Forbidden, match="vera@plant.example"):
        database.save(store, "plant", database.fetch(spec, "SELECT * FROM v_routing", user=ADMIN), user=viewer)
    assert store.names() == []
    database.save(store, "plant", database.fetch(spec, "SELECT * FROM v_routing", user=ADMIN), user=ADMIN)  # the local user
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM routing_operation WHERE item_code = (SELECT max(item_code) FROM routing_operation)")
    with pytest.raises(Forbidden, match="vera@plant.example"):
        database.refresh(store, "plant", secrets=secrets, user=viewer)
    assert store.names() == ["plant"]  # the changed data was not read into a revision
    assert database.refresh(store, "plant", secrets=secrets, user=ADMIN).status == "changed"


def test_refused_statements_run_nothing(copy, tmp_path):
    path, secrets = copy
    spec = database.connection("copy", home=tmp_path, path=secrets)
    for sql in ("DELETE FROM routing_operation", "SELECT 1; DELETE FROM routing_operation",
                "PRAGMA query_only = OFF", "ATTACH DATABASE 'x.db' AS x", "SELECT * INTO t FROM v_item"):
        with pytest.raises(UserError, match="nothing was run|one statement"):
            database.read_query(spec, sql, user=ADMIN)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM routing_operation").fetchone()[0] == len(generate())


def test_the_file_readers_limits_bound_a_read(sample, monkeypatch):
    monkeypatch.setenv("ROUTING_MAX_ROWS", "1000")
    with pytest.raises(UserError, match=r"more than 1,000 rows"):
        database.read_query(sample, "SELECT * FROM v_routing", user=ADMIN)
    with pytest.raises(UserError, match=r"row limit must be from 1 to 1,000"):
        database.read_query(sample, "SELECT * FROM v_routing", row_limit=5000, user=ADMIN)
    monkeypatch.setenv("ROUTING_MAX_COLUMNS", "5")
    with pytest.raises(UserError, match=r"has 6 columns; the limit is 5 \(set ROUTING_MAX_COLUMNS"):
        database.read_query(sample, "SELECT * FROM v_routing", user=ADMIN)


def test_limits_timeouts_and_bad_sql_have_one_clear_message(sample):
    with pytest.raises(UserError, match=r"more than 500 rows"):
        database.read_query(sample, "SELECT * FROM v_routing", row_limit=500, user=ADMIN)
    with pytest.raises(UserError, match=r"took longer than 0.3 s"):
        database.read_query(sample, RECURSIVE, timeout=0.3, user=ADMIN)
    with pytest.raises(UserError, match="The database refused the query: no such table: nowhere"):
        database.read_query(sample, "SELECT * FROM nowhere", user=ADMIN)
    with pytest.raises(UserError, match=r"'item_code' more than once"):
        database.read_query(sample, "SELECT r.item_code, i.item_code FROM v_routing r JOIN v_item i USING (item_code)", user=ADMIN)
    with pytest.raises(UserError, match="required column"):
        database.fetch(sample, "SELECT item_code, material FROM v_item", user=ADMIN)
    with pytest.raises(UserError, match="returned no rows"):
        database.read_query(sample, "SELECT * FROM v_item WHERE 1 = 0", user=ADMIN)


def test_cli_fetch_and_refresh(copy, tmp_path, capsys):
    path, secrets = copy
    home = tmp_path / "data"
    args = ["--data-home", str(home), "fetch", "erp", "--connection", "copy", "--secrets", str(secrets),
            "--items", "v_item", "--routings", "v_routing"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["created"] and out["items"] == 2000 and out["source"]["connection"] == "copy"
    assert main(["--data-home", str(home), "refresh", "erp", "--secrets", str(secrets)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "unchanged"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE routing_operation SET process_code = 'EDM' WHERE seq = 10 AND item_code IN "
                   "(SELECT item_code FROM item_master ORDER BY item_code LIMIT 3)")
    assert main(["--data-home", str(home), "refresh", "erp", "--db-url", f"sqlite:///{path}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["status"], out["dataset"], out["routings_changed"]) == ("changed", "erp-r2", 3)
    assert DatasetStore(home).record("erp-r2").source["connection"] == "db-url"
    # bad input: one line, exit 2, nothing stored
    before = sorted(DatasetStore(home).names())
    for bad, said in ((["fetch", "x", "--query", "DELETE FROM item_master"], "Only a SELECT query"),
                      (["fetch", "x", "--connection", "nope", "--table", "t"], "No connection named 'nope'"),
                      (["fetch", "x", "--table", "nothere"], "no table or view named 'nothere'"),
                      (["refresh", "erp-r2"], "was read with --db-url")):
        assert main(["--data-home", str(home), *bad, "--secrets", str(secrets)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and err.count("\n") == 1, err
    assert sorted(DatasetStore(home).names()) == before
