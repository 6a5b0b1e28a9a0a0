"""Records validated where they are read (docs/reliability.md, "Bounded reads, records, exports,
encodings"): random corruptions of every record a page reads — job records, dataset records,
stats.json, ops.parquet, manifests' params, activity lines, and the files themselves replaced by a
FIFO, a folder, a link or an oversized file — then the pages that read it opened (and every page,
with every kind corrupted at once): none may raise, and the record is listed as unreadable with
the reason."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.users.activity import ActivityLog
from routing_core.versions.registry import Registry
from tests.app.conftest import APP, TIMEOUT
from tests.conftest import ADMIN
from ui.nav import PAGES

EXAMPLES = int(os.environ.get("FUZZ_RECORD_EXAMPLES", "10"))
DONE_JOB, PLAN_JOB = "j20260101-000000-000001-aaaaaa", "j20260101-000000-000002-aaaaaa"
RUN_JOB = "j20260101-000000-000003-aaaaaa"  # running: its process is this test's own


def job_record(job_id: str, dry_run: bool) -> dict:
    now = time.time()
    result = ({"items": 300, "rows": 1600, "processes": 9, "train_items": 240, "test_items": 60, "features": 12,
               "planning_sec": 0.4, "estimated_sec": 3.0, "estimated_peak_gb": 0.3, "memory_limit_gb": 12.0,
               "params": {"top_k": 5}, "dataset": {"name": "sample"}, "item_attributes": ["material"],
               "operation_attributes": [], "warnings": []} if dry_run else
              {"version": "v1", "metrics": {"routing_accuracy": 0.9, "top_3_accuracy": 0.95, "lift_over_best": 0.2,
                                            "beats_baseline": True, "best_baseline": "neighbour_vote"},
               "training_duration_sec": 3.0, "test_items": 60})
    return {"job_id": job_id, "state": "completed", "stage": "done", "progress": 100, "dry_run": dry_run,
            "version": None if dry_run else "v1", "dataset": "sample",
            "request": {"dataset": "sample", "version": None if dry_run else "v1", "test_size": 0.2, "seed": 42,
                        "top_k": 5, "dry_run": dry_run},
            "created_at": "2026-01-01T00:00:00+00:00", "created_ts": now - 10, "started_ts": now - 9,
            "finished_ts": now - 5, "elapsed_sec": 4.0, "result": result, "owner": "tester",
            "stages": [{"stage": "validate", "at_sec": 0.1}]}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A data home with a dataset, a models folder with an active version and two finished jobs."""
    root = tmp_path_factory.mktemp("records")
    data, models = root / "data", root / "models"
    DatasetStore(data).save("sample", load_dataset(sample_csv_bytes(SampleConfig(n_items=300)), name="s.csv"), user=ADMIN)
    DatasetStore(data).stats("sample")
    run_training(TrainRequest("sample", version="v1"), models, data, user=ADMIN)
    Registry(models, activity=ActivityLog(data)).activate("v1", user=ADMIN)
    jobs = models / ".jobs"
    jobs.mkdir()
    for job_id, dry in ((DONE_JOB, False), (PLAN_JOB, True)):
        (jobs / f"{job_id}.json").write_text(json.dumps(job_record(job_id, dry)))
    running = job_record(RUN_JOB, False) | {"state": "running", "stage": "fit", "progress": 50, "pid": os.getpid(),
                                            "result": None, "finished_ts": None}
    (jobs / f"{RUN_JOB}.json").write_text(json.dumps(running))
    assert not JobManager(models, data).broken()
    return root


def walk(data: Path, models: Path, monkeypatch, pages: tuple[str, ...] | None = None) -> list[str]:
    """Open every page (or `pages`; and each job on the Train page) in a new session; what any raised."""
    monkeypatch.setenv("ROUTING_DATA_HOME", str(data))
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(models))
    raised = []
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    raised += [f"app: {e.message}" for e in at.exception]
    for path in pages if pages is not None else [spec.path for spec in PAGES]:
        at.switch_page(path).run()
        raised += [f"{path}: {e.message}" for e in at.exception]
    for job_id in (DONE_JOB, PLAN_JOB, RUN_JOB) if pages is None or "pages/3_Train.py" in pages else ():
        at.query_params["job"] = job_id
        at.switch_page("pages/3_Train.py").run()
        raised += [f"Train ?job={job_id}: {e.message}" for e in at.exception]
    return raised


# ---------------------------------------------------------------- corruptions

HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1e30, 10**40, -1, -0.5, 1.5, 0, True, None, "", "many",
                     "abc", [], {}, [1, "x"], {"a": "b"}, {"version": 5}, "2026-13-45T99:99"]),
    st.text(max_size=12), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
)
JOB_FIELDS = ["progress", "elapsed_sec", "result", "request", "state", "stage", "stages", "created_at",
              "created_ts", "dry_run", "version", "dataset", "message", "error", "owner",
              "result.version", "result.metrics", "result.metrics.routing_accuracy", "result.test_items",
              "result.training_duration_sec", "result.params", "result.params.top_k", "result.item_attributes",
              "result.estimated_peak_gb", "request.top_k", "request.test_size", "request.seed"]
RECORD_FIELDS = ["rows", "items", "processes", "mapping", "warnings", "item_attributes", "created_at", "source",
                 "source.rows", "source.kind", "source.revision", "inconsistent_items", "sha256"]
STATS_FIELDS = ["total_samples", "unique_items", "missing_rate", "missing_rate.item_code", "routing_length",
                "routing_length.distribution", "duration_min", "duration_min.mean", "duration_by_process",
                "process_frequency", "transitions", "alerts", "attributes", "missing_duration_min",
                "stats_version"]
MANIFEST_FIELDS = ["params", "params.top_k", "dataset", "dataset.name", "created_at"]
FILE_KINDS = ["fifo", "folder", "symlink", "bytes", "oversized", "empty"]


def set_field(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[last] = value


def replace_file(path: Path, kind: str, junk: bytes) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to("/etc/passwd")
    elif kind == "oversized":  # a record of a few MB (a 12 × 15 MB set made every page slow)
        path.write_text(json.dumps({"pad": "x" * (3 << 20)}))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(junk)


def corrupt_json(path: Path, field: str, value) -> None:
    data = json.loads(path.read_text())
    set_field(data, field, value)
    path.write_text(json.dumps(data))


corruption = st.one_of(
    st.tuples(st.sampled_from(["job", "running"]), st.sampled_from(JOB_FIELDS), HOSTILE),
    st.tuples(st.just("record"), st.sampled_from(RECORD_FIELDS), HOSTILE),
    st.tuples(st.just("stats"), st.sampled_from(STATS_FIELDS), HOSTILE),
    st.tuples(st.just("manifest"), st.sampled_from(MANIFEST_FIELDS), HOSTILE),
    st.tuples(st.just("activity"), st.sampled_from(["ts", "time", "user", "action", "details", "outcome"]), HOSTILE),
    st.tuples(st.just("file"), st.sampled_from(["job", "record", "stats", "ops", "manifest", "activity"]),
              st.sampled_from(FILE_KINDS)),
)


def apply(root: Path, what: tuple, junk: bytes) -> None:
    data, models = root / "data", root / "models"
    paths = {"job": models / ".jobs" / f"{DONE_JOB}.json", "running": models / ".jobs" / f"{RUN_JOB}.json", "record": data / "datasets" / "sample" / "record.json",
             "stats": data / "datasets" / "sample" / "stats.json", "ops": data / "datasets" / "sample" / "ops.parquet",
             "manifest": models / "v1" / "manifest.json", "activity": ActivityLog(data).path}
    kind, field, value = what
    if kind == "file":
        replace_file(paths[field], value, junk)
    elif kind == "activity":
        line = {"ts": time.time(), "time": "2026-01-01T00:00:00+00:00", "user": "u", "action": "store_dataset",
                "object": "sample", "outcome": "ok", "details": {}}
        line[field] = value
        with open(paths["activity"], "a") as fh:
            fh.write(json.dumps(line) + "\n")
    else:
        corrupt_json(paths[kind], field, value)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(what=corruption, junk=st.binary(max_size=64))
def test_a_corrupt_record_breaks_no_page(template, tmp_path_factory, monkeypatch, what, junk):
    root = tmp_path_factory.mktemp("case")
    shutil.copytree(template, root, dirs_exist_ok=True, symlinks=True)
    apply(root, what, junk)
    kind = what[1] if what[0] == "file" else what[0]
    assert walk(root / "data", root / "models", monkeypatch, READERS[kind]) == [], what


def test_every_record_corrupted_at_once_breaks_no_page(template, tmp_path, monkeypatch):
    """One corruption of every kind together, and every page opened (and each job on Train): a page
    that reads a record READERS does not name for it is caught here."""
    shutil.copytree(template, tmp_path, dirs_exist_ok=True, symlinks=True)
    for what in [("running", "progress", math.nan), ("job", "result", "text"), ("record", "source.rows", "many"),
                 ("stats", "missing_rate", "x"), ("manifest", "params.top_k", 1e30), ("activity", "ts", "abc"),
                 ("file", "ops", "fifo")]:
        apply(tmp_path, what, b"")
    assert walk(tmp_path / "data", tmp_path / "models", monkeypatch) == []


# ---------------------------------------------------------------- each attack of the notes, as a plain test

CASES = [
    ("running", "progress", math.nan), ("running", "progress", math.inf), ("running", "progress", -5),
    ("running", "elapsed_sec", "long"), ("job", "result", "text"),
    ("job", "result.metrics", "text"), ("record", "source.rows", "many"), ("stats", "missing_rate", "x"),
    ("stats", "routing_length.distribution", {"4": "many"}), ("manifest", "params.top_k", 1e30),
    ("manifest", "params.top_k", 10**30), ("activity", "ts", "abc"), ("file", "activity", "symlink"),
    ("file", "activity", "folder"), ("file", "activity", "fifo"), ("file", "ops", "bytes"),
    ("file", "job", "oversized"), ("file", "stats", "folder"),
    ("file", "ops", "fifo"),
]


# The pages that read each kind of record (the sidebar, on every page, reads the active version);
# the property test above opens them all.
READERS = {
    "running": ("pages/0_Start.py", "pages/3_Train.py"), "job": ("pages/0_Start.py", "pages/3_Train.py"),
    "record": ("pages/0_Start.py", "pages/2_Dataset.py", "pages/3_Train.py", "pages/5_Predict.py"),
    "stats": ("pages/2_Dataset.py",), "ops": ("pages/2_Dataset.py", "pages/3_Train.py", "pages/5_Predict.py"),
    "manifest": ("pages/4_Models.py", "pages/5_Predict.py"), "activity": ("pages/4_Models.py", "pages/7_Activity.py"),
}


@pytest.mark.parametrize("what", CASES, ids=[f"{k}-{f}-{v}" for k, f, v in CASES])
def test_each_attack_of_the_notes_breaks_no_page(template, tmp_path, monkeypatch, what):
    shutil.copytree(template, tmp_path, dirs_exist_ok=True, symlinks=True)
    apply(tmp_path, what, b"\x00garbage")
    kind = what[1] if what[0] == "file" else what[0]
    assert walk(tmp_path / "data", tmp_path / "models", monkeypatch, READERS[kind]) == [], what
