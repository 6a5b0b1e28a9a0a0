"""AppTest fixtures: the real app on temp data and models folders, with real datasets and trained versions."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.conftest import ADMIN, ROOT

APP = str(ROOT / "app.py")
TIMEOUT = 30
SMALL_ITEMS = 300  # the sample size trained in these tests: a real model in about a second
VERSIONS = ("v-small-a", "v-small-b")


def unescape(text: str) -> str:
    """Markdown as the user reads it: the backslash escapes of ui.text.md removed."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(elements) -> list[str]:
    """The values of an AppTest element list, unescaped."""
    return [unescape(str(e.value)) for e in elements]


def links(elements) -> list[tuple[str, str]]:
    """(label, target page URL path) of page links, e.g. ("Go to Train", "Train"); "" is the first page."""
    return [(e.proto.label, e.proto.page) for e in elements]


# AppTest runs every test app under this one session id (streamlit.testing's LocalScriptRunner).
APPTEST_SESSION = "test session id"


def held(name: str):
    """What the AppTest session holds under `name` (ui.held), None when nothing."""
    from ui import held as store

    return store.of_session(APPTEST_SESSION).get(name)


def open_app(page: str | None = None) -> AppTest:
    """A new browser session: the app's first run, then `page` (e.g. "pages/2_Dataset.py")."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
    return at


def run_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 60, every: float = 0.3) -> AppTest:
    """Rerun (as the page's timer does in a browser) until `done(at)` or the timeout."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert not at.exception, at.exception
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {timeout} s; last page text: {texts(at.markdown)}")
        time.sleep(every)
        at.run()
    return at


def wait_for_jobs(models_dir: Path, data_home: Path, timeout: float = 60) -> None:
    """Wait until no training job of this folder is pending or running (the worker is a real process)."""
    manager = JobManager(models_dir, data_home)
    deadline = time.monotonic() + timeout
    while manager.active():
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still active: {manager.active()}")
        time.sleep(0.2)


@pytest.fixture
def fresh_server() -> None:
    """Ask for this to run the app as a just-started server does (see `steady_server`)."""


@pytest.fixture(autouse=True)
def steady_server(request, monkeypatch) -> None:
    """Run the app as a server does once app.py has called st.navigation (every run but the first).

    With a `pages/` folder Streamlit runs a page file on its own until st.navigation has been
    called once in the process. A server does that once; AppTest resets it before every run,
    so each run would start as on a just-started server, where ui.frame reroutes a page
    through app.py with st.rerun — which drops the button click of that run.
    """
    if "fresh_server" in request.fixturenames:
        return
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def small_sample(data_home) -> str:
    """The sample data with 300 items stored as 'sample' (so the app stores no bigger one)."""
    store = DatasetStore(data_home)
    store.save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=SMALL_ITEMS)), name="sample.csv"), user=ADMIN)
    return "sample"


@pytest.fixture(scope="session")
def trained_folders(tmp_path_factory) -> tuple[Path, Path]:
    """A data home with the small sample and a models folder with two real versions, built once."""
    root = tmp_path_factory.mktemp("trained")
    data, models = root / "data", root / "models"
    DatasetStore(data).save(
        "sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=SMALL_ITEMS)), name="sample.csv"),
        user=ADMIN)
    for seed, version in enumerate(VERSIONS, start=1):
        run_training(TrainRequest("sample", version=version, seed=seed), models, data, user=ADMIN)
    return data, models


@pytest.fixture
def trained(trained_folders, data_home, models_dir) -> tuple[str, ...]:
    """This test's data home and models folder hold copies of the trained versions and their dataset."""
    data, models = trained_folders
    shutil.copytree(data, data_home, dirs_exist_ok=True)
    shutil.copytree(models, models_dir, dirs_exist_ok=True)
    return VERSIONS
