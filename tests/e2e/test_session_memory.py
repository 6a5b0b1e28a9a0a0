"""The memory an upload took is returned when its browser tab closes (docs/reliability.md, "Bounded
reads, records, exports, encodings"): a real server, a real upload in Chromium, the server's
resident memory read from /proc before the upload, with the file read and reviewed, and after
the tab is closed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.e2e.conftest import wait_idle
from tests.streamlit_server import streamlit_server

pytestmark = pytest.mark.slow


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def settled_mb(pid: int, seconds: float = 3.0) -> float:
    """Resident memory once it stops falling (a page's last run and a collection may still be ending)."""
    deadline, last = time.monotonic() + seconds, resident_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = resident_mb(pid)
        if abs(now - last) < 2:
            return now
        last = now
    return last


def test_a_closed_tab_returns_the_memory_its_upload_took(browser, tmp_path: Path):
    export = tmp_path / "big_export.csv"
    export.write_bytes(sample_csv_bytes(SampleConfig(n_items=40_000, seed=5)))
    models, home = tmp_path / "models", tmp_path / "data"
    models.mkdir()
    with streamlit_server(models, home, tmp_path / "streamlit.log") as (url, process):
        # a first tab warms the server (imports, caches) and stays open: it is not what is measured
        warm = browser.new_context().new_page()
        warm.goto(f"{url}/Upload")
        wait_idle(warm)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/Upload")
        wait_idle(page)
        before = settled_mb(process.pid)

        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(export)
        wait_idle(page, timeout=180_000)
        expect(page.get_by_text("big_export.csv:", exact=False).first).to_be_visible()
        expect(page.get_by_role("button", name="Save dataset")).to_be_visible()
        holding = settled_mb(process.pid)
        took = holding - before
        assert took > 100, f"the upload took only {took:.0f} MB: too small a file to tell anything"

        context.close()  # the tab goes; the server notices the closed connection
        deadline, after = time.monotonic() + 20, holding
        while time.monotonic() < deadline:
            time.sleep(1)
            after = resident_mb(process.pid)
            if after - before < 0.25 * took:
                break
        print(f"before {before:.0f} MB, with the upload {holding:.0f} MB, tab closed {after:.0f} MB")
        assert after - before < 0.25 * took, (
            f"{after - before:.0f} of the {took:.0f} MB the upload took are still held after the tab closed"
        )
        warm.context.close()
