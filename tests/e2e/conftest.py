"""A real `streamlit run app.py` on a free port, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN, ROOT
from tests.streamlit_server import streamlit_server

# Debian's package puts it in /usr/bin; CHROMIUM_PATH points elsewhere when needed.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
# The sizes every page must fit: a small laptop (readable) and a phone (usable).
LAPTOP = {"width": 1024, "height": 700}
PHONE = {"width": 390, "height": 844}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Screenshots land in artifacts/ (gitignored); ROUTING_SCREENSHOTS=docs/screenshots regenerates
# the committed set shown in the README tour.
SCREENSHOTS = Path(os.environ.get("ROUTING_SCREENSHOTS", "artifacts/screenshots"))
if not SCREENSHOTS.is_absolute():
    SCREENSHOTS = ROOT / SCREENSHOTS
FAILURES = ROOT / "artifacts" / "e2e-failures"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed  # read by the `page` fixture to keep evidence
    return report


@dataclass
class Server:
    url: str
    models_dir: Path
    data_home: Path
    process: subprocess.Popen
    log: Path


def stop_training(models: Path, home: Path) -> None:
    """Cancel what the journey left running and stop the worker the server started (by its pid)."""
    from routing_core.engine.jobs import JobManager, pid_alive

    manager = JobManager(models, home)
    for job in manager.active():
        manager.cancel(job["job_id"], user=ADMIN)
    deadline = time.monotonic() + 20
    while manager.active() and time.monotonic() < deadline:
        time.sleep(0.2)
    for job in manager.list():
        if pid_alive(job.get("pid"), job.get("pid_start")):
            os.kill(job["pid"], signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run).")
    base = tmp_path_factory.mktemp("e2e")
    models, home = base / "models", base / "data"
    models.mkdir()
    log = base / "streamlit.log"
    with streamlit_server(models, home, log) as (url, process):
        try:
            yield Server(url, models, home, process, log)
        finally:
            stop_training(models, home)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab (its own Streamlit session); on failure its screenshot and text are kept."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.page_errors = errors
    yield pg
    if getattr(request.node, "e2e_failed", False):
        FAILURES.mkdir(parents=True, exist_ok=True)
        name = request.node.name
        try:
            pg.screenshot(path=str(FAILURES / f"{name}.png"), full_page=True)
            (FAILURES / f"{name}.txt").write_text(f"{pg.url}\n\n{pg.locator('body').inner_text()}")
        except Exception as exc:  # the evidence is a bonus; never hide the test's own failure
            print(f"could not keep the failure evidence: {exc}")
    context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the script has finished its run (after navigation or any widget action)."""
    page.wait_for_timeout(300)  # a short settle: the rerun a click asks for starts asynchronously
    page.wait_for_selector(IDLE, timeout=timeout)


def shot(page, name: str, toasts: bool = False, viewport: dict | None = None) -> Path:
    """A full-page screenshot of the app at the realistic viewport width.

    Streamlit scrolls inside its main section, so the page's own "full page" is one screen:
    the viewport is stretched to the main section's height for the picture, then restored.
    Hover and focus effects are cleared; toasts are closed unless `toasts` (the picture is
    about them).
    """
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    size = viewport or VIEWPORT
    if viewport:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(300)
        page.wait_for_selector(IDLE)
    page.mouse.move(size["width"] - 2, size["height"] - 2)  # no tooltip, no hover toolbar
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    if not toasts:
        from playwright.sync_api import Error, expect

        close = page.get_by_test_id("stToast").get_by_role("button", name="Close")
        for _ in range(5):
            if not close.count():
                break
            try:
                close.first.click(timeout=2_000)
            except Error:  # it went by itself meanwhile
                pass
        expect(page.get_by_test_id("stToast")).to_have_count(0, timeout=10_000)
    height = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    try:
        page.wait_for_timeout(500)  # let charts re-layout to the taller window
        page.wait_for_selector(IDLE)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size(VIEWPORT)
    return path


# Metric values, labels and the values selectboxes show whose text is wider than their box (cut
# off, or hidden behind an ellipsis).
CLIPPED_JS = """
() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricLabel"], [data-testid="stWidgetLabel"], '
    + '[data-testid="stSelectbox"] input')]
  .filter(e => e.offsetParent !== null)
  .flatMap(e => [e, ...e.querySelectorAll('*')])
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => (e.closest('[data-testid]').getAttribute('data-testid') + ': ' + (e.value || e.textContent).trim()))
"""


def clipped(page) -> list[str]:
    """The metric values and labels on the page that do not fit their box."""
    return sorted(set(page.evaluate(CLIPPED_JS)))


def check_fits(page, name: str) -> None:
    """At 1,024 × 700 and at 390 × 844: no metric value or label is cut off; a screenshot of each."""
    try:
        for size, suffix in ((LAPTOP, "1024"), (PHONE, "390")):
            page.set_viewport_size(size)
            page.wait_for_timeout(400)  # let the layout settle to the new width (no rerun happens)
            page.wait_for_selector(IDLE)
            cut = clipped(page)
            assert not cut, f"{name} at {size['width']} px: cut off: {cut}"
            shot(page, f"fit/{name}_{suffix}", viewport=size)
    finally:
        page.set_viewport_size(VIEWPORT)
