"""Fail closed on every broken configuration (AppTest on the real app, real files).

Attacks: a secrets file with an `[auth]` section and a syntax error (it used to run the app with
no sign-in, every visitor an admin), a secrets file that cannot be read, a connections file that
cannot be parsed, an `[auth]` section that cannot sign anyone in, a roles file that cannot be
read, a server on 0.0.0.0 without sign-in (or with ROUTING_ALLOW_OPEN spelt other than 1), a
proxy header name no request can carry, the identity header sent twice, and the same person
in another letter case. Each gets one message for the administrator and nothing else: no
widget, no stored sample, no activity.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit import config
from streamlit.runtime.context import StreamlitHeaders
from streamlit.testing.v1 import AppTest

from routing_core.datasets import DatasetStore
from routing_core.engine.jobs import JobManager
from routing_core.users.access import ROLES_ENV
from routing_core.users.activity import ActivityLog
from tests.app.conftest import APP, TIMEOUT, small_sample, texts, wait_for_jobs  # noqa: F401
from ui.auth import ConfigError, identity_from_claims, identity_from_headers

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-some-length",
    "client_id": "routing-studio",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
MODELS = "pages/4_Models.py"


@pytest.fixture
def option() -> Iterator:
    """Set Streamlit config options for one test (as `--secrets.files`, `server.address` would)."""
    saved: dict = {}

    def set_option(key: str, value) -> None:
        saved.setdefault(key, config.get_option(key))
        config.set_option(key, value)
        st.secrets._reset()

    yield set_option
    for key, value in saved.items():
        config.set_option(key, value)
    st.secrets._reset()


def _served_nothing(at: AppTest, data_home, *words: str) -> None:
    assert not at.exception, at.exception
    assert at.title.values == ["Routing Studio"]
    assert len(at.error) == 1 and all(w in texts(at.error)[0] for w in words), texts(at.error)
    assert not at.button and not at.selectbox and not at.dataframe and not at.sidebar.caption
    assert DatasetStore(data_home).names() == []  # not even the fresh start's sample
    assert ActivityLog(data_home).entries() == []


def _open(page: str | None = None, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if secrets:
        at.secrets.update(secrets)
    at.run()
    if page is not None and not at.exception:
        at.switch_page(page).run()
    return at


def test_auth_section_with_a_syntax_error_serves_nothing(data_home, models_dir, tmp_path, option):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = \n')
    option("secrets.files", [str(secrets)])
    at = _open(MODELS)
    _served_nothing(at, data_home, str(secrets), "not valid TOML")


def test_a_secrets_file_that_cannot_be_read_serves_nothing(data_home, models_dir, tmp_path, option):
    unreadable = tmp_path / "secrets.toml"
    unreadable.mkdir()  # exists, cannot be read as a file (root reads any file mode, so a folder)
    option("secrets.files", [str(unreadable)])
    at = _open()
    _served_nothing(at, data_home, str(unreadable), "cannot be read")


def test_a_connections_file_that_cannot_be_parsed_serves_nothing(data_home, models_dir, tmp_path, monkeypatch):
    secrets = tmp_path / "conn.toml"
    secrets.write_text('[connections.erp\nurl = "postgresql://u:pw@h/db"')
    monkeypatch.setenv("ROUTING_SECRETS", str(secrets))
    at = _open()
    _served_nothing(at, data_home, str(secrets), "not valid TOML")
    assert "pw@h" not in " ".join(texts(at.error))


@pytest.mark.parametrize("missing", ["cookie_secret", "client_secret", "server_metadata_url"])
def test_an_auth_section_that_cannot_sign_anyone_in_serves_nothing(missing, data_home, models_dir):
    at = _open(secrets={"auth": {k: v for k, v in AUTH.items() if k != missing}})
    _served_nothing(at, data_home, "cannot be used", missing)


def test_a_roles_file_that_is_a_folder_serves_nothing(data_home, models_dir, tmp_path, monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.mkdir()
    monkeypatch.setenv(ROLES_ENV, str(roles))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ana@plant.test"}
    at.run()
    _served_nothing(at, data_home, "roles file", roles.name)


def test_an_open_address_without_sign_in_serves_nothing(data_home, models_dir, option, monkeypatch):
    monkeypatch.delenv("ROUTING_ALLOW_OPEN", raising=False)
    for address in ("0.0.0.0", "", "10.1.2.3", "plant-server"):
        option("server.address", address)
        at = _open(MODELS)
        _served_nothing(at, data_home, "without sign-in", "Nothing is served")


@pytest.mark.parametrize("spelling", ["yes", "true", "on"])
def test_allow_open_spelt_otherwise_than_1_serves_nothing(data_home, models_dir, option, monkeypatch, spelling):
    option("server.address", "0.0.0.0")
    monkeypatch.setenv("ROUTING_ALLOW_OPEN", spelling)
    at = _open(MODELS)
    _served_nothing(at, data_home, f"ROUTING_ALLOW_OPEN='{spelling}' is not 1 (open) or 0")


def test_a_proxy_header_that_no_request_can_carry_serves_nothing(data_home, models_dir, monkeypatch):
    monkeypatch.setenv("ROUTING_TRUSTED_USER_HEADER", "X Forwarded User")
    at = _open(MODELS)
    _served_nothing(at, data_home, "ROUTING_TRUSTED_USER_HEADER='X Forwarded User' is not an HTTP header name")


def test_allow_open_serves_every_page_under_a_banner(data_home, models_dir, option, monkeypatch):
    option("server.address", "0.0.0.0")
    monkeypatch.setenv("ROUTING_ALLOW_OPEN", "1")
    at = _open()
    for page in (None, MODELS, "pages/7_Activity.py"):
        if page:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        assert any("Open to the network without sign-in" in t for t in texts(at.warning)), page
    option("server.address", "127.0.0.1")  # loopback: no banner
    at = _open()
    assert not any("Open to the network" in t for t in texts(at.warning))


def test_an_identity_header_sent_twice_is_refused_never_the_first_value():
    # What st.context.headers holds for a request with the header twice (the client's, then the
    # proxy's appended one): Streamlit keeps both.
    twice = StreamlitHeaders([("X-Forwarded-User", "adam@plant.test"), ("X-Forwarded-User", "vera@plant.test")])
    with pytest.raises(ConfigError, match="2 times"):
        identity_from_headers(twice, "X-Forwarded-User")
    groups = StreamlitHeaders([("X-Forwarded-User", "vera@plant.test"), ("X-Forwarded-Groups", "routing-admins"),
                               ("x-forwarded-groups", "qa")])
    with pytest.raises(ConfigError, match="X-Forwarded-Groups 2 times"):
        identity_from_headers(groups, "X-Forwarded-User", "X-Forwarded-Groups")
    with pytest.raises(ConfigError, match="several users"):
        identity_from_headers({"X-Forwarded-User": "adam@plant.test, vera@plant.test"}, "X-Forwarded-User")
    once = StreamlitHeaders([("x-forwarded-user", " Vera@Plant.Test ")])
    assert identity_from_headers(once, "X-Forwarded-User") == ("vera@plant.test", ())


@pytest.mark.usefixtures("small_sample")
def test_one_person_in_another_case_is_one_user_for_role_and_owner(data_home, models_dir, tmp_path, monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.write_text('[users]\n"ana@plant.test" = "analyst"\n')
    monkeypatch.setenv(ROLES_ENV, str(roles))
    assert identity_from_claims({"email": "ANA@PLANT.TEST"}) == ("ana@plant.test", ())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ANA@PLANT.TEST"}
    at.run()
    at.switch_page("pages/3_Train.py").run()
    assert not at.exception, at.exception
    assert any("ana@plant.test" in t and "analyst" in t for t in texts(at.sidebar.caption))
    at.toggle(key="train_dry_run").set_value(True).run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    wait_for_jobs(models_dir, data_home)
    [job] = JobManager(models_dir, data_home).list()
    assert job["owner"] == "ana@plant.test"
    assert [e["user"] for e in ActivityLog(data_home).entries(action="submit_training")] == ["ana@plant.test"]
