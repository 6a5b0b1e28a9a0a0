"""Upload page, Database tab: the bundled SQLite connection read as a dataset (AppTest)."""

from __future__ import annotations

import pytest

from routing_core.datasets import DatasetStore
from tests.app.conftest import open_app, texts

UPLOAD = "pages/1_Upload.py"


@pytest.fixture
def db_tab(data_home, models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTING_SECRETS", str(tmp_path / "secrets.toml"))  # only the bundled one
    at = open_app(UPLOAD)
    at.session_state["upload_source"] = "Database"
    at.run()
    assert not at.exception, at.exception
    return at


def test_join_of_the_sample_views_is_read_mapped_and_saved(db_tab, data_home):
    at = db_tab
    assert at.selectbox(key="db_connection").value == "sample"
    assert at.radio(key="db_mode").value == "Item and routing views"
    assert (at.selectbox(key="db_items").value, at.selectbox(key="db_routings").value,
            at.selectbox(key="db_on").value) == ("v_item", "v_routing", "item_code")
    assert "LEFT JOIN v_item i ON i.item_code = r.item_code" in at.code[0].value
    at.button(key="db_read").click().run()
    assert not at.exception, at.exception
    assert any("11,226 rows × 15 columns read from 'sample'" in t for t in texts(at.caption))
    assert at.selectbox(key="db_map_item_code").value == "item_code"
    assert {m.label: m.value for m in at.main.metric}["Items"] == "2,000"
    assert at.text_input(key="db_upload_name").value == "sample-v_routing"
    at.button(key="db_upload_save").click().run()
    assert texts(at.success)[-1] == "Saved as dataset **sample-v_routing** (2,000 items, 11,226 operations)."
    record = DatasetStore(data_home).record("sample-v_routing")
    assert record.source["connection"] == "sample" and record.source["rows"] == 11_226


def test_a_delete_and_a_row_limit_are_refused_with_one_message(db_tab, data_home):
    at = db_tab
    at.radio(key="db_mode").set_value("SELECT query").run()
    at.text_area(key="db_query").set_value("DELETE FROM routing_operation").run()
    at.button(key="db_read").click().run()
    assert texts(at.error) == ["Only a SELECT query is allowed (this one starts with DELETE); nothing was run."]
    at.text_area(key="db_query").set_value("SELECT * FROM v_routing").run()
    at.number_input(key="db_row_limit").set_value(1000).run()
    at.button(key="db_read").click().run()
    assert len(at.error) == 1 and "returns more than 1,000 rows" in texts(at.error)[0]
    assert all(b.key != "db_upload_save" for b in at.button)
    assert DatasetStore(data_home).names() == ["sample"]  # the fresh start's sample only


def test_a_broken_secrets_file_is_one_message(data_home, models_dir, tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.erp\nurl = "postgresql://u:pw@h/db"')
    monkeypatch.setenv("ROUTING_SECRETS", str(secrets))
    at = open_app(UPLOAD)
    at.session_state["upload_source"] = "Database"
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "is not valid TOML" in texts(at.error)[0] and "pw" not in texts(at.error)[0]
