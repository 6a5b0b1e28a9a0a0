"""The dataset store (routing_core.datasets.store): save, list, load, delete, hostile names,
leftovers, stored statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from routing_core.datasets import (
    DatasetStore,
    load_dataset,
)
from routing_core.platform.errors import UserError
from tests.conftest import ADMIN, FABRICAD, FABRICAD_MAP, TEST_DATA


def test_store_save_list_load_delete_and_same_content(data_home):
    store = DatasetStore()
    ds = load_dataset(FABRICAD, FABRICAD_MAP)
    record, created = store.save("fabricad", ds, user=ADMIN)
    assert created and record.items == 25 and record.rows == 78
    assert len(record.sha256) == 64
    again, created_again = store.save("fabricad-2", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    assert not created_again and again.name == "fabricad"
    assert store.names() == ["fabricad"]
    loaded = store.load("fabricad")
    pd.testing.assert_frame_equal(loaded.ops, ds.ops, check_dtype=False)
    stats = store.stats("fabricad")
    assert stats["unique_items"] == 25
    assert json.loads((data_home / "datasets" / "fabricad" / "stats.json").read_text())["unique_items"] == 25
    store.delete("fabricad", user=ADMIN)
    assert store.names() == []
    assert [p for p in (data_home / "datasets").iterdir()] == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".hidden", "x\x00y", "CON", "a" * 65, ""])
def test_store_refuses_hostile_names(data_home, name):
    store = DatasetStore()
    with pytest.raises(UserError, match="^The dataset name"):
        store.save(name, load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    assert not (data_home / "datasets").exists() or list((data_home / "datasets").iterdir()) == []
    assert not (data_home.parent / "x").exists()


def test_store_refuses_a_taken_name_and_keeps_the_first(data_home):
    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    other = load_dataset(TEST_DATA / "excel_bom.csv")
    with pytest.raises(UserError, match="already exists"):
        store.save("plans", other, user=ADMIN)
    assert store.record("plans").items == 25


def test_store_ignores_leftover_temporary_folders(data_home):
    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    (data_home / "datasets" / ".plans2.abc").mkdir()
    (data_home / "datasets" / "half").mkdir()  # no record: not a whole dataset
    assert store.names() == ["plans"]
    assert store.cleanup() == 1


def test_stats_written_by_another_build_are_recomputed(data_home):
    from routing_core.datasets.stats import STATS_VERSION

    store = DatasetStore()
    store.save("plans", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    path = data_home / "datasets" / "plans" / "stats.json"
    path.write_text(json.dumps({"unique_items": -1}))  # an older format without a version
    stats = store.stats("plans")
    assert stats["stats_version"] == STATS_VERSION and stats["unique_items"] == 25
    assert json.loads(path.read_text())["unique_items"] == 25


def test_an_empty_data_home_setting_means_data_for_datasets_activity_and_roles_alike(monkeypatch):
    from routing_core.datasets import data_home
    from routing_core.users.access import roles_path
    from routing_core.users.activity import ActivityLog

    monkeypatch.setenv("ROUTING_DATA_HOME", "")
    assert data_home() == Path("data")
    assert ActivityLog().path.parent == Path("data") and roles_path().parent == Path("data")
