"""A team's dashboard in a real browser: sign-in through a real OpenID Connect provider, roles.

One provider process (oidc-provider-mock) with three users and one `streamlit run` whose
secrets file points `st.login` at it and whose roles file makes vera a viewer, ana an analyst
and adam an admin (through his group). Before sign-in every page shows only the sign-in button;
the viewer sees training and deleting disabled with the reason, and the core refuses her forged
requests; the analyst trains and finds the result after a reload; the admin activates it; the
Activity page lists each action with the user who did it.
"""

from __future__ import annotations

import csv
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.access import Forbidden, load_roles
from routing_core.users.activity import ActivityLog
from routing_core.versions.registry import Registry
from tests.conftest import ADMIN as OS_ADMIN
from tests.e2e.conftest import CHROMIUM, shot, stop_training, wait_idle
from tests.oidc_provider import oidc_provider, secrets_toml
from tests.streamlit_server import streamlit_server

VIEWER, ANALYST, ADMIN = "vera@plant.test", "ana@plant.test", "adam@plant.test"
USERS = [
    {"sub": "vera", "email": VIEWER},
    {"sub": "ana", "email": ANALYST},
    {"sub": "adam", "email": ADMIN, "groups": ["routing-admins"]},
]
ROLES = f"""
[users]
"{VIEWER}" = "viewer"
"{ANALYST}" = "analyst"

[groups]
"routing-admins" = "admin"
"""
VERSION = "v-team"
TRAINING_TIMEOUT = 120_000  # ms; the 300-item sample trains in a few seconds here


@dataclass
class Team:
    url: str
    models_dir: Path
    data_home: Path
    roles: Path
    log: Path


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[Team]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run).")
    base = tmp_path_factory.mktemp("signin")
    models, home = base / "models", base / "data"
    models.mkdir()
    # A small dataset stored beforehand (so the server stores no sample of its own).
    DatasetStore(home).save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=300)), name="sample.csv"),
                            user=OS_ADMIN)
    roles = base / "roles.toml"
    roles.write_text(ROLES)
    with oidc_provider(USERS, base / "provider.log") as provider:
        # The secrets live in the test's folder only; Streamlit reads them through --secrets.files.
        secrets_file = base / "secrets.toml"
        secrets_file.write_text(secrets_toml(provider, secrets.token_hex(32)))
        log = base / "streamlit.log"
        with streamlit_server(models, home, log, extra_args=("--secrets.files", str(secrets_file)),
                              extra_env={"ROUTING_ROLES_FILE": str(roles)}) as (url, _):
            try:
                yield Team(url, models, home, roles, log)
            finally:
                stop_training(models, home)


# ------------------------------------------------------------------ helpers


def open_path(page: Page, team: Team, path: str = "") -> None:
    page.goto(f"{team.url}/{path}")
    wait_idle(page)


def sign_in(page: Page, team: Team, sub: str, path: str = "") -> None:
    """Sign in through the provider's page as `sub`; land back on the app, signed in."""
    open_path(page, team, path)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_url(re.compile(re.escape(team.url)))
    email = next(u["email"] for u in USERS if u["sub"] == sub)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {email}")
    wait_idle(page)
    if path:
        open_path(page, team, path)


def no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def reason(page: Page, button: Locator) -> str:
    """The help text a (disabled) button shows on hover."""
    # A disabled button takes no pointer events: hover the element that carries its tooltip.
    target = button.locator("xpath=ancestor::*[@data-testid='stTooltipHoverTarget'][1]")
    tip = page.get_by_test_id("stTooltipContent")
    for attempt in range(3):  # a hover that lands during a redraw shows nothing: hover again
        page.mouse.move(2, 2)
        target.hover()
        try:
            expect(tip).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    text = tip.inner_text()
    page.mouse.move(2, 2)
    expect(tip).to_have_count(0)
    return text


def job_box(page: Page, version: str) -> Locator:
    return page.locator('[class*="st-key-train_job_"]').filter(has_text=f"Training of version {version}")


def activity(team: Team) -> list[tuple[str, str, str, str]]:
    """(user, action, object, outcome) of every activity entry, oldest first."""
    return [(e["user"], e["action"], e["object"], e["outcome"])
            for e in reversed(ActivityLog(team.data_home).entries())]


# ------------------------------------------------------------------ the journey, in order


def test_before_sign_in_every_page_shows_only_the_sign_in_button(team: Team, page: Page):
    for path in ("", "Train", "Models", "Activity"):
        open_path(page, team, path)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no page names before sign-in
        for heading in ("Train a model", "Model versions", "Activity", "Upload routings"):
            expect(page.get_by_role("heading", name=heading, exact=True)).to_have_count(0)
        no_exception(page)
    shot(page, "sign_in")
    assert Registry(team.models_dir).names() == []
    assert DatasetStore(team.data_home).names() == ["sample"]


def test_analyst_trains_and_sees_the_result_after_a_reload(team: Team, page: Page):
    sign_in(page, team, "ana", "Train")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("analyst")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled()
    box = page.get_by_role("textbox", name="Version name", exact=True)
    box.fill(VERSION)
    box.press("Enter")
    wait_idle(page)
    start.click()
    expect(page.get_by_test_id("stToast").filter(has_text="Training queued.")).to_be_visible()
    job = job_box(page, VERSION)
    expect(job).to_contain_text(f"started by {ANALYST}")
    expect(job).to_contain_text(f"Version {VERSION} is ready", timeout=TRAINING_TIMEOUT)
    assert re.search(r"[?&]job=", page.url), page.url  # the job is in the address

    page.reload()
    wait_idle(page)
    no_exception(page)
    job = job_box(page, VERSION)
    expect(job).to_contain_text(f"Version {VERSION} is ready")
    expect(job).to_contain_text("routing accuracy")
    expect(job.get_by_role("link", name=f"Open {VERSION} in Models")).to_be_visible()
    make_active = job.get_by_role("button", name="Make active")
    expect(make_active).to_be_disabled()  # an analyst does not activate
    assert "needs the admin role" in reason(page, make_active)
    shot(page, "train_signed_in")
    assert Registry(team.models_dir).names() == [VERSION]
    [submitted] = [e for e in activity(team) if e[1] == "submit_training"]
    assert submitted[0] == ANALYST


def test_viewer_cannot_train_or_delete(team: Team, page: Page):
    sign_in(page, team, "vera", "Train")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("viewer")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_disabled()
    said = reason(page, start)
    assert VIEWER in said and "may not start trainings" in said and "analyst role" in said, said

    open_path(page, team, f"Models?version={VERSION}")
    expect(page.get_by_role("heading", name="Model versions", exact=True)).to_be_visible()
    delete = page.get_by_role("button", name="Delete…")
    expect(delete).to_be_disabled()
    said = reason(page, delete)
    assert "may not delete model versions" in said and "admin role" in said, said
    expect(page.get_by_role("button", name="Activate")).to_be_disabled()
    no_exception(page)
    assert Registry(team.models_dir).names() == [VERSION]


def test_the_core_refuses_the_viewers_forged_requests(team: Team):
    viewer = load_roles(team.roles).user(VIEWER)
    assert viewer.role == "viewer"
    manager, registry = JobManager(team.models_dir, team.data_home), Registry(team.models_dir)
    jobs_before, log_before = manager.list(), activity(team)
    with pytest.raises(Forbidden, match="needs the analyst role"):
        manager.submit(TrainRequest("sample", version="v-forged"), user=viewer)
    with pytest.raises(Forbidden, match="needs the admin role"):
        registry.delete(VERSION, user=viewer)
    with pytest.raises(Forbidden, match="needs the admin role"):
        registry.activate(VERSION, user=viewer)
    store = DatasetStore(team.data_home)
    with pytest.raises(Forbidden, match="needs the analyst role"):
        store.save("forged", load_dataset(sample_csv_bytes(SampleConfig(n_items=20)), name="f.csv"), user=viewer)
    with pytest.raises(Forbidden, match="needs the admin role"):
        store.delete("sample", user=viewer)
    assert store.names() == ["sample"]
    assert [j["job_id"] for j in manager.list()] == [j["job_id"] for j in jobs_before]
    assert registry.names() == [VERSION] and registry.active() is None
    assert activity(team) == log_before


def test_admin_activates(team: Team, page: Page):
    sign_in(page, team, "adam", f"Models?version={VERSION}")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("admin")
    activate = page.get_by_role("button", name="Activate")
    expect(activate).to_be_enabled()
    activate.click()
    expect(page.get_by_test_id("stToast").filter(has_text=f"{VERSION} is now the active version.")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_role("button", name="Activate")).to_be_disabled()
    expect(page.get_by_role("button", name="Delete…")).to_be_enabled()
    no_exception(page)
    assert Registry(team.models_dir).active() == VERSION
    deadline = time.monotonic() + 10
    while (ADMIN, "activate_version", VERSION, "ok") not in activity(team) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (ADMIN, "activate_version", VERSION, "ok") in activity(team)


def test_activity_page_lists_each_action_with_its_user(team: Team, page: Page):
    sign_in(page, team, "vera", "Activity")
    expect(page.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
    no_exception(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download (CSV)").click()
    with open(download.value.path(), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    seen = {(r["user"], r["action"], r["object"]) for r in rows}
    assert (ANALYST, "submit_training", VERSION) in seen, seen
    assert (ANALYST, "finish_training", VERSION) in seen, seen
    assert (ADMIN, "activate_version", VERSION) in seen, seen
    assert not any(r["user"] == VIEWER for r in rows)  # the viewer changed nothing
    finished = next(r for r in rows if r["action"] == "finish_training")
    assert finished["outcome"] == "completed"

    # Filter by user: only the admin's entry is left.
    box = page.get_by_role("combobox", name="User", exact=True)
    box.click()
    page.get_by_role("option", name=ADMIN, exact=True).click()
    wait_idle(page)
    expect(page.get_by_text(re.compile(rf"^1 of {len(rows)} entries\.$"))).to_be_visible()
    shot(page, "activity")
