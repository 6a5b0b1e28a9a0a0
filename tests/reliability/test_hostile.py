"""Hostile names and content: names that try to leave their folder are refused with nothing written;
script text in codes and file names is shown as text on every page; exported CSV cells that a
spreadsheet would run are neutralised."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing_core.cli import commands as cli
from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.platform.errors import UserError
from routing_core.platform.export import FORMULA_PREFIXES, to_safe_csv
from routing_core.platform.names import check_name
from routing_core.synthetic.sample import SampleConfig, generate, sample_csv_bytes
from routing_core.versions.registry import Registry
from tests.app.conftest import held, open_app, texts, unescape
from tests.conftest import ADMIN, ROOT
from ui.frame import NO_TABLE_DOWNLOAD
from ui.nav import PAGES

HOSTILE_NAMES = [
    "../evil", "../../outside/evil", "..", ".", "./x", "a/b", "a\\b", "/etc/passwd", "/tmp/evil",
    "C:\\Windows\\evil", "c:evil", ".hidden", "-rf", "evil\x00", "\x00", "ev\x00il/../x", "x" * 65,
    "x" * 5000, "CON", "con", "NUL", "nul.txt", "AUX", "PRN", "COM1", "com9.joblib", "LPT1", "LPT9.csv",
    "name with space", "tab\there", "line\nbreak", "v1\n", " v1", "ümlaut", "日本語", "%2e%2e%2f",
    "~root", "$HOME", "`id`", "a;b", "*", "?", "", " ",
]
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "=HYPERLINK(\"http://evil.example\")"]
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- names


@settings(max_examples=500, deadline=None)
@given(name=st.one_of(
    st.text(max_size=80),
    st.text(alphabet="./\\:\x00 abcCONULPT19-_", max_size=12),
    st.sampled_from(HOSTILE_NAMES),
))
def test_a_name_is_refused_or_is_a_plain_label_inside_its_folder(name):
    root = Path("/srv/models")
    try:
        check_name(name, "version name")
    except UserError as exc:
        assert "\n" not in str(exc) and "\x00" not in str(exc)
        return
    assert NAME_RE.fullmatch(name) and name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
    path = (root / name).resolve()
    assert path.parent == root and path.name == name


@pytest.fixture(scope="module")
def stocked(tmp_path_factory):
    """A data home and models folder with one dataset and one version, beside an 'outside' folder."""
    base = tmp_path_factory.mktemp("names")
    home, models = base / "data", base / "models"
    (base / "outside").mkdir()
    (base / "outside" / "bait.txt").write_text("do not touch")
    DatasetStore(home).save("good", load_dataset(sample_csv_bytes(SampleConfig(n_items=60)), name="g.csv"), user=ADMIN)
    run_training(TrainRequest("good", version="good"), models, home, user=ADMIN)
    return base, home, models


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_names_are_refused_everywhere_and_nothing_is_written(name, stocked):
    base, home, models = stocked
    before = tree(base)
    store, registry, manager = DatasetStore(home), Registry(models), JobManager(models, home)
    dataset = store.load("good")
    model = registry.load_model("good")
    attempts = {
        "store.save": lambda: store.save(name, dataset, user=ADMIN),
        "store.record": lambda: store.record(name),
        "store.load": lambda: store.load(name),
        "store.stats": lambda: store.stats(name),
        "store.delete": lambda: store.delete(name, user=ADMIN),
        "registry.publish": lambda: registry.publish(name, model, {}, {}, {}, {}, user=ADMIN),
        "registry.get": lambda: registry.get(name),
        "registry.load_model": lambda: registry.load_model(name),
        "registry.activate": lambda: registry.activate(name, user=ADMIN),
        "registry.delete": lambda: registry.delete(name, user=ADMIN),
        "registry.zip_bytes": lambda: registry.zip_bytes(name),
        "train version": lambda: run_training(TrainRequest("good", version=name), models, home, user=ADMIN),
        "train dataset": lambda: run_training(TrainRequest(name, version="fine"), models, home, user=ADMIN),
        "submit version": lambda: manager.submit(TrainRequest("good", version=name), user=ADMIN),
        "submit dataset": lambda: manager.submit(TrainRequest(name, version="fine"), user=ADMIN),
        "job": lambda: manager.get(name),
    }
    for what, attempt in attempts.items():
        # Refused for its name (names.check_name; a job id that names no job; no dataset named at all).
        with pytest.raises(UserError, match=r"^(The [a-z ]+ (is empty|'.*' (is too long|is not allowed|is a "
                                            r"reserved device name))|No training job '|Choose a dataset to train on\.$)") as caught:
            attempt()
        assert "Traceback" not in str(caught.value), what
    assert tree(base) == before
    assert not Path("/tmp/evil").exists() and not (base / "evil").exists()


@pytest.mark.parametrize("args", [
    ["train", "{src}", "--version", "../evil"],
    ["train", "{src}", "--version", "/tmp/evil"],
    ["train", "{src}", "--version", "CON"],
    ["train", "{src}", "--dataset-name", "../../outside/evil"],
    ["predict", "{src}", "--version", "../good", "--out", "{out}"],
    ["activate", "../models/good"],
    ["delete", "/etc/passwd"],
])
def test_cli_refuses_hostile_names_with_exit_2_and_writes_nothing(args, stocked, tmp_path):
    base, home, models = stocked
    src = tmp_path / "plans.csv"
    src.write_bytes(sample_csv_bytes(SampleConfig(n_items=30)))
    before = tree(base)
    argv = ["--models-dir", str(models), "--data-home", str(home),
            *[a.format(src=src, out=tmp_path / "out.csv") for a in args]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    assert code == 2 and err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1, err.getvalue()
    assert tree(base) == before and not (tmp_path / "out.csv").exists()


def test_cli_refuses_a_name_with_nul_in_a_real_process(stocked, tmp_path):
    """A NUL cannot even be passed on a command line; a long reserved name can."""
    base, home, models = stocked
    src = tmp_path / "plans.csv"
    src.write_bytes(sample_csv_bytes(SampleConfig(n_items=30)))
    before = tree(base)
    proc = subprocess.run([sys.executable, "-m", "routing_core", "--models-dir", str(models), "--data-home",
                           str(home), "train", str(src), "--version", "LPT1." + "x" * 70],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr and tree(base) == before


# ---------------------------------------------------------------- script text on the pages


def assert_no_raw_html(at) -> None:
    """No element of the page may render HTML: no st.html (but the frame's one constant style), no
    iframe, no markdown with unsafe_allow_html."""
    for node in at._tree:
        kind = getattr(node, "type", "")
        if kind == "html" and getattr(node.proto, "body", None) == NO_TABLE_DOWNLOAD:
            continue
        assert kind not in ("html", "iframe"), node
        if kind == "markdown":
            assert not node.proto.allow_html, node.proto.body


def shown_text(at) -> str:
    """All text of the page as the user reads it: markdown, alerts, headings, captions, tables, toasts."""
    parts = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        for attr in ("body", "label", "value"):
            value = getattr(proto, attr, None) if proto is not None else None
            if isinstance(value, str):
                parts.append(unescape(value))
        if getattr(node, "type", "") in ("arrow_data_frame", "dataframe", "table"):
            with contextlib.suppress(Exception):
                parts.append(node.value.to_csv())
    return "\n".join(parts)


def test_no_page_can_render_raw_html():
    sources = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
    assert len(sources) >= 8
    for path in sources:
        # the frame's style, a constant without data in it, is the one st.html allowed
        code = path.read_text().replace("st.html(NO_TABLE_DOWNLOAD)", "", 1 if path.name == "frame.py" else 0)
        for forbidden in ("unsafe_allow_html", "st.html(", "components.v1", "components.html"):
            assert forbidden not in code, (path.name, forbidden)


@pytest.fixture(scope="module")
def hostile_folders(tmp_path_factory):
    """A dataset whose item codes, a process code, an attribute and the file name carry script text and
    formulas, and a version trained on it."""
    base = tmp_path_factory.mktemp("xss")
    home, models = base / "data", base / "models"
    ops = generate(SampleConfig(n_items=150, seed=21))
    codes = ops["item_code"].drop_duplicates().tolist()
    ops["item_code"] = ops["item_code"].replace({codes[0]: XSS[0], codes[1]: XSS[1], codes[2]: FORMULAS[0]})
    first_process = ops["process_code"].iloc[0]
    ops["process_code"] = ops["process_code"].replace({first_process: XSS[1]})
    ops.loc[ops.index[:40], "work_center"] = FORMULAS[4]
    ops = ops.rename(columns={"material": "<b>material</b>"})
    data = ops.to_csv(index=False).encode()
    DatasetStore(home).save("hostile", load_dataset(data, name=f"{XSS[1]}.csv"), user=ADMIN)
    run_training(TrainRequest("hostile", version="hostile-v1"), models, home, user=ADMIN)
    Registry(models).activate("hostile-v1", user=ADMIN)
    return home, models


@pytest.fixture
def hostile_app(hostile_folders, monkeypatch):
    home, models = hostile_folders
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(models))
    monkeypatch.setenv("ROUTING_DATA_HOME", str(home))
    return home, models


def test_every_page_shows_script_text_as_text(hostile_app):
    at = open_app()
    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert_no_raw_html(at)
    at.switch_page("pages/2_Dataset.py").run()
    assert f"From {XSS[1]}.csv" in shown_text(at)  # the file name, literally
    assert XSS[1] in shown_text(at) or "<b>material</b>" in shown_text(at)


def test_predict_shows_a_script_item_and_process_literally(hostile_app):
    at = open_app("pages/5_Predict.py")
    assert not at.exception, at.exception
    for code in (*XSS, FORMULAS[0]):
        at.selectbox(key="predict_item").set_value(code).run()
        assert not at.exception, at.exception
        assert_no_raw_html(at)
        assert f"Candidates for {code}" in texts(at.main.subheader)
        assert any("\\<" in h.proto.body or "\\=" in h.proto.body for h in at.main.subheader)  # escaped markup
        steps = [d.value for d in at.main.dataframe if "process_code" in d.value.columns]
        assert steps and any(XSS[1] in set(s["process_code"]) for s in steps)  # a table value, as is
        assert XSS[1] in shown_text(at)
        charts = [c.proto.spec for c in at.get("plotly_chart")]
        assert charts and not any("<img" in s or "<script" in s for s in charts)
    at.toggle(key="predict_ignore_history").set_value(True).run()
    refs = [d.value for d in at.main.dataframe if "similarity" in d.value.columns]
    assert not at.exception and refs


def test_models_and_train_pages_with_script_text(hostile_app):
    at = open_app("pages/4_Models.py")
    assert not at.exception
    assert_no_raw_html(at)
    at.switch_page("pages/3_Train.py").run()
    at.text_input(key="train_version").set_value(XSS[0])
    at.button(key="train_start").click().run()
    assert not at.exception
    assert_no_raw_html(at)
    error = texts(at.main.error)[0]
    assert "is not allowed" in error and "<script>" in error  # named literally, not run


def test_batch_download_neutralises_formulas(hostile_app):
    codes = [*XSS, *FORMULAS, "plain"]
    items = pd.DataFrame({"item_code": codes, "note": FORMULAS + ["x", "y", "z"]})
    at = open_app("pages/5_Predict.py")
    at.file_uploader(key="predict_batch_file").upload(
        "=evil.csv", items.to_csv(index=False).encode(), "text/csv")
    at.run()
    assert not at.exception, at.exception
    assert_no_raw_html(at)
    assert not at.main.error, texts(at.main.error)
    table = next(d.value for d in at.main.dataframe if "rank" in d.value.columns)
    # shown as they are, but for a leading quote where the table's own CSV download would run them
    assert {"'" + c if c.startswith(FORMULA_PREFIXES) else c for c in items["item_code"]} <= set(table["item_code"])
    exported = held("predict_batch")[2].decode("utf-8-sig")
    assert_csv_safe(exported)
    assert "'=cmd|' /C calc'!A0" in exported and f"'{FORMULAS[4]}".replace('"', '""') in exported


# ---------------------------------------------------------------- CSV export


def assert_csv_safe(text: str, numeric: set[str] = frozenset()) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for cell in header:
        assert not cell.startswith(FORMULA_PREFIXES), cell
    for row in rows[1:]:
        for name, cell in zip(header, row, strict=True):
            if name not in numeric:
                assert not cell.startswith(FORMULA_PREFIXES), (name, cell)


cells = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from(FORMULAS + ["\t=1+1", "\r=1+1", "=", "-", "+", "@", "'=already", " =x"]),
    st.builds(lambda p, t: p + t, st.sampled_from(list("=+-@\t\r")), st.text(max_size=6)),
)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(cells, min_size=1, max_size=8), names=st.lists(st.sampled_from(["a", "=b", "@c", "-d", "+e"]),
                                                                     min_size=1, max_size=1))
def test_exported_text_never_starts_a_formula(text, names):
    frame = pd.DataFrame({names[0]: text, "n": range(-len(text), 0)})  # negative numbers stay numbers
    data = to_safe_csv(frame)
    decoded = data.decode("utf-8-sig")
    assert_csv_safe(decoded, numeric={"n"})
    back = pd.read_csv(io.StringIO(decoded), keep_default_na=False, dtype=str)
    assert back["n"].astype(int).tolist() == list(range(-len(text), 0))
    assert len(back) == len(text)  # one row per row: no cell breaks its row
    for original, cell in zip(text, back.iloc[:, 0], strict=True):
        expected = original.replace("\r\n", "\n").replace("\r", "\n") if isinstance(original, str) else ""
        if isinstance(original, str) and original.startswith(FORMULA_PREFIXES):
            expected = "'" + expected
        assert cell == expected


def test_a_carriage_return_cannot_start_a_row_of_its_own():
    """Found by the property above: a bare CR was written unquoted, so a spreadsheet began a new
    row at it — and that row could start with a formula."""
    frame = pd.DataFrame({"item_code": ["A\r=cmd|' /C calc'!A0", "B\r\n@SUM(A1)"], "n": [1, 2]})
    text = to_safe_csv(frame, bom=False).decode()
    assert text == 'item_code,n\n"A\n=cmd|\' /C calc\'!A0",1\n"B\n@SUM(A1)",2\n'
    assert "\r" not in text


def test_charts_escape_script_text(hostile_app):
    at = open_app("pages/2_Dataset.py")
    assert not at.exception
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert specs
    assert not any("<img" in s or "<script" in s or "<b>material" in s for s in specs)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in s for s in specs)
