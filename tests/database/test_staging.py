"""Accepted routings written through an output profile into a staging table, on SQLite and on a
real PostgreSQL server: all rows in one transaction, and a failed row leaves nothing behind."""

from __future__ import annotations

import sqlite3

import pytest

from routing_core import database
from routing_core.accepted import (
    AcceptedStore,
    Draft,
    StagingInsert,
    apply_profile,
    profile_from_json,
)
from routing_core.platform.errors import UserError
from routing_core.users.access import Forbidden, User
from routing_core.users.activity import EXPORT_ROUTINGS, ActivityLog
from tests.database.conftest import Postgres

ANA = User("ana", "analyst")
PROFILE = profile_from_json({
    "name": "sap", "op_start": 10, "op_step": 10, "time_unit": "h", "time_decimals": 4,
    "columns": [{"column": "MATNR", "field": "item_code"}, {"column": "VORNR", "field": "operation"},
                {"column": "ARBPL", "field": "work_center"}, {"column": "STEUS", "constant": "PP01"},
                {"column": "VGW01", "field": "time"}, {"column": "VGE01", "field": "time_unit"}],
})
# Column names as the ERP's DBA wrote them (unquoted: the database folds them); VGW01 at most 2 h.
CREATE = ("CREATE TABLE zrouting_staging (matnr varchar(40) NOT NULL, vornr integer NOT NULL, "
          "arbpl varchar(20), steus varchar(4), vgw01 numeric(10, 4) CHECK (vgw01 <= 2), vge01 varchar(3))")


def routings(home, third_time: float):
    """Two routings, four rows; the third row's time is `third_time` minutes."""
    store = AcceptedStore(home)
    store.accept_many([
        Draft("P-1", [{"process_code": "SAW", "duration_min": 6, "attributes": {"work_center": "S1"}},
                      {"process_code": "LATHE", "duration_min": 30, "attributes": {"work_center": "L1"}}]),
        Draft("P-2", [{"process_code": "MILL", "duration_min": third_time, "attributes": {"work_center": "M1"}},
                      {"process_code": "WASH", "duration_min": 3, "attributes": {}}]),
    ], user=ANA)
    return store.all()


EXPECTED = [("P-1", 10, "S1", "PP01", 0.1, "h"), ("P-1", 20, "L1", "PP01", 0.5, "h"),
            ("P-2", 10, "M1", "PP01", 1.5, "h"), ("P-2", 20, None, "PP01", 0.05, "h")]


def connection_for(tmp_path, url: str, staging: str = "zrouting_staging"):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[connections.erp]\nurl = "{url}"\nstaging_table = "{staging}"\n')
    return database.connection("erp", home=tmp_path, path=secrets)


def check_insert(spec, home, rows_in_table) -> None:
    """A good batch lands whole; a batch whose third row breaks the CHECK leaves nothing."""
    staging = StagingInsert(spec)
    table = apply_profile(sorted(routings(home, 90), key=lambda r: r.item_code), PROFILE)
    said = staging.plan(table, 2)
    assert said.startswith("Insert 4 row(s) (2 routing(s)) into table zrouting_staging of connection 'erp'")
    assert "MATNR, VORNR, ARBPL, STEUS, VGW01, VGE01" in said and "one transaction" in said
    assert staging.insert(table, user=ANA, routings=2, home=home) == 4
    assert rows_in_table() == EXPECTED
    bad = apply_profile(sorted(routings(home, 150), key=lambda r: r.item_code), PROFILE)  # 2.5 h on row 3
    assert bad["VGW01"].tolist() == [0.1, 0.5, 2.5, 0.05]
    with pytest.raises(UserError, match="Nothing was written to zrouting_staging of 'erp'.*rolled back"):
        staging.insert(bad, user=ANA, routings=2, home=home)
    assert rows_in_table() == EXPECTED  # rows 1 and 2 of the failed batch are not there
    outcomes = [e["outcome"] for e in ActivityLog(home).entries(action=EXPORT_ROUTINGS)]
    assert outcomes == ["failed", "ok"]
    with pytest.raises(Forbidden, match="may not write routings to a database"):
        staging.insert(table, user=User("vic", "viewer"), routings=2, home=home)
    assert rows_in_table() == EXPECTED


def test_sqlite_staging_insert_is_one_transaction(tmp_path):
    path = tmp_path / "erp.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(CREATE)
    spec = connection_for(tmp_path, f"sqlite:///{path}")

    def rows():
        with sqlite3.connect(path) as db:
            return db.execute("SELECT * FROM zrouting_staging ORDER BY matnr, vornr").fetchall()

    check_insert(spec, tmp_path / "home", rows)


def test_postgres_staging_insert_is_one_transaction(postgres: Postgres, tmp_path):
    postgres.execute("DROP TABLE IF EXISTS zrouting_staging", CREATE, "GRANT ALL ON zrouting_staging TO analyst")
    spec = connection_for(tmp_path, postgres.url)

    def rows():
        import psycopg

        with psycopg.connect(postgres.admin_url.replace("postgresql+psycopg", "postgresql"), dbname="plant") as db:
            found = db.execute("SELECT * FROM zrouting_staging ORDER BY matnr, vornr").fetchall()
        return [tuple(float(v) if k == 4 and v is not None else v for k, v in enumerate(r)) for r in found]

    check_insert(spec, tmp_path / "home", rows)


def test_a_connection_without_staging_table_or_with_a_bad_one_is_refused(tmp_path):
    path = tmp_path / "erp.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE other (x integer)")
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[connections.erp]\nurl = "sqlite:///{path}"\n')
    with pytest.raises(UserError, match="names no staging table"):
        StagingInsert(database.connection("erp", home=tmp_path, path=plain))
    with pytest.raises(UserError, match="'staging_table' must be a table name"):
        connection_for(tmp_path, f"sqlite:///{path}", staging="x; DROP TABLE other")
    spec = connection_for(tmp_path, f"sqlite:///{path}", staging="other")
    table = apply_profile(routings(tmp_path / "home", 90), PROFILE)
    with pytest.raises(UserError, match="has no column.*MATNR.*nothing was written"):
        StagingInsert(spec).insert(table, user=ANA, routings=2, home=tmp_path / "home")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM other").fetchone()[0] == 0
