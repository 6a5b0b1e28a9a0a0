"""Dataset page: a dataset read from a database shows its source and refreshes (AppTest)."""

from __future__ import annotations

import shutil
import sqlite3

from routing_core import database
from routing_core.datasets import DatasetStore
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN


def test_refresh_says_unchanged_then_shows_the_new_revision(data_home, models_dir, tmp_path, monkeypatch):
    copy = tmp_path / "plant.sqlite"
    shutil.copy(database.ensure_sample_db(tmp_path / "bundled"), copy)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[connections.plant]\nurl = "sqlite:///{copy}"\npassword = "unused"\n')
    monkeypatch.setenv("ROUTING_SECRETS", str(secrets))
    spec = database.connection("plant", home=data_home)
    database.save(DatasetStore(data_home), "erp", database.fetch(spec, "SELECT * FROM v_routing", user=ADMIN), user=ADMIN)

    at = open_app("pages/2_Dataset.py")
    at.selectbox(key="dataset_pick").set_value("erp").run()
    assert not at.exception, at.exception
    assert any("Read from a database" in t and "Connection: plant" in t for t in texts(at.markdown))
    assert "SELECT * FROM v_routing" in at.code[0].value

    at.button(key="dataset_refresh").click().run()
    assert texts(at.info)[0].startswith("Unchanged: 'erp' already holds what the database returns")
    assert at.selectbox(key="dataset_pick").value == "erp"

    with sqlite3.connect(copy) as db:
        db.execute("UPDATE routing_operation SET process_code = 'EDM' WHERE seq = 10 AND item_code = "
                   "(SELECT min(item_code) FROM item_master)")
    at.button(key="dataset_refresh").click().run()
    assert not at.exception, at.exception
    assert texts(at.success)[0].startswith("New revision 'erp-r2' of 'erp': 0 item(s) added, 0 removed, "
                                            "1 routing(s) changed")
    assert at.selectbox(key="dataset_pick").value == "erp-r2"
    assert any("Refreshed from: erp" in t for t in texts(at.markdown))
