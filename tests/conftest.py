"""Shared fixtures: real files on disk, isolated data and model folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from routing_core.users.access import local_user

# The app trains the sample in the background on a fresh start; tests that want it ask for it
# (tests/app/test_start.py, the browser journey), the others start with an empty registry.
os.environ.setdefault("ROUTING_FIRST_START_TRAIN", "0")

ROOT = Path(__file__).resolve().parents[1]
# Who the tests' changes are made as: the OS user, an admin (what the command line passes).
ADMIN = local_user()
TEST_DATA = ROOT / "tests" / "data"
FABRICAD = ROOT.parent / "shared" / "data" / "fabricad" / "fabricad_preview_plans.csv"
if not FABRICAD.exists():  # a copy travels with the repository for fresh clones
    FABRICAD = TEST_DATA / "fabricad_preview_plans.csv"
FABRICAD_MAP = {
    "ArtikelNr": "item_code",
    "Schritt": "process_code",
    "Nr.": "seq",
    "Dauer[min]": "duration_min",
}


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch) -> None:
    """Every test's activity log and roles file default to its own folder, never ./data."""
    monkeypatch.setenv("ROUTING_DATA_HOME", str(tmp_path.parent / f"{tmp_path.name}-data"))


@pytest.fixture(autouse=True)
def _release_held_tables():
    """What an AppTest session held (ui.held) is let go after each test, as a closed tab's is: every
    AppTest runs under one session id, so a later test would otherwise find it."""
    yield
    held = sys.modules.get("ui.held")
    if held is not None:
        held.release_held("test session id")


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "data"
    monkeypatch.setenv("ROUTING_DATA_HOME", str(home))
    return home


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(folder))
    return folder
