"""Crashes: SIGKILL a training worker and a dataset save at many moments; break versions on disk.

After every kill the registry and the dataset store list only whole entries, the killed job's
record says failed, and the app still opens on that models folder and data home. A corrupt
manifest, a missing model and a tampered artifact each leave the other versions usable and show
the broken one as broken (registry, CLI and the Models page). tests/unit/test_training.py kills
the command-line `train`; here the dashboard's worker process is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.datasets.stats import compute_stats
from routing_core.engine.jobs import DEAD_REASON, JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import STAGES, run_training
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.manifest import MANIFEST_FILE, MODEL_FILE
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN, ROOT

TRAIN_PAGE = "pages/3_Train.py"
MODELS_PAGE = "pages/4_Models.py"
PREDICT_PAGE = "pages/5_Predict.py"
DATASET_PAGE = "pages/2_Dataset.py"

# (stage the worker must have reached, extra seconds before the kill)
TRAIN_KILLS = [
    ("validate", 0.0), ("profile", 0.0), ("split", 0.0), ("features", 0.0),
    ("fit", 0.0), ("fit", 0.1), ("fit", 0.3), ("evaluate", 0.0), ("evaluate", 0.1),
    ("save", 0.0), ("save", 0.005), ("save", 0.02), ("save", 0.05),
]
# seconds after the save script says it starts writing
SAVE_KILLS = [0.0, 0.005, 0.01, 0.02, 0.03, 0.045, 0.06, 0.08, 0.1, 0.12, 0.15, 0.25]


def whole_registry(models: Path) -> list[str]:
    """Names of the listed versions, after checking each is whole and hash-valid."""
    registry = Registry(models)
    names = []
    for info in registry.list():
        assert info.broken is None, (info.name, info.broken)
        registry.verify(info.name)
        names.append(info.name)
    assert sorted(names) == sorted(registry.names())
    return names


def whole_store(home: Path) -> list[str]:
    """Names of the listed datasets, after loading each and comparing it with its record."""
    store = DatasetStore(home)
    names = []
    for record in store.list():
        dataset = store.load(record.name)
        assert len(dataset.ops) == record.rows and dataset.n_items == record.items, record.name
        names.append(record.name)
    return names


def job_records(models: Path) -> dict[str, dict]:
    """Every job record on disk; each must parse (they are written atomically)."""
    return {p.stem: json.loads(p.read_text()) for p in (models / ".jobs").glob("j*.json")}


def jobs_table(at) -> pd.DataFrame:
    """The Train page's table of recent jobs, indexed by job id."""
    return next(d.value for d in at.main.dataframe if "job" in d.value.columns).set_index("job")


@pytest.fixture
def app_env(monkeypatch):
    """Point the app at a models folder and data home."""
    def point(models: Path, home: Path) -> None:
        monkeypatch.setenv("ROUTING_MODELS_DIR", str(models))
        monkeypatch.setenv("ROUTING_DATA_HOME", str(home))

    return point


# ---------------------------------------------------------------- killing the training worker


def _read(models: Path, job: str) -> dict:
    try:
        return json.loads((models / ".jobs" / f"{job}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


@pytest.mark.slow
def test_sigkill_the_training_worker_at_every_stage(tmp_path, app_env):
    home, models = tmp_path / "data", tmp_path / "models"
    store = DatasetStore(home)
    store.save("big", load_dataset(sample_csv_bytes(SampleConfig(n_items=800, seed=3)), name="big.csv"), user=ADMIN)
    store.save("small", load_dataset(sample_csv_bytes(SampleConfig(n_items=120, seed=4)), name="small.csv"), user=ADMIN)
    run_training(TrainRequest("small", version="keep"), models, home, user=ADMIN)
    Registry(models).activate("keep", user=ADMIN)
    keep_manifest = (models / "keep" / MANIFEST_FILE).read_bytes()
    app_env(models, home)
    manager = JobManager(models, home)

    outcomes = []
    for i, (stage, delay) in enumerate(TRAIN_KILLS):
        version = f"k{i}"
        job = manager.submit(TrainRequest("big", version=version), user=ADMIN)
        deadline = time.monotonic() + 60
        while True:  # poll the record as fast as the page could, without settling it
            record = _read(models, job)
            if record.get("state") == "running" and STAGES.index(record.get("stage") or "validate") >= STAGES.index(stage):
                break
            if record.get("state") == "completed":  # a busy machine polled too late: nothing to kill
                break
            assert record.get("state") in ("pending", "running"), record
            assert time.monotonic() < deadline, record
            time.sleep(0.002)
        if record.get("state") == "running":
            time.sleep(delay)
            os.kill(record["pid"], signal.SIGKILL)
        settle_by = time.monotonic() + 60
        while _read(models, job).get("state") == "running" and manager.get(job)["state"] == "running":
            assert time.monotonic() < settle_by, f"job {job} still 'running' 60 s after its worker was killed"
            time.sleep(0.01)
        settled = manager.get(job)
        last_stage = _read(models, job).get("stage")
        visible = whole_registry(models)
        if settled["state"] == "completed":  # the kill came after the job was done
            assert version in visible
        else:
            assert settled["state"] == "failed" and settled["error"] == DEAD_REASON, settled
            assert _read(models, job)["state"] == "failed"  # written back to disk
        assert set(visible) <= {"keep", *(f"k{j}" for j in range(i + 1))}
        assert sorted(whole_store(home)) == ["big", "small"]
        assert all(r["state"] in ("completed", "failed") for r in job_records(models).values())
        assert (models / "keep" / MANIFEST_FILE).read_bytes() == keep_manifest
        assert Registry(models).active() == "keep"
        outcomes.append((f"{stage}+{delay}", last_stage, settled["state"], version in visible))

        at = open_app(TRAIN_PAGE)  # a new browser session on that folder
        assert not at.exception, at.exception
        table = jobs_table(at)
        assert table.loc[job, "state"] == settled["state"]
        if settled["state"] == "failed":
            assert DEAD_REASON in table.loc[job, "message"]

    print("kill point -> last stage written, job state, version visible:")
    for row in outcomes:
        print("  ", row)
    failed = [o for o in outcomes if o[2] == "failed"]
    assert len(failed) >= len(TRAIN_KILLS) - 3, outcomes  # most kills did interrupt a training
    assert {o[1] for o in failed} >= {"fit", "evaluate", "save"}

    # the queue still works afterwards, and leftovers of killed publishes are cleaned up
    after = manager.submit(TrainRequest("small", version="after"), user=ADMIN)
    deadline = time.monotonic() + 60
    while manager.get(after)["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"the training after the kills did not end within 60 s: {manager.get(after)}"
        time.sleep(0.05)
    assert manager.get(after)["state"] == "completed"
    assert "after" in whole_registry(models)
    assert Registry(models).stale_entries() == []
    at = open_app(MODELS_PAGE)
    assert not at.exception
    # no version is broken: the table has no broken column at all
    assert "broken" not in at.dataframe(key="models_table").value.columns


def test_a_worker_killed_before_it_claims_the_job_leaves_it_queued_for_the_next(tmp_path):
    from routing_core.engine import jobs

    home, models = tmp_path / "data", tmp_path / "models"
    DatasetStore(home).save("small", load_dataset(sample_csv_bytes(SampleConfig(n_items=120)), name="s.csv"), user=ADMIN)
    manager = JobManager(models, home)
    job = manager.submit(TrainRequest("small", version="v1"), user=ADMIN)
    worker = jobs.CHILDREN[-1]
    worker.kill()  # still importing: it never claimed the job
    worker.wait()
    assert _read(models, job)["state"] == "pending"
    deadline = time.monotonic() + 60
    while manager.get(job)["state"] != "completed":  # a later look starts a new worker
        assert manager.get(job)["state"] in ("pending", "running"), manager.get(job)
        assert time.monotonic() < deadline, f"the queued job was not completed within 60 s: {manager.get(job)}"
        time.sleep(0.1)
    assert whole_registry(models) == ["v1"]


# ---------------------------------------------------------------- killing a dataset save

SAVE_SCRIPT = """
import json, sys
import pandas as pd
from routing_core.users.access import local_user
from routing_core.datasets import Dataset, DatasetStore

src, home, name = sys.argv[1:4]
meta = json.load(open(src + "/meta.json"))
ops = pd.read_parquet(src + "/ops.parquet")
dataset = Dataset(ops=ops, mapping=meta["mapping"], item_attributes=meta["item_attributes"],
                  operation_attributes=meta["operation_attributes"], source_name="big.csv",
                  sha256=meta["sha256"] + "-" + name)  # another upload each time
print("saving", flush=True)
DatasetStore(home).save(name, dataset, stats=meta["stats"], user=local_user())
print("saved", flush=True)
"""


@pytest.mark.slow
def test_sigkill_a_dataset_save_at_many_delays(tmp_path, app_env):
    src, home, models = tmp_path / "src", tmp_path / "data", tmp_path / "models"
    src.mkdir()
    models.mkdir()
    big = load_dataset(sample_csv_bytes(SampleConfig(n_items=40_000, seed=5)), name="big.csv")
    big.ops.to_parquet(src / "ops.parquet", index=False)
    (src / "meta.json").write_text(json.dumps({
        "mapping": big.mapping, "item_attributes": big.item_attributes,
        "operation_attributes": big.operation_attributes, "sha256": big.sha256,
        "stats": compute_stats(big),
    }))
    script = tmp_path / "save_dataset.py"
    script.write_text(SAVE_SCRIPT)
    store = DatasetStore(home)
    store.save("keep", load_dataset(sample_csv_bytes(SampleConfig(n_items=100)), name="keep.csv"), user=ADMIN)
    keep_files = {p.name: p.read_bytes() for p in (home / "datasets" / "keep").iterdir()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    app_env(models, home)

    def save(name: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(script), str(src), str(home), name], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.readline() == b"saving\n", proc.stderr.read()
        return proc

    reference = save("reference")
    t0 = time.monotonic()
    assert reference.stdout.readline() == b"saved\n"
    save_sec = time.monotonic() - t0
    assert reference.wait(timeout=60) == 0 and "reference" in whole_store(home)

    outcomes = []
    for i, delay in enumerate(SAVE_KILLS):
        name = f"d{i}"
        proc = save(name)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        listed = whole_store(home)
        assert set(listed) <= {"keep", "reference", *(f"d{j}" for j in range(i + 1))}
        leftovers = [p.name for p in (home / "datasets").iterdir() if p.name.startswith(".")]
        assert len(leftovers) <= 1, leftovers  # the next save cleans up after a killed one
        outcomes.append((delay, name in listed, len(leftovers)))
        assert {p.name: p.read_bytes() for p in (home / "datasets" / "keep").iterdir()} == keep_files
        at = open_app(DATASET_PAGE)
        assert not at.exception, at.exception
        if name not in listed:  # the name is free again: saving it now works
            record, created = store.save(name, load_dataset(sample_csv_bytes(SampleConfig(n_items=30, seed=i)),
                                                            name=f"{name}.csv"), user=ADMIN)
            assert created and name in whole_store(home)
    store.cleanup()
    assert not [p for p in (home / "datasets").iterdir() if p.name.startswith(".")]
    print(f"a save of {len(big.ops):,} rows takes {save_sec:.3f} s;",
          "kill delay -> dataset listed, hidden leftovers:", outcomes)
    assert not all(listed for _, listed, _ in outcomes)  # some kills did stop a save


# ---------------------------------------------------------------- versions broken on disk


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Four real versions; the tests break three of them in different ways."""
    root = tmp_path_factory.mktemp("broken")
    home, models = root / "data", root / "models"
    DatasetStore(home).save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=200)), name="s.csv"), user=ADMIN)
    for seed, name in enumerate(("good", "badmanifest", "nomodel", "tampered")):
        run_training(TrainRequest("sample", version=name, seed=seed), models, home, user=ADMIN)
    Registry(models).activate("tampered", user=ADMIN)
    return home, models


def test_corrupt_manifest_missing_model_and_tampered_artifact(versions, app_env):
    home, models = versions
    registry = Registry(models)
    registry.load_model("tampered")  # loaded and cached before it is tampered with
    (models / "badmanifest" / MANIFEST_FILE).write_text('{"schema": "routing-studio/manifest@1", "artif')
    (models / "nomodel" / MODEL_FILE).unlink()
    path = models / "tampered" / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit changed
    path.write_bytes(bytes(data))
    broken = {"badmanifest": "not valid JSON", "nomodel": "model.joblib is missing",
              "tampered": "does not match the sha256"}

    infos = {i.name: i for i in registry.list()}
    assert set(infos) == {"good", *broken}
    assert infos["good"].broken is None
    for name, reason in broken.items():
        assert reason in (infos[name].broken or ""), (name, infos[name].broken)
        with pytest.raises(UserError, match=reason):
            registry.load_model(name)
        with pytest.raises(UserError, match="Cannot activate"):
            registry.activate(name, user=ADMIN)
    assert registry.active() == "tampered"  # still named, shown as broken
    model = registry.load_model("good")
    items = DatasetStore(home).load("sample").ops.drop_duplicates("item_code").head(3)
    assert all(p.candidates for p in model.predict(items))

    proc = subprocess.run([sys.executable, "-m", "routing_core", "--models-dir", str(models), "versions",
                           "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {r["version"]: r for r in json.loads(proc.stdout)}
    assert rows["good"]["broken"] is None
    assert all(reason in rows[name]["broken"] for name, reason in broken.items())

    app_env(models, home)
    at = open_app(MODELS_PAGE)
    assert not at.exception, at.exception
    table = at.dataframe(key="models_table").value.set_index("name")
    assert table.loc["good", "broken"] == ""
    assert all(reason in table.loc[name, "broken"] for name, reason in broken.items())
    assert any("tampered" in t for t in texts(at.sidebar.error))  # the active one is broken
    for name in broken:
        at.selectbox(key="models_detail").set_value(name).run()
        assert not at.exception
        assert any("This version cannot be used" in t and broken[name] in t for t in texts(at.main.error))
        assert at.button(key="models_activate").disabled
    at.selectbox(key="models_detail").set_value("good").run()
    assert not at.main.error and not at.button(key="models_activate").disabled

    at.switch_page(PREDICT_PAGE).run()  # only the good version is offered, and it predicts
    assert not at.exception, at.exception
    assert [o.split(" — ")[0] for o in at.selectbox(key="predict_version").options] == ["good"]
    code = str(items["item_code"].iloc[0])
    at.selectbox(key="predict_item").set_value(code).run()
    assert not at.exception
    assert f"Candidates for {code}" in texts(at.main.subheader)


def test_a_loaded_version_changed_on_disk_is_not_served_stale(tmp_path):
    """A cached model whose manifest is swapped for another version's: listed broken, refused."""
    home, models = tmp_path / "data", tmp_path / "models"
    DatasetStore(home).save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=60)), name="s.csv"), user=ADMIN)
    for name in ("a", "b"):
        run_training(TrainRequest("s", version=name), models, home, user=ADMIN)
    registry = Registry(models)
    model = registry.load_model("a")
    assert registry.load_model("a") is model  # cached
    (models / "a" / MANIFEST_FILE).write_bytes((models / "b" / MANIFEST_FILE).read_bytes())
    assert registry.get("a").broken  # names version b, and its files do not match
    with pytest.raises(UserError, match="so it is not loaded"):
        registry.load_model("a")
