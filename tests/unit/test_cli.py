"""The command line as a user runs it: real processes, real files, exit codes and what is written."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from routing_core.datasets import DatasetStore
from routing_core.synthetic.sample import SampleConfig, generate, sample_csv_bytes
from routing_core.versions.manifest import MODEL_FILE
from routing_core.versions.registry import ACTIVE_FILE, Registry
from tests.conftest import FABRICAD, FABRICAD_MAP, ROOT

MAP_ARGS = [a for src, dst in FABRICAD_MAP.items() for a in ("--map", f"{src}={dst}")]


def cli(*args: str, models=None, home=None) -> subprocess.CompletedProcess:
    """Run `python -m routing_core …` in a fresh process."""
    cmd = [sys.executable, "-m", "routing_core"]
    if models is not None:
        cmd += ["--models-dir", str(models)]
    if home is not None:
        cmd += ["--data-home", str(home)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ROUTING_MODELS_DIR", None)
    env.pop("ROUTING_DATA_HOME", None)
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=180)


def assert_user_error(proc: subprocess.CompletedProcess, needle: str = "") -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in lines[0], lines[0]


def tree(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fab(tmp_path_factory):
    """A models folder and data home with FabriCAD trained as version 'fab' by the CLI."""
    root = tmp_path_factory.mktemp("fab")
    models, home = root / "models", root / "data"
    proc = cli("train", FABRICAD, "--version", "fab", *MAP_ARGS, models=models, home=home)
    assert proc.returncode == 0, proc.stderr
    return root, models, home, json.loads(proc.stdout)


@pytest.fixture
def copy(fab, tmp_path):
    """A private copy of the trained folders, for tests that change them."""
    root = fab[0]
    shutil.copytree(root / "models", tmp_path / "models")
    shutil.copytree(root / "data", tmp_path / "data")
    return tmp_path / "models", tmp_path / "data"


def test_fabricad_train_predict_evaluate(fab, tmp_path):
    _, models, home, summary = fab
    assert summary["version"] == "fab" and summary["items"] == 25 and summary["rows"] == 78
    held_out, scores = summary["test_items"], summary["metrics"]
    assert held_out == 5 and summary["train_items"] == 20
    _assert_item_shares(scores, held_out)
    Registry(models).verify("fab")
    stored = DatasetStore(home).list()
    assert [r.name for r in stored] == ["fabricad_preview_plans"] and stored[0].items == 25

    out = tmp_path / "pred.csv"
    proc = cli("predict", FABRICAD, "--version", "fab", *MAP_ARGS, "--top-k", 3, "--out", out,
               models=models)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["items"] == 25 and report["version"] == "fab"
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype={"item_code": str})
    assert list(frame.columns[:7]) == ["item_code", "rank", "score", "kind", "seq", "process_code",
                                       "duration_min"]
    assert len(frame) == report["rows"]
    assert frame["item_code"].nunique() == 25 and frame["item_code"].str.len().eq(8).all()
    assert frame["rank"].between(1, 3).all()
    # Each item's candidates in order of score, and a training item's own routing certain.
    firsts = frame.drop_duplicates(["item_code", "rank"])
    assert all(g.sort_values("rank")["score"].is_monotonic_decreasing for _, g in firsts.groupby("item_code"))
    assert (firsts.loc[(firsts["rank"] == 1) & (firsts["kind"] == "known"), "score"] == 1.0).all()
    assert (firsts["kind"] == "known").sum() == 25  # every item was trained on
    source = pd.read_csv(FABRICAD, sep=";", dtype={"ArtikelNr": str})
    first = frame[(frame.item_code == "00000001") & (frame["rank"] == 1)]
    assert (first["kind"] == "known").all()  # a training item gets its own routing first
    truth = source[source.ArtikelNr == "00000001"].sort_values("Nr.")["Schritt"].tolist()
    assert first["process_code"].tolist() == truth

    proc = cli("evaluate", FABRICAD, "--version", "fab", *MAP_ARGS, models=models)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["items"] == 25 and metrics["items_known_to_model"] == 25
    _assert_item_shares(metrics, 25)
    # the same figures counted here from the candidates `predict` writes without history
    proc = cli("predict", FABRICAD, "--version", "fab", *MAP_ARGS, "--top-k", 5, "--ignore-history",
               "--out", tmp_path / "all.csv", models=models)
    assert proc.returncode == 0, proc.stderr
    candidates = pd.read_csv(tmp_path / "all.csv", encoding="utf-8-sig", dtype={"item_code": str})
    routes = candidates.groupby(["item_code", "rank"])["process_code"].agg(tuple)
    recorded = source.sort_values(["ArtikelNr", "Nr."]).groupby("ArtikelNr")["Schritt"].agg(tuple)
    first_hit = [min((r for (i, r), steps in routes.items() if i == item and steps == truth), default=99)
                 for item, truth in recorded.items()]
    for k, key in ((1, "routing_accuracy"), (3, "top_3_accuracy"), (5, "top_5_accuracy")):
        assert metrics[key] == pytest.approx(np.mean([r <= k for r in first_hit])), key
    proc = cli("evaluate", FABRICAD, "--version", "fab", *MAP_ARGS, "--use-history", models=models)
    assert json.loads(proc.stdout)["routing_accuracy"] == 1.0  # its own routings, given back


def _assert_item_shares(metrics: dict, items: int) -> None:
    """Accuracies and coverage are shares of `items` (whole multiples of 1/items), a top-k hit is
    also a top-(k+2) hit, and every exact first candidate counts 1 in the sequence similarity."""
    for key in ("routing_accuracy", "top_3_accuracy", "top_5_accuracy", "coverage"):
        assert metrics[key] * items == pytest.approx(round(metrics[key] * items)), key
    assert (metrics["routing_accuracy"] == metrics["top_1_accuracy"] <= metrics["top_3_accuracy"]
            <= metrics["top_5_accuracy"] <= 1)
    assert metrics["routing_accuracy"] <= metrics["sequence_similarity"] <= 1


def test_train_again_reuses_the_stored_dataset_and_refuses_a_taken_label(copy):
    models, home = copy
    proc = cli("train", FABRICAD, "--version", "fab2", *MAP_ARGS, "--no-refit", "--seed", 1,
               "--test-size", 0.3, models=models, home=home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test_items"] == 8
    assert DatasetStore(home).names() == ["fabricad_preview_plans"]
    before = tree(models.parent)
    assert_user_error(cli("train", FABRICAD, "--version", "fab", *MAP_ARGS, models=models, home=home),
                      "already exists")
    assert tree(models.parent) == before


@pytest.mark.parametrize("label", ["../x", "/abs", "a/b", "..", ".hidden", "x" * 65, "a b"])
def test_unsafe_labels_exit_2_and_write_nothing(tmp_path, label):
    models, home = tmp_path / "work" / "models", tmp_path / "work" / "data"
    models.mkdir(parents=True)
    (tmp_path / "work" / "keep.txt").write_text("x")
    before = tree(tmp_path)
    assert_user_error(cli("train", FABRICAD, "--version", label, *MAP_ARGS, models=models, home=home),
                      "version name")
    for command in ("activate", "delete"):
        assert_user_error(cli(command, label, models=models))
    out = tmp_path / "work" / "p.csv"
    assert_user_error(cli("predict", FABRICAD, "--version", label, "--out", out, models=models))
    assert tree(tmp_path) == before
    assert not (tmp_path / "x").exists() and not os.path.exists("/abs")


def test_tampered_model_predict_refuses_and_writes_no_output(copy, tmp_path):
    models, _ = copy
    with open(models / "fab" / MODEL_FILE, "ab") as fh:
        fh.write(b"\0")
    out = tmp_path / "out.csv"
    proc = cli("predict", FABRICAD, "--version", "fab", *MAP_ARGS, "--out", out, models=models)
    assert_user_error(proc, "model.joblib is 1 byte(s) longer")
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))
    assert_user_error(cli("evaluate", FABRICAD, "--version", "fab", *MAP_ARGS, models=models), "longer")
    assert_user_error(cli("activate", "fab", models=models), "fab")
    proc = cli("versions", "--format", "json", models=models)
    assert proc.returncode == 0
    (row,) = json.loads(proc.stdout)
    assert row["version"] == "fab" and "changed or truncated" in row["broken"]


def test_dry_run_writes_nothing(fab, tmp_path):
    models, home = tmp_path / "models", tmp_path / "data"
    proc = cli("train", FABRICAD, "--version", "plan", "--dry-run", *MAP_ARGS, models=models, home=home)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True and plan["items"] == 25 and plan["version"] == "plan"
    # the two item attributes plus the item code itself
    assert plan["item_attributes"] == ["Material", "Abmaße"] and plan["features"] == 3
    # the same training, run for real by the `fab` fixture: the estimate is of its order
    trained = fab[3]["training_duration_sec"]
    assert trained / 20 <= plan["estimated_sec"] <= 20 * trained + 1, (plan["estimated_sec"], trained)
    assert not models.exists() or not any(p for p in models.iterdir() if not p.name.startswith("."))
    assert not home.exists()


def test_versions_activate_delete(copy):
    models, _ = copy
    proc = cli("versions", models=models)
    assert proc.returncode == 0 and "fab" in proc.stdout and "ok" in proc.stdout
    assert json.loads(cli("activate", "fab", models=models).stdout) == {"active": "fab"}
    assert (models / ACTIVE_FILE).read_text().strip() == "fab"
    (row,) = json.loads(cli("versions", "--format", "json", models=models).stdout)
    assert row["active"] is True and row["broken"] is None and row["items"] == 25
    assert "*" in cli("versions", models=models).stdout
    # global options may follow the command too
    assert json.loads(cli("versions", "--format", "json", "--models-dir", models).stdout)[0]["active"]
    proc = cli("delete", "fab", models=models)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"deleted": "fab", "active": None}
    assert not (models / "fab").exists() and not (models / ACTIVE_FILE).exists()
    assert_user_error(cli("delete", "fab", models=models), "No model version named 'fab'")
    assert "No model versions yet" in cli("versions", models=models).stdout


def test_predict_uses_the_active_version_and_says_when_there_is_none(copy, tmp_path):
    models, _ = copy
    out = tmp_path / "p.csv"
    assert_user_error(cli("predict", FABRICAD, *MAP_ARGS, "--out", out, models=models),
                      "No model version is active")
    assert not out.exists()
    cli("activate", "fab", models=models)
    items = tmp_path / "items.csv"  # one row per item, attributes only, a new and a known item
    items.write_text("ArtikelNr;Material;Abmaße\n00000001;Aluminiumlegierungen;300x100x200\n"
                     "99999999;Stahl;50x50\n", encoding="utf-8")
    proc = cli("predict", items, "--map", "ArtikelNr=item_code", "--out", out, models=models)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype={"item_code": str})
    assert set(frame["item_code"]) == {"00000001", "99999999"}
    assert frame.loc[frame.item_code == "99999999", "kind"].isin(["model", "fallback"]).all()


def test_exported_formulas_are_neutralised(tmp_path):
    ops = generate(SampleConfig(n_items=150, seed=4))
    ops["process_code"] = ops["process_code"].replace({"SAW": "=SAW()", "DEBURR": "@DEBURR"})
    ops["work_center"] = "+" + ops["work_center"].astype(str)
    src = tmp_path / "evil.csv"
    ops.to_csv(src, index=False)
    models, home = tmp_path / "models", tmp_path / "data"
    assert cli("train", src, "--version", "e", models=models, home=home).returncode == 0
    out = tmp_path / "out.csv"
    proc = cli("predict", src, "--version", "e", "--top-k", 2, "--out", out, models=models)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8-sig")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert "'=SAW()" in set(frame["process_code"]) and "'@DEBURR" in set(frame["process_code"])
    centers = frame.loc[frame["work_center"] != "", "work_center"]
    assert len(centers) and centers.str.startswith("'+").all()
    for column in frame.columns:
        assert not frame[column].str.startswith(("=", "+", "@")).any(), column


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("train", "missing.csv", "--version", "v"), "File not found"),
        (("train", FABRICAD, "--version", "v", "--map", "Nope=item_code"), "Nope"),
        (("train", FABRICAD, "--version", "v", "--map", "garbage"), "SOURCE=canonical"),
        (("train", FABRICAD, "--version", "v", "--test-size", "1.5"), "test size"),
        (("train", FABRICAD, "--version", "v", "--top-k", "0"), "--top-k"),
        (("train", FABRICAD, "--version", "v", "--seed", "x"), "invalid int value"),
        (("predict", FABRICAD, "--version", "v", "--out", "/no/such/folder/p.csv"), "does not exist"),
        (("predict", FABRICAD, "--version", "v"), "--out"),
        (("evaluate", FABRICAD, "--version", "nope"), "No model version named 'nope'"),
        (("bogus",), "invalid choice"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path, args, needle):
    models, home = tmp_path / "models", tmp_path / "data"
    proc = cli(*args, models=models, home=home)
    assert_user_error(proc, needle)
    assert not models.exists() and not home.exists()


def test_missing_column_error_gives_the_map_of_the_likely_column(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Teil,O P X,C3\nA,SAW,1\nA,MILL,2\nB,SAW,1\nB,DRILL,2\nC,TURN,1\nC,MILL,2\nD,SAW,1\nD,TURN,2\n")
    proc = cli("stats", path)
    assert_user_error(proc, "'O P X' looks like the process code")
    assert proc.stderr.strip().endswith("Map it with --map 'O P X=process_code'.")
    (tmp_path / "odd.csv").write_text("x,y\n1,2\n")
    assert_user_error(cli("stats", tmp_path / "odd.csv"),
                      "Map them with --map SOURCE=item_code --map SOURCE=process_code.")


def test_train_on_one_item_stores_nothing(tmp_path):
    src = tmp_path / "one.csv"
    src.write_text("item_code,process_code,seq\nA,SAW,1\nA,MILL,2\n")
    models, home = tmp_path / "models", tmp_path / "data"
    assert_user_error(cli("train", src, "--version", "v", models=models, home=home), "at least 2")
    assert not home.exists() and not models.exists()


def test_worker_with_nothing_to_do_exits_0(tmp_path):
    proc = cli("worker", "--models-dir", tmp_path / "m", "--data-home", tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / ".jobs" / "worker.lock").exists()


def test_stats_still_works_with_a_csv_of_the_sample(tmp_path):
    # a file on disk: a pipe or device is refused (it may never end; docs/reliability.md)
    (tmp_path / "sample.csv").write_bytes(sample_csv_bytes(SampleConfig(n_items=30)))
    proc = subprocess.run(
        [sys.executable, "-m", "routing_core", "stats", str(tmp_path / "sample.csv")],
        capture_output=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["unique_items"] == 30


def test_cli_train_waits_for_the_training_slot(tmp_path):
    """A command-line training waits while another training holds the models folder."""
    import threading
    import time

    from routing_core.engine.jobs import training_slot

    models, home = tmp_path / "models", tmp_path / "data"
    cmd = [sys.executable, "-m", "routing_core", "--models-dir", str(models), "--data-home", str(home),
           "train", str(FABRICAD), "--version", "queued", *MAP_ARGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with training_slot(models):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The slot is held until the command says it waits, however long its start takes on a
        # busy machine (a command that never says so is stopped after 180 s and fails below).
        guard = threading.Timer(180, proc.kill)
        guard.start()
        said = []
        while not any("waiting: another training is running" in line for line in said):
            line = proc.stderr.readline()
            if not line:
                break
            said.append(line)
        guard.cancel()
        time.sleep(1)
        assert proc.poll() is None, "train ran while another training held the slot: " + "".join(said)
        assert not (models / "queued").exists()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert json.loads(out)["version"] == "queued"
    assert (models / "queued" / "manifest.json").exists()


def test_predict_to_an_unwritable_place_is_one_line(fab):
    _, models, home, _ = fab
    proc = cli("predict", FABRICAD, "--version", "fab", *MAP_ARGS, "--out", "/proc/forbidden.csv",
               models=models, home=home)
    assert_user_error(proc)
