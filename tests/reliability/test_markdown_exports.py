"""Exports a spreadsheet cannot execute and markdown that cannot link (docs/reliability.md, "Bounded
reads, records, exports, encodings"): every page opened on a dataset and a version whose codes,
attribute names and file name are markdown and HTML shows no link or image; the app's CSV quotes
every cell a `;`-splitting spreadsheet would cut; the tables' own download sees neutralised cells."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest
from streamlit.proto.Dataframe_pb2 import Dataframe

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.platform.export import FORMULA_PREFIXES, display_safe, to_safe_csv
from routing_core.synthetic.sample import SampleConfig, generate
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app
from tests.conftest import ADMIN
from ui.nav import PAGES

BEACON = "![b](http://127.0.0.1:9/beacon.png)"
LINK = "[link](http://x)"
IMG = "<img src=x>"
PAYLOADS = [BEACON, LINK, IMG]

# Markdown that would render: an image or link whose brackets are not escaped, a raw tag, a bare URL
# of a payload (GitHub-flavoured markdown links those itself).
RENDERED = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(|(?<!\\)<img|(?<!\\)<a\s|http://(127\.0\.0\.1|x\b)")


def rendered_markup(at) -> list[str]:
    """Every markdown string of the page (bodies, labels, help, captions, toasts, expanders) that
    would render a link, an image or raw HTML."""
    found = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        for attr in ("body", "label", "help", "caption", "placeholder"):
            value = getattr(proto, attr, None)
            if isinstance(value, str) and RENDERED.search(value):
                found.append(f"{getattr(node, 'type', '?')}.{attr}: {value[:160]}")
        # radio buttons, pills and segmented controls draw their options as markdown (a select box does not)
        markdown_options = getattr(node, "type", "") in ("radio", "button_group")
        for option in getattr(proto, "options", []) if markdown_options else []:
            text = option if isinstance(option, str) else getattr(option, "content", "")
            if RENDERED.search(text):
                found.append(f"{getattr(node, 'type', '?')}.option: {text[:160]}")
    return found


@pytest.fixture(scope="module")
def markup_folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("markup")
    home, models = base / "data", base / "models"
    ops = generate(SampleConfig(n_items=150, seed=23))
    codes = ops["item_code"].drop_duplicates().tolist()
    ops["item_code"] = ops["item_code"].replace({codes[0]: BEACON, codes[1]: LINK, codes[2]: IMG})
    processes = ops["process_code"].value_counts().index.tolist()
    # common processes become payloads: they show in every candidate, chart and table
    ops["process_code"] = ops["process_code"].replace({processes[1]: BEACON, processes[2]: LINK,
                                                       processes[3]: IMG, processes[0]: "X;=1+2;"})
    ops = ops.rename(columns={"material": LINK})
    DatasetStore(home).save("markup", load_dataset(ops.to_csv(index=False).encode(), name=f"{LINK}.csv"), user=ADMIN)
    run_training(TrainRequest("markup", version="markup-v1"), models, home, user=ADMIN)
    Registry(models).activate("markup-v1", user=ADMIN)
    return home, models


@pytest.fixture
def markup_app(markup_folders, monkeypatch):
    home, models = markup_folders
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(models))
    monkeypatch.setenv("ROUTING_DATA_HOME", str(home))
    return home, models


def test_no_page_renders_a_link_or_image_from_the_data(markup_app):
    at = open_app()
    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert rendered_markup(at) == [], spec.path


def test_predict_shows_markup_items_and_processes_without_rendering_them(markup_app):
    at = open_app("pages/5_Predict.py")
    folded = 0
    for code in PAYLOADS:
        at.selectbox(key="predict_item").set_value(code).run()
        assert not at.exception, at.exception
        assert rendered_markup(at) == [], code
        folded += len(at.main.expander)
    at.toggle(key="predict_ignore_history").set_value(True).run()
    assert not at.exception and rendered_markup(at) == []
    assert folded  # the folded candidates' labels were checked too


def test_the_apps_csv_quotes_every_cell_a_semicolon_spreadsheet_would_cut():
    frame = pd.DataFrame({"code": ["X;=1+2;", "a\t=1", "b,=2", "plain", "=SUM(A1)"], "n": [1, 2, 3, 4, -5]})
    text = to_safe_csv(frame, bom=False).decode()
    assert text.splitlines()[1] == '"X;=1+2;",1'
    for delimiter in (",", ";", "\t"):  # however a spreadsheet splits it, no cell starts a formula
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            for cell in row:
                assert not cell.startswith(FORMULA_PREFIXES) or cell.lstrip("-").isdigit(), (delimiter, cell)
    back = pd.read_csv(io.StringIO(text), dtype=str)
    assert back["code"].tolist() == ["X;=1+2;", "a\t=1", "b,=2", "plain", "'=SUM(A1)"]


def test_tables_shown_hold_no_cell_their_own_download_would_run():
    frame = pd.DataFrame({"code": ["=HYPERLINK(\"http://x\")", "X;=1+2;", "a\t@x", "ok", "-1"], "n": [1, 2, 3, 4, -5]})
    shown = display_safe(frame)
    assert shown["code"].tolist() == ["'=HYPERLINK(\"http://x\")", "X;'=1+2;", "a\t'@x", "ok", "'-1"]
    assert shown["n"].tolist() == [1, 2, 3, 4, -5]
    # Streamlit's table download quotes only , " and line breaks: written so, split on ; or tab
    for value in shown["code"]:
        for part in re.split(r"[;\t]", value):
            assert not part.lstrip().startswith(FORMULA_PREFIXES), value


def unsafe_cells(at) -> tuple[list[str], list[str]]:
    """(cells of the page's tables a spreadsheet would run, every text cell seen)."""
    bad, seen = [], []
    for table in at.main.dataframe:
        if table.proto.editing_mode != Dataframe.EditingMode.READ_ONLY:
            continue  # an editor holds the values the analyst edits and accepts, not a display
        value = table.value
        for column in value.columns:
            if pd.api.types.is_object_dtype(value[column]) or pd.api.types.is_string_dtype(value[column]):
                for cell in value[column].dropna():
                    if isinstance(cell, str):
                        seen.append(cell)
                        if cell.startswith(("=", "+", "@")) or re.search(r"[;\t]\s*[=+@]", cell):
                            bad.append(f"{column}: {cell}")
    return bad, seen


def test_every_table_of_user_text_on_the_pages_is_shown_safe(markup_app):
    at = open_app()
    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert unsafe_cells(at)[0] == [], spec.path
    at.switch_page("pages/5_Predict.py").run()
    seen = []
    for code in PAYLOADS:
        at.selectbox(key="predict_item").set_value(code).run()
        bad, cells = unsafe_cells(at)
        assert bad == [], code
        seen += cells
    assert "X;'=1+2;" in seen  # the process code, shown neutralised in the steps tables
