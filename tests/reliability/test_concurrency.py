"""Concurrency: trainings started together queue; two app sessions train and predict side by side;
a version deleted while another session predicts with it; saves and loads racing each other."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.manifest import clear_all
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN, ROOT

TRAIN_PAGE = "pages/3_Train.py"
MODELS_PAGE = "pages/4_Models.py"
PREDICT_PAGE = "pages/5_Predict.py"


def together(*calls):
    """Run the calls in threads released at the same moment; returns their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


@pytest.fixture
def folders(tmp_path, monkeypatch):
    home, models = tmp_path / "data", tmp_path / "models"
    DatasetStore(home).save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=300)), name="s.csv"), user=ADMIN)
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(models))
    monkeypatch.setenv("ROUTING_DATA_HOME", str(home))
    return home, models


# ---------------------------------------------------------------- trainings queue


def test_trainings_from_two_servers_and_the_cli_run_one_at_a_time(folders, tmp_path):
    """Two job managers (two app servers on one models folder) submit at the same moment while the
    command line trains into the same folder: all three finish, never two at once."""
    home, models = folders
    src = tmp_path / "cli.csv"
    src.write_bytes(sample_csv_bytes(SampleConfig(n_items=300, seed=9)))
    first, second = JobManager(models, home), JobManager(models, home)
    cli_lines: list[tuple[float, str]] = []

    def cli_train():
        proc = subprocess.Popen(
            [sys.executable, "-m", "routing_core", "--models-dir", str(models), "--data-home", str(home),
             "train", str(src), "--version", "v-cli", "--progress"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            cli_lines.append((time.time(), line))
        return proc.wait(timeout=120)

    jobs = together(lambda: first.submit(TrainRequest("sample", version="v-one"), user=ADMIN),
                    lambda: second.submit(TrainRequest("sample", version="v-two"), user=ADMIN))
    assert all(isinstance(j, str) for j in jobs), jobs
    cli = threading.Thread(target=lambda: cli_lines.append((time.time(), f"exit {cli_train()}")))
    cli.start()
    running_at_once = 0
    deadline = time.monotonic() + 180
    while True:
        records = [first.get(j) for j in jobs]
        running_at_once = max(running_at_once, sum(r["state"] == "running" for r in records))
        if all(r["state"] in ("completed", "failed", "cancelled") for r in records) and not cli.is_alive():
            break
        assert time.monotonic() < deadline, records
        time.sleep(0.05)
    cli.join()
    assert running_at_once == 1
    records = [first.get(j) for j in jobs]
    assert [r["state"] for r in records] == ["completed", "completed"], records
    assert cli_lines[-1][1] == "exit 0", cli_lines[-5:]
    # the command line trained in the slot: its first and last progress lines lie outside both jobs
    work = [t for t, line in cli_lines if "%]" in line]
    spans = sorted((r["started_ts"], r["finished_ts"]) for r in records)
    assert spans[0][1] <= spans[1][0]
    for start, end in spans:
        assert work[-1] <= start or work[0] >= end, (spans, work[0], work[-1])
    registry = Registry(models)
    assert sorted(registry.names()) == ["v-cli", "v-one", "v-two"]
    for name in registry.names():
        registry.verify(name)


def test_the_same_version_name_from_two_servers_is_queued_once(folders):
    home, models = folders
    results = together(*[lambda: JobManager(models, home).submit(TrainRequest("sample", version="same"), user=ADMIN)] * 4)
    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, UserError)]
    assert len(accepted) == 1 and len(refused) == 3, results
    assert all("already queued" in str(r) for r in refused)
    manager = JobManager(models, home)
    deadline = time.monotonic() + 120
    while manager.get(accepted[0])["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"the queued training did not end within 120 s: {manager.get(accepted[0])}"
        time.sleep(0.05)
    assert manager.get(accepted[0])["state"] == "completed" and Registry(models).names() == ["same"]


# ---------------------------------------------------------------- two app sessions


SESSION = """
import json, sys
from streamlit.runtime.pages_manager import PagesManager
from tests.app.conftest import open_app, run_until, texts

original = PagesManager.__init__

def init(self, *args, **kwargs):  # the steady-server setup of tests/app/conftest.py
    original(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False

PagesManager.__init__ = init
version, item = sys.argv[1:3]
at = open_app("pages/3_Train.py")
at.text_input(key="train_version").set_value(version)
at.button(key="train_start").click().run()
assert not at.exception, at.exception
run_until(at, lambda a: any(version in t for t in texts(a.main.success)) or bool(a.main.error), timeout=120)
assert not at.main.error, texts(at.main.error)
at.switch_page("pages/5_Predict.py").run()
at.selectbox(key="predict_version").set_value(version).run()
at.selectbox(key="predict_item").set_value(item).run()
assert not at.exception, at.exception
cards = [c for c in at.main.container if (c.key or "").startswith("predict_known_card_")]
print(json.dumps({
    "version": at.selectbox(key="predict_version").value,
    "subheader": texts(at.main.subheader),
    "first": [d.value for d in cards[0].dataframe][0]["process_code"].tolist(),
}))
"""


def test_two_sessions_train_and_predict_side_by_side(folders, tmp_path):
    """Two browser sessions, each in its own process (as two app servers on one models folder):
    each trains on the Train page and predicts with its own version on the Predict page."""
    home, models = folders
    ops = DatasetStore(home).load("sample").ops
    items = ops["item_code"].drop_duplicates().tolist()[:2]
    script = tmp_path / "session.py"
    script.write_text(SESSION)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), version, item], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for version, item in (("v-left", items[0]), ("v-right", items[1]))]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    left, right = results
    assert left["version"] == "v-left" and right["version"] == "v-right"
    assert f"Candidates for {items[0]}" in left["subheader"]
    assert f"Candidates for {items[1]}" in right["subheader"]
    for item, result in zip(items, results, strict=True):  # each got its own item's known routing
        assert result["first"] == ops[ops["item_code"] == item]["process_code"].tolist()
    registry = Registry(models)
    assert sorted(registry.names()) == ["v-left", "v-right"]
    for name in registry.names():
        registry.verify(name)
    states = sorted(j["state"] for j in JobManager(models, home).list())
    assert states == ["completed", "completed"]


def test_a_version_deleted_while_another_session_predicts_with_it(folders):
    home, models = folders
    for seed, version in enumerate(("v-old", "v-new")):
        run_training(TrainRequest("sample", version=version, seed=seed), models, home, user=ADMIN)
    Registry(models).activate("v-new", user=ADMIN)
    item = DatasetStore(home).load("sample").ops["item_code"].iloc[0]

    reader = open_app(PREDICT_PAGE)
    reader.selectbox(key="predict_version").set_value("v-old").run()
    reader.selectbox(key="predict_item").set_value(item).run()
    assert not reader.exception and f"Candidates for {item}" in texts(reader.main.subheader)

    admin = open_app(MODELS_PAGE)
    admin.selectbox(key="models_detail").set_value("v-old").run()
    admin.button(key="models_delete").click().run()
    admin.button(key="models_delete_confirm").click().run()
    assert not admin.exception and not Registry(models).exists("v-old")

    reader.run()  # the reader's next interaction
    assert not reader.exception, reader.exception
    messages = texts(reader.main.warning) + texts(reader.main.error)
    assert any("v-old" in m and "no longer available" in m for m in messages), messages
    assert reader.selectbox(key="predict_version").value == "v-new"

    # and when the last version goes too, the page says what to do instead of failing
    Registry(models).delete("v-new", user=ADMIN)
    reader.run()
    assert not reader.exception
    assert any("No usable model version" in t for t in texts(reader.main.info))


# ---------------------------------------------------------------- the stores under racing threads


def test_two_saves_of_one_dataset_name_one_wins_whole(tmp_path):
    store = DatasetStore(tmp_path)
    datasets = [load_dataset(sample_csv_bytes(SampleConfig(n_items=3000, seed=s)), name=f"{s}.csv")
                for s in (1, 2, 3)]
    results = together(*[lambda d=d: store.save("race", d, user=ADMIN) for d in datasets])
    wins = [r for r in results if isinstance(r, tuple)]
    losses = [r for r in results if isinstance(r, UserError)]
    assert len(wins) == 1 and len(losses) == 2, results
    assert all("already exists" in str(e) for e in losses)
    record = store.record("race")
    assert len(store.load("race").ops) == record.rows == wins[0][0].rows
    assert store.names() == ["race"]
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".")]


def test_loads_and_predictions_race_cache_clears_and_a_republish(tmp_path):
    """Threads predict with two versions while others clear the caches and delete and republish one
    of them: every prediction either works with a whole model or is refused in plain words."""
    home, models = tmp_path / "data", tmp_path / "models"
    DatasetStore(home).save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=150)), name="s.csv"), user=ADMIN)
    for version in ("a", "b"):
        run_training(TrainRequest("s", version=version), models, home, user=ADMIN)
    items = DatasetStore(home).load("s").ops.drop_duplicates("item_code").head(5)
    registry = Registry(models)
    stop = time.monotonic() + 4
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def count(what: str) -> None:
        with lock:
            outcomes[what] = outcomes.get(what, 0) + 1

    def predictor(version: str) -> None:
        while time.monotonic() < stop:
            try:
                predictions = registry.load_model(version).predict(items)
            except UserError as exc:
                count("refused: " + re.sub(r"'[^']*'", "'…'", str(exc))[:60])
                time.sleep(0.002)
                continue
            assert len(predictions) == len(items) and all(p.candidates for p in predictions)
            count("predicted")

    def churn() -> None:
        model = registry.load_model("a")
        while time.monotonic() < stop:
            clear_all(user=ADMIN)
            registry.delete("b", user=ADMIN)
            registry.publish("b", model, {}, {"name": "s"}, {}, {}, user=ADMIN)
            count("republished")

    results = together(*[lambda v=v: predictor(v) for v in ("a", "b", "a", "b")], churn)
    assert all(r is None for r in results), results
    assert outcomes.get("predicted", 0) > 10 and outcomes.get("republished", 0) > 3, outcomes
    for name in ("a", "b"):
        registry.verify(name)
    assert registry.stale_entries() == []
    print("outcomes:", outcomes)
