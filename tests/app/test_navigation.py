"""Every page opens without an exception, on a fresh start and with trained versions; empty states guide."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from routing_core.datasets import DatasetStore
from tests.app.conftest import APP, TIMEOUT, links, open_app, texts
from tests.conftest import ADMIN
from ui.nav import PAGES

TITLES = {
    "pages/0_Start.py": "Routing Studio",
    "pages/1_Upload.py": "Upload routings",
    "pages/2_Dataset.py": "Dataset",
    "pages/3_Train.py": "Train a model",
    "pages/4_Models.py": "Model versions",
    "pages/5_Predict.py": "Predict routings",
    "pages/6_Cache.py": "Manifest cache",
    "pages/7_Activity.py": "Activity",
    "pages/8_Accepted.py": "Accepted routings",
}


def test_fresh_start_stores_the_sample_once_and_every_page_opens(data_home, models_dir):
    at = open_app()
    assert at.title.values == ["Routing Studio"]  # the start page opens first
    store = DatasetStore(data_home)
    assert store.names() == ["sample"]
    record = store.record("sample")
    assert record.items == 2000 and record.source_name == "sample.csv"
    assert texts(at.sidebar.caption) == ["No active model yet."]
    assert links(at.sidebar.page_link) == [("Train a model", "Train")]

    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert at.title.values == [TITLES[spec.path]]
    assert store.names() == ["sample"]  # stored once, not per page or per run
    assert record.created_at == store.record("sample").created_at


@pytest.mark.parametrize(
    ("page", "message", "target"),
    [
        ("pages/4_Models.py", "No model version yet", "Train"),
        ("pages/5_Predict.py", "No usable model version yet", "Train"),
        ("pages/6_Cache.py", "No model version yet", "Train"),
    ],
)
def test_empty_states_without_models_link_to_train(data_home, models_dir, page, message, target):
    at = open_app(page)
    assert not at.exception
    assert any(message in t for t in texts(at.info)), texts(at.info)
    assert ("Go to Train", target) in links(at.main.page_link)


def test_empty_states_without_datasets_link_to_upload(data_home, models_dir):
    at = open_app()
    DatasetStore(data_home).delete("sample", user=ADMIN)  # e.g. removed by hand after the first start
    for page in ("pages/2_Dataset.py", "pages/3_Train.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert any("Upload a routing export" in t for t in texts(at.info)), texts(at.info)
        assert links(at.main.page_link) == [("Go to Upload", "Upload")]  # no longer the default page
    assert DatasetStore(data_home).names() == []  # not silently stored again within the process


def test_every_page_inside_the_app_frame_with_trained_versions(trained):
    at = open_app()
    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert at.title.values == [TITLES[spec.path]]
        assert at.sidebar.subheader.values == ["Active model"]  # drawn once, by app.py


def test_a_fresh_server_opening_a_page_url_reroutes_through_the_app(fresh_server, trained):
    # A just-started server runs a pages/ file on its own; the page registers the app's
    # navigation and reruns, so app.py draws the frame and the page runs inside it.
    for spec in PAGES:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert at.title.values == [TITLES[spec.path]]
        assert at.sidebar.subheader.values == ["Active model"]
        assert "_routing_rerouted" not in at.session_state  # app.py ran the page
        assert "_routing_in_app_frame" not in at.session_state  # consumed by the page
