"""Sign-in and roles on the pages: who the user is, what shows disabled and why, jobs with owners.

AppTest plays a signed-in browser through `at.user` (the claims st.user reads) with an `[auth]`
secrets section; the real roles file, stores and job manager do the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from routing_core.datasets import DatasetStore
from routing_core.engine.jobs import JobManager, training_slot
from routing_core.users.access import ROLES_ENV
from routing_core.users.activity import ActivityLog
from routing_core.versions.registry import Registry
from tests.app.conftest import APP, TIMEOUT, texts, wait_for_jobs
from ui.auth import USER_HEADER_ENV, identity_from_claims, identity_from_headers

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "routing-studio",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ROLES = """
[users]
"vera@plant.test" = "viewer"
"ana@plant.test" = "analyst"
"otto@plant.test" = "analyst"
[groups]
"routing-admins" = "admin"
"""
TRAIN, MODELS, CACHE, UPLOAD = "pages/3_Train.py", "pages/4_Models.py", "pages/6_Cache.py", "pages/1_Upload.py"


def test_identity_from_claims_prefers_the_email_and_reads_groups():
    assert identity_from_claims({"sub": "u1", "email": "ana@plant.test", "groups": ["a", " b "]}) == (
        "ana@plant.test", ("a", "b"))
    assert identity_from_claims({"sub": "u1", "preferred_username": "ana"}) == ("ana", ())
    assert identity_from_claims({"sub": "u1", "groups": "admins"}) == ("u1", ("admins",))
    assert identity_from_claims({"email": "  ", "sub": ""}) is None


def test_identity_from_headers_ignores_case_and_needs_a_user():
    headers = {"X-Forwarded-User": "ana", "X-Forwarded-Groups": "routing-admins, ,qa"}
    assert identity_from_headers(headers, "x-forwarded-user", "X-FORWARDED-GROUPS") == (
        "ana", ("routing-admins", "qa"))
    assert identity_from_headers(headers, "X-Forwarded-User") == ("ana", ())
    assert identity_from_headers({"X-Forwarded-User": " "}, "X-Forwarded-User") is None


@pytest.fixture
def roles(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES)
    monkeypatch.setenv(ROLES_ENV, str(path))
    return path


def session(user: dict | None, page: str | None = None) -> AppTest:
    """A browser session on a server with sign-in configured; `user` the ID token's claims (None:
    not signed in)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, **user} if user else {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def help_of(at: AppTest, key: str) -> str:
    return at.button(key=key).proto.help


@pytest.mark.parametrize("page", [None, TRAIN, MODELS, "pages/7_Activity.py"])
def test_signed_out_every_page_shows_only_the_sign_in_button(page, data_home, models_dir, roles):
    at = session(None, page)
    assert at.title.values == ["Routing Studio"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.selectbox
    assert DatasetStore(data_home).names() == []  # a visitor who is not signed in stores nothing


def test_behind_a_proxy_a_request_without_its_user_header_sees_nothing(data_home, models_dir, monkeypatch):
    monkeypatch.setenv(USER_HEADER_ENV, "X-Forwarded-User")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title.values == ["Routing Studio"]
    assert any("sign-in proxy" in t for t in texts(at.warning))
    assert not at.button and DatasetStore(data_home).names() == []


def test_a_roles_file_that_cannot_be_read_shows_why_and_nothing_else(data_home, models_dir, tmp_path,
                                                                     monkeypatch):
    bad = tmp_path / "roles.toml"
    bad.write_text('[users]\n"ana@plant.test" = "owner"\n')
    monkeypatch.setenv(ROLES_ENV, str(bad))
    at = session({"email": "ana@plant.test"})
    assert any("owner" in t and "is not one of" in t for t in texts(at.error))
    assert at.title.values == ["Routing Studio"] and not at.button


def test_the_viewer_sees_every_change_disabled_with_the_reason(trained, data_home, models_dir, roles):
    logged = ActivityLog(data_home).entries()
    at = session({"email": "vera@plant.test", "sub": "v"}, TRAIN)
    assert any("Signed in as" in t and "vera@plant.test" in t and "viewer" in t
               for t in texts(at.sidebar.caption))
    assert at.button(key="train_start").disabled
    assert "vera@plant.test is a viewer and may not start trainings: that needs the analyst role." == help_of(
        at, "train_start")
    at.switch_page(MODELS).run()
    for key, doing in (("models_activate", "make a model version active"),
                       ("models_delete", "delete model versions")):
        assert at.button(key=key).disabled and doing in help_of(at, key), key
    at.switch_page(CACHE).run()
    assert at.button(key="cache_clear").disabled and "clear the caches" in help_of(at, "cache_clear")
    at.switch_page(UPLOAD).run()
    assert at.button(key="upload_use_sample").disabled
    assert not at.exception
    # The analyst may train; the admin (through a group) may activate and delete.
    at = session({"email": "ana@plant.test"}, TRAIN)
    assert not at.button(key="train_start").disabled
    at = session({"email": "adam@plant.test", "groups": ["routing-admins"]}, MODELS)
    assert not at.button(key="models_delete").disabled
    assert ActivityLog(data_home).entries() == logged  # looking changed nothing


def test_only_the_owner_or_an_admin_cancels_a_job_and_the_queue_shows_its_place(
        small_sample, data_home, models_dir, roles):
    manager = JobManager(models_dir, data_home)
    ana = session({"email": "ana@plant.test"}, TRAIN)
    ana.text_input(key="train_version").input("v-ana").run()
    with training_slot(models_dir):  # another training holds the folder: the job waits
        ana.button(key="train_start").click().run()
        [job] = manager.list()
        assert job["owner"] == "ana@plant.test" and job["state"] == "pending"
        box = next(c for c in ana.main.container if c.key == f"train_job_{job['job_id']}")
        assert any("started by" in t and "ana@plant.test" in t for t in texts(box.markdown))
        assert any(t.startswith("Next in the queue") for t in texts(box.caption))
        assert ana.query_params["job"] == job["job_id"]  # a reload opens it again

        otto = session({"email": "otto@plant.test"}, TRAIN)
        cancel = otto.button(key=f"train_cancel_{job['job_id']}")
        assert cancel.disabled
        assert "may not cancel another user's training (started by ana@plant.test)" in cancel.proto.help
        assert manager.get(job["job_id"])["state"] == "pending"

        adam = session({"email": "adam@plant.test", "groups": ["routing-admins"]}, TRAIN)
        adam.button(key=f"train_cancel_{job['job_id']}").click().run()
        assert manager.get(job["job_id"])["state"] == "cancelled"
    wait_for_jobs(models_dir, data_home)
    ana.run()
    assert any("Cancelled by adam@plant.test" in t for t in texts(ana.main.warning))
    assert not Registry(models_dir).exists("v-ana")
    users = {(e["user"], e["action"]) for e in ActivityLog(data_home).entries()}
    assert ("ana@plant.test", "submit_training") in users and ("adam@plant.test", "cancel_training") in users


def test_activity_page_filters_the_log_and_downloads_it(small_sample, data_home, models_dir):
    log = ActivityLog(data_home)  # it holds the storing of the sample (by this OS user) already
    log.record("ana@plant.test", "submit_training", "v1")
    log.record("adam@plant.test", "activate_version", "v1")
    log.record("adam@plant.test", "clear_cache", "caches", manifests=2)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/7_Activity.py").run()
    assert not at.exception and at.title.values == ["Activity"]
    table = at.main.dataframe[0].value
    assert table["action"].tolist() == ["clear_cache", "activate_version", "submit_training",
                                        "store_dataset"]  # newest first
    assert table.columns.tolist() == ["time", "user", "action", "object", "outcome", "details"]
    at.selectbox(key="activity_user").select("adam@plant.test").run()
    assert at.main.dataframe[0].value["object"].tolist() == ["caches", "v1"]
    at.selectbox(key="activity_object").select("v1").run()
    assert at.main.dataframe[0].value["action"].tolist() == ["activate_version"]
    assert "1 of 4 entries." in texts(at.caption)
    at.date_input(key="activity_since").set_value(datetime.now(UTC).date() + timedelta(days=1)).run()
    assert at.main.dataframe[0].value.empty and "0 of 4 entries." in texts(at.caption)
    assert at.download_button(key="activity_download").label == "Download (CSV)"
    assert len(log.entries()) == 4  # looking recorded nothing
