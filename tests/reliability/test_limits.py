"""Limits: the upload size limit and XSRF protection of .streamlit/config.toml, as Streamlit reads
them and as a real server and browser enforce them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.conftest import ADMIN, ROOT
from tests.streamlit_server import streamlit_server

CONFIG = ROOT / ".streamlit" / "config.toml"
MAX_UPLOAD_MB = 200
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_config_sets_a_sensible_upload_limit_and_keeps_xsrf_protection_on():
    server = tomllib.loads(CONFIG.read_text())["server"]
    assert server["maxUploadSize"] == MAX_UPLOAD_MB
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True  # turning CORS off would also switch XSRF off


def test_streamlit_reads_those_values_from_the_project_config():
    """What a `streamlit run` in the project folder uses, read by Streamlit's own config loader."""
    code = (
        "import json; from streamlit import config; config.get_config_options(force_reparse=True); "
        "print(json.dumps({k: config.get_option(k) for k in "
        "('server.maxUploadSize', 'server.enableXsrfProtection', 'server.enableCORS', 'server.maxMessageSize')}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    options = json.loads(out.strip().splitlines()[-1])
    assert options["server.maxUploadSize"] == MAX_UPLOAD_MB
    assert options["server.enableXsrfProtection"] is True and options["server.enableCORS"] is True
    assert options["server.maxMessageSize"] >= MAX_UPLOAD_MB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` in the project folder, so it uses the project's config.toml."""
    base = tmp_path_factory.mktemp("limits")
    home, models = base / "data", base / "models"
    models.mkdir()
    DatasetStore(home).save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=50)), name="s.csv"), user=ADMIN)
    with streamlit_server(models, home, base / "streamlit.log") as (url, _):
        yield url, base


def test_the_server_refuses_an_upload_without_the_xsrf_token(server):
    url, _ = server
    request = urllib.request.Request(f"{url}/_stcore/upload_file/some-session/some-file", data=b"x" * 10,
                                     method="PUT", headers={"Content-Type": "application/octet-stream"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "XSRF token missing or invalid" in refused.value.read().decode(errors="replace")


@pytest.mark.e2e
def test_a_file_over_the_limit_is_refused_in_the_browser_with_streamlits_message(server):
    """A 201 MB file (sparse: nothing is written to disk) dropped on the Upload page."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    url, base = server
    big = base / "too_big.csv"
    with big.open("wb") as fh:
        fh.truncate((MAX_UPLOAD_MB + 1) * 1024 * 1024)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(f"{url}/Upload")  # the Start page opens at the root URL
            uploader = page.locator("[data-testid='stFileUploader'] input[type='file']").first
            uploader.wait_for(state="attached", timeout=60_000)
            expect(page.get_by_text(f"{MAX_UPLOAD_MB}MB per file")).to_be_visible()  # said beforehand
            uploader.set_input_files(str(big))
            # The file shows as a red chip; its message is a tooltip (and text for screen readers).
            chip = page.get_by_test_id("stFileChip").first
            expect(chip).to_have_attribute("aria-invalid", "true", timeout=20_000)
            chip.hover()
            message = page.get_by_text(f"File must be {MAX_UPLOAD_MB}.0MB or smaller.", exact=True)
            expect(message).to_be_visible(timeout=10_000)
            # nothing reached the app: the page still asks for a file
            expect(page.get_by_text("Drop a CSV, TSV, TXT or Parquet file above")).to_be_visible()
            page.screenshot(path=str(base / "upload_limit.png"))
        finally:
            browser.close()
