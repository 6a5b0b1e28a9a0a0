"""The database source against a real PostgreSQL server (started by tests/database/conftest.py)."""

from __future__ import annotations

import pytest

from routing_core import database
from routing_core.database import ConnectionSpec
from routing_core.datasets import DatasetStore
from routing_core.datasets.stats import compute_stats
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN
from tests.database.conftest import ANALYST_PASSWORD, PG_ITEMS, Postgres


@pytest.fixture(scope="module")
def plant(postgres: Postgres, tmp_path_factory) -> ConnectionSpec:
    """The `plant` connection as an analyst names it in .streamlit/secrets.toml."""
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text(f'[connections.plant]\nurl = "{postgres.url}"\ntimeout = 20\n')
    return database.connection("plant", home=secrets.parent, path=secrets)


def join(spec: ConnectionSpec) -> str:
    tables = {t.name: t for t in database.list_tables(spec, user=ADMIN)}
    return database.join_query(spec, tables["v_item"], tables["v_routing"], "item_code")


def test_views_are_listed_and_joined_into_a_dataset(plant, tmp_path):
    tables = {t.name: t for t in database.list_tables(plant, user=ADMIN)}
    assert {n: t.kind for n, t in tables.items()} == {
        "item_master": "table", "routing_operation": "table", "v_item": "view", "v_routing": "view"}
    assert ("duration_min", "NUMERIC(10, 2)") in tables["v_routing"].columns
    seen: list[int] = []
    dataset = database.fetch(plant, join(plant), progress=lambda rows, limit: seen.append(rows), user=ADMIN)
    assert dataset.n_items == PG_ITEMS and seen[-1] == len(dataset.ops)
    assert dataset.ops["duration_min"].dtype == "float64"  # NUMERIC arrives as Decimal, read as numbers
    assert {"material", "outer_diameter_mm", "length_mm"} <= set(dataset.item_attributes)
    assert set(dataset.operation_attributes) == {"work_center", "outsourced"}
    assert compute_stats(dataset)["unique_items"] == PG_ITEMS
    record, created = database.save(DatasetStore(tmp_path), "erp", dataset, user=ADMIN)
    assert created and record.source["connection"] == "plant" and record.source["rows"] == len(dataset.ops)
    assert ANALYST_PASSWORD not in (tmp_path / "datasets" / "erp" / "record.json").read_text()


def test_refresh_sees_a_changed_routing(plant, postgres: Postgres, tmp_path):
    store = DatasetStore(tmp_path)
    database.save(store, "erp", database.fetch(plant, join(plant), user=ADMIN), user=ADMIN)
    assert database.refresh(store, "erp", plant, user=ADMIN).status == "unchanged"
    item = postgres.scalar("SELECT item_code FROM routing_operation ORDER BY item_code LIMIT 1")
    step = postgres.scalar(f"SELECT min(seq) FROM routing_operation WHERE item_code = '{item}'")
    old = postgres.scalar(f"SELECT process_code FROM routing_operation WHERE item_code = '{item}' AND seq = {step}")
    postgres.execute(f"UPDATE routing_operation SET process_code = 'EDM' WHERE item_code = '{item}' AND seq = {step}")
    try:
        result = database.refresh(store, "erp", plant, user=ADMIN)
    finally:
        postgres.execute(f"UPDATE routing_operation SET process_code = '{old}' WHERE item_code = '{item}' "
                         f"AND seq = {step}")
    assert result.status == "changed" and result.record.name == "erp-r2"
    assert result.diff["routings_changed"] == 1 and result.diff["items_added"] == 0
    assert result.diff["examples_changed"][0]["item_code"] == item
    assert result.diff["examples_changed"][0]["after"].startswith("EDM")
    assert result.record.source["previous"] == "erp" and result.record.source["revision"] == 2
    assert "New revision 'erp-r2' of 'erp'" in result.summary()
    assert store.record("erp").sha256 != result.record.sha256  # the first revision stays as it was
    # back as it was: the data equals revision 1 again, which is said rather than stored twice
    assert database.refresh(store, "erp-r2", plant, user=ADMIN).status == "known"
    assert sorted(store.names()) == ["erp", "erp-r2"]


def test_a_delete_is_refused_and_nothing_changes(plant, postgres: Postgres):
    rows = postgres.scalar("SELECT count(*) FROM routing_operation")
    with pytest.raises(UserError, match="Only a SELECT query is allowed"):
        database.read_query(plant, "DELETE FROM routing_operation", user=ADMIN)
    with pytest.raises(UserError, match="'DELETE' is refused"):
        database.read_query(plant, "WITH gone AS (DELETE FROM routing_operation RETURNING *) SELECT * FROM gone", user=ADMIN)
    # A SELECT that calls a writing function passes the check; the read-only transaction stops it.
    with pytest.raises(UserError, match="read-only transaction"):
        database.read_query(plant, "SELECT purge_routings()", user=ADMIN)
    assert postgres.scalar("SELECT count(*) FROM routing_operation") == rows


def test_a_wrong_password_gets_a_clear_message(postgres: Postgres, tmp_path):
    spec = database.url_spec(postgres.bad_url)
    with pytest.raises(UserError) as caught:
        database.fetch(spec, "SELECT * FROM v_routing", user=ADMIN)
    message = str(caught.value)
    assert message.startswith("Cannot connect to 'db-url': the database refused the user name or password")
    assert "user 'analyst'" in message and "not-the-password" not in message
    assert not (tmp_path / "datasets").exists()


def test_a_query_over_the_row_limit_is_refused(plant, tmp_path):
    with pytest.raises(UserError, match=r"returns more than 100 rows \(the row limit of 'plant'\)"):
        database.fetch(plant, "SELECT * FROM v_routing", row_limit=100, user=ADMIN)
    assert DatasetStore(tmp_path).names() == []


def test_a_slow_query_is_stopped_by_the_timeout(plant):
    with pytest.raises(UserError, match=r"took longer than 0.5 s"):
        database.read_query(plant, "SELECT pg_sleep(5)", timeout=0.5, user=ADMIN)


def test_every_row_is_read_in_chunks_whatever_the_order(plant, postgres: Postgres):
    """Server-side cursor in small chunks: all rows arrive, and their digest ignores the order."""
    total = postgres.scalar("SELECT count(*) FROM routing_operation")
    seen: list[int] = []
    a = database.read_query(plant, "SELECT * FROM v_routing ORDER BY item_code, seq", chunk_rows=500,
                            progress=lambda rows, limit: seen.append(rows), user=ADMIN)
    b = database.read_query(plant, "SELECT * FROM v_routing ORDER BY seq DESC, item_code", user=ADMIN)
    assert a.rows == b.rows == len(a.raw.frame) == total
    assert seen == [*range(500, total, 500), total]
    assert a.raw.sha256 == b.raw.sha256
