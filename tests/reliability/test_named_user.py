"""No change without a named user: the core refuses `user=None`, and a viewer finds nothing to press.

Attacks: a core call that changes state without saying who (it used to mean the local admin);
the Train page's "Train it now" pressed by a viewer (it called submit() without a user and was
not disabled); a viewer on Upload → Database listing tables and running a SELECT. The walk opens
every page as a viewer (AppTest, signed in through the `[auth]` section), presses every button
that is enabled and checks that the data home and models folder are byte-identical afterwards
and that no database was opened.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from routing_core import database
from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.access import ROLES_ENV, Forbidden, User
from routing_core.users.activity import ActivityLog
from routing_core.versions import manifest
from routing_core.versions.registry import Registry
from tests.app.conftest import APP, TIMEOUT, trained, trained_folders, wait_for_jobs  # noqa: F401
from tests.conftest import ROOT

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "routing-studio",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ADMIN = User("root-test", "admin")
ANALYST = User("ana@plant.test", "analyst")
PAGES = ["pages/0_Start.py", "pages/1_Upload.py", "pages/2_Dataset.py", "pages/3_Train.py",
         "pages/4_Models.py", "pages/5_Predict.py", "pages/6_Cache.py", "pages/7_Activity.py"]


def _snapshot(*folders: Path) -> dict[str, str]:
    """Every regular file under the folders with its sha256 (lock files aside: opening one is no change)."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and not path.name.endswith(".lock"):
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ------------------------------------------------------------------ the core


def _stored(home: Path) -> DatasetStore:
    store = DatasetStore(home)
    store.save("small", load_dataset(sample_csv_bytes(SampleConfig(n_items=40, seed=5)), name="s.csv"),
               user=ADMIN)
    return store


def test_every_state_changing_core_call_refuses_a_missing_or_none_user(data_home, models_dir):
    store = _stored(data_home)
    registry, manager = Registry(models_dir), JobManager(models_dir, data_home)
    dataset = load_dataset(sample_csv_bytes(SampleConfig(n_items=30, seed=6)), name="t.csv")
    calls = {
        "DatasetStore.save": lambda **u: store.save("other", dataset, **u),
        "DatasetStore.delete": lambda **u: store.delete("small", **u),
        "Registry.activate": lambda **u: registry.activate("nothing", **u),
        "Registry.delete": lambda **u: registry.delete("nothing", **u),
        "JobManager.submit": lambda **u: manager.submit(TrainRequest("small", dry_run=True), **u),
        "JobManager.cancel": lambda **u: manager.cancel("j-none", **u),
        "manifest.clear_all": lambda **u: manifest.clear_all(**u),
        "manifest.clear_version": lambda **u: manifest.clear_version(models_dir / "x", **u),
        "database.save": lambda **u: database.save(store, "other", dataset, **u),
        "database.refresh": lambda **u: database.refresh(store, "small", **u),
        "ActivityLog.record": lambda **u: ActivityLog(data_home).record(action="x", obj="y", **u),
    }
    before = _snapshot(data_home, models_dir)
    for call in calls.values():
        with pytest.raises(TypeError, match="user"):  # no default: the caller must say who
            call()
        with pytest.raises(UserError, match="named user"):  # None is nobody, never the admin
            call(user=None)
    assert _snapshot(data_home, models_dir) == before
    assert manager.list() == []


READS = {"entries"}  # ActivityLog.entries(user=...): a filter of who did what, it changes nothing


def test_grep_finds_no_core_function_that_lets_user_default():
    """No function of routing_core has a `user` parameter with a default (None meant the admin)."""
    offenders = []
    for path in sorted((ROOT / "routing_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            with_default = [a.arg for a in positional][len(positional) - len(args.defaults):]
            with_default += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            if "user" in with_default and node.name not in READS:
                offenders.append(f"{path.name}:{node.lineno} {node.name}")
    assert offenders == []


def test_the_cli_passes_the_os_user_by_name():
    source = inspect.getsource(__import__("routing_core.cli.commands", fromlist=["x"]))
    source += inspect.getsource(__import__("routing_core.cli.database", fromlist=["x"]))
    for call in (".activate(", ".delete(", "store.save(", "database.save("):
        for line in (ln for ln in source.splitlines() if call in ln):
            assert "user=" in line, line


# ------------------------------------------------------------------ the pages


@pytest.fixture
def viewer_roles(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text('[users]\n"vera@plant.test" = "viewer"\n"ana@plant.test" = "analyst"\n')
    monkeypatch.setenv(ROLES_ENV, str(path))
    monkeypatch.setenv("ROUTING_SECRETS", str(tmp_path / "secrets.toml"))  # only the bundled connection
    return path


def _viewer(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "vera@plant.test", "sub": "v"}
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.usefixtures("trained")
def test_train_it_now_is_disabled_for_a_viewer_and_refused_by_the_core(data_home, models_dir, viewer_roles):
    manager = JobManager(models_dir, data_home)
    job = manager.submit(TrainRequest("sample", version="planned", dry_run=True), user=ANALYST)
    wait_for_jobs(models_dir, data_home)
    assert manager.get(job)["state"] == "completed"
    at = _viewer("pages/3_Train.py", job=job)
    button = at.button(key=f"train_now_{job}")
    assert button.disabled
    assert "vera@plant.test is a viewer and may not start trainings" in button.proto.help
    before = _snapshot(data_home, models_dir)
    with pytest.raises(Forbidden, match="may not start trainings"):  # a forged press reaches the core
        manager.submit(TrainRequest("sample", version="planned"), user=User("vera@plant.test", "viewer"))
    assert _snapshot(data_home, models_dir) == before
    assert [j["job_id"] for j in manager.list()] == [job]


@pytest.mark.usefixtures("trained")
@pytest.mark.parametrize("page", PAGES)
def test_a_viewer_walks_every_page_and_no_enabled_widget_changes_anything(page, data_home, models_dir,
                                                                           viewer_roles):
    at = _viewer(page)
    if page == "pages/1_Upload.py":  # the Database tab too
        at.session_state["upload_source"] = "Database"
        at.run()
        assert not at.exception, at.exception
        assert not (data_home / database.SAMPLE_DB).exists(), "the viewer's visit opened the database"
        assert not [w for w in (*at.selectbox, *at.button, *at.text_area) if str(w.key).startswith("db_")
                    and not w.disabled]
    before = _snapshot(data_home, models_dir)
    pressed = []
    for key in [b.key for b in at.button if not b.disabled and b.key]:
        found = [b for b in at.button if b.key == key and not b.disabled]
        if not found:
            continue
        found[0].click().run()
        pressed.append(key)
        assert not at.exception, (key, at.exception)
        assert _snapshot(data_home, models_dir) == before, f"{page}: pressing {key} changed stored state"
        assert not (data_home / database.SAMPLE_DB).exists(), f"{page}: pressing {key} opened the database"
    assert JobManager(models_dir, data_home).list() == []
