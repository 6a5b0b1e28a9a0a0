"""Hostile files, made at test time: what a file may expand to (bombs, wide, long and nested files),
broken state files in the models and data folders, errors nobody foresaw, and two races
(docs/reliability.md §6)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from routing_core.cli import commands as cli
from routing_core.datasets import DatasetStore, load_dataset, normalise, read_table
from routing_core.engine.jobs import JobManager
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.model import RoutingModel
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.manifest import MANIFEST_FILE, METRICS_FILE, clear_all, sha256_file
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts, trained, trained_folders  # noqa: F401 (fixtures)
from tests.conftest import ADMIN, ROOT

MODELS_PAGE, PREDICT_PAGE, TRAIN_PAGE, DATASET_PAGE = (
    "pages/4_Models.py", "pages/5_Predict.py", "pages/3_Train.py", "pages/2_Dataset.py")


def refused(call, *needles: str) -> str:
    """The UserError message of `call()`, which must contain every needle."""
    with pytest.raises(UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    for needle in needles:
        assert needle in message, message
    return message


def tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its bytes (what 'nothing stored changed' compares)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- files that expand


def parquet_bomb(rows: int = 30_000_000, value: str = "ITEM-0001", group: int = 1_000_000) -> bytes:
    """A small Parquet file of `rows` dictionary-encoded rows repeating one item and one process."""
    idx = pa.array(np.zeros(group, dtype=np.int32))
    table = pa.table({
        "item_code": pa.DictionaryArray.from_arrays(idx, pa.array([value])),
        "process_code": pa.DictionaryArray.from_arrays(idx, pa.array(["SAW"])),
        "seq": pa.array(np.ones(group, dtype=np.int32)),
    })
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as writer:
        for _ in range(rows // group):
            writer.write_table(table, row_group_size=group)
    return buf.getvalue()


def csv_bytes(items: int = 20, steps: int = 3, extra: int = 0, name: str = "c{}", process=None) -> bytes:
    header = ["item_code", "process_code", "seq", *(name.format(i) for i in range(extra))]
    lines = [",".join(header)]
    for it in range(items):
        for s in range(steps):
            proc = process(it, s) if process else ("SAW", "LATHE", "QC")[s % 3]
            lines.append(",".join([f"I{it}", proc, str(s + 1), *(str((it + i) % 5) for i in range(extra))]))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def stored(tmp_path):
    """A data home holding one dataset; tests check it is byte-identical after a refused file."""
    store = DatasetStore(tmp_path / "data")
    store.save("kept", load_dataset(csv_bytes(), name="kept.csv"), user=ADMIN)
    return store


def test_a_parquet_bomb_is_refused_from_its_metadata(stored, tmp_path):
    data = parquet_bomb()
    assert len(data) < 500_000  # 0.3 MB on disk, 30 million rows inside
    before = tree(stored.root)
    start = time.perf_counter()
    refused(lambda: read_table(data, name="bomb.parquet"), "bomb.parquet has 30,000,000 rows",
            "limit is 10,000,000", "ROUTING_MAX_ROWS")
    assert time.perf_counter() - start < 2
    path = tmp_path / "bomb.parquet"
    path.write_bytes(data)
    refused(lambda: load_dataset(path), "30,000,000 rows")
    assert tree(stored.root) == before


def test_parquet_text_that_decodes_past_the_limit_is_refused_before_it_is_decoded(monkeypatch):
    # 1M rows whose one (dictionary-encoded) value has 1,000 characters: 1 GB once decoded
    monkeypatch.setenv("ROUTING_MAX_DECODED_BYTES", str(100 << 20))
    data = parquet_bomb(rows=1_000_000, value="x" * 1000)
    refused(lambda: read_table(data, name="wide.parquet"), "bytes once decoded", "ROUTING_MAX_DECODED_BYTES")


@pytest.mark.parametrize("env, limit, needle", [
    ("ROUTING_MAX_ROWS", 100, "rows"),
    ("ROUTING_MAX_COLUMNS", 10, "columns"),
    ("ROUTING_MAX_CELLS", 500, "cells"),
    ("ROUTING_MAX_ITEMS", 10, "distinct items"),
    ("ROUTING_MAX_PROCESS_CODES", 2, "distinct process codes"),
])
def test_each_limit_refuses_csv_and_parquet_over_it(monkeypatch, tmp_path, env, limit, needle):
    data = csv_bytes(items=60, extra=12)  # 180 rows, 15 columns, 2,700 cells, 60 items, 3 processes
    frame = read_table(data, name="f.csv").frame
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    monkeypatch.setenv(env, str(limit))
    for blob, name in ((data, "f.csv"), (buf.getvalue(), "f.parquet")):
        refused(lambda blob=blob, name=name: load_dataset(blob, name=name), name, needle, f"{limit:,}", env)
    # a file on disk above the first megabyte takes the streaming reader
    big = csv_bytes(items=20_000, extra=12)
    path = tmp_path / "big.csv"
    path.write_bytes(big)
    assert len(big) > 1 << 20
    refused(lambda: load_dataset(path), "big.csv", needle, env)


def test_the_default_limit_on_process_codes_refuses_a_file_with_too_many():
    data = csv_bytes(items=100_001, steps=2, process=lambda it, s: f"P{it * 2 + s}")  # 200,002 codes
    refused(lambda: load_dataset(data, name="codes.csv"), "200,002 distinct process codes", "limit is 200,000")


def test_a_bad_limit_setting_is_a_clear_message(monkeypatch):
    monkeypatch.setenv("ROUTING_MAX_ROWS", "lots")
    refused(lambda: load_dataset(csv_bytes(), name="f.csv"), "ROUTING_MAX_ROWS='lots' is not a whole number")


# ---------------------------------------------------------------- wide, long and nested files


@pytest.mark.parametrize("columns", [5_000, 10_000])
def test_wide_files_with_headers_over_64_kb_are_read_and_normalised_in_seconds(tmp_path, columns):
    data = csv_bytes(items=20, extra=columns, name="attribute_column_{}")
    assert data.index(b"\n") > 64 * 1024
    start = time.perf_counter()
    dataset = normalise(read_table(data, name="wide.csv"))
    assert time.perf_counter() - start < 10
    assert dataset.ops.shape == (60, columns + 4) and dataset.n_items == 20
    path = tmp_path / "wide.csv"  # from disk too (over a megabyte: the streaming reader)
    path.write_bytes(data)
    assert load_dataset(path).ops.shape == (60, columns + 4)


def test_a_header_longer_than_the_first_megabyte_is_read(tmp_path, monkeypatch):
    data = csv_bytes(items=3, extra=45_000, name="a_rather_long_attribute_name_{}")
    assert data.index(b"\n") > 1 << 20
    path = tmp_path / "wider.csv"
    path.write_bytes(data)
    monkeypatch.delenv("ROUTING_MAX_COLUMNS", raising=False)
    refused(lambda: load_dataset(path), "45,003 columns", "limit is 20,000")


@pytest.mark.parametrize("kind, column", [
    ("struct", pa.array([{"a": 1, "b": "x"}] * 6)),
    ("list", pa.array([[1, 2]] * 6)),
    ("map", pa.array([[("k", 1)]] * 6, type=pa.map_(pa.string(), pa.int64()))),
])
def test_nested_parquet_columns_are_refused_by_name(stored, kind, column, tmp_path):
    table = pa.table({"item_code": ["A", "A", "A", "B", "B", "B"], "process_code": ["S", "L", "Q"] * 2,
                      "seq": [1, 2, 3] * 2, "options": column})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    before = tree(stored.root)
    refused(lambda: load_dataset(buf.getvalue(), name="nested.parquet"),
            "nested.parquet", f"'options' ({kind})", "nested values", "Flatten")
    path = tmp_path / "nested.parquet"
    path.write_bytes(buf.getvalue())
    code, _, err = run_cli(["stats", str(path)])
    assert code == 2 and err.count("\n") == 1 and "'options'" in err
    assert tree(stored.root) == before


def test_one_process_65_times_in_one_item_is_read():
    data = csv_bytes(items=30, steps=3) + b"".join(f"I99,P,{s}\n".encode() for s in range(1, 66))
    dataset = load_dataset(data, name="rep.csv")
    assert int((dataset.ops["item_code"] == "I99").sum()) == 65 and dataset.n_items == 31


def test_one_process_65_times_in_one_item_trains(tmp_path):
    data = csv_bytes(items=30, steps=3, process=lambda it, s: ("SAW", "LATHE", "QC")[s])
    data += b"".join(f"I99,P,{s}\n".encode() for s in range(1, 66))
    store = DatasetStore(tmp_path / "data")
    store.save("rep", load_dataset(data, name="rep.csv"), user=ADMIN)
    result = run_training(TrainRequest("rep", version="v1"), tmp_path / "models", tmp_path / "data", user=ADMIN)
    assert result["version"] == "v1"


# ---------------------------------------------------------------- memory of the worst reads


MEMORY_PROBE = r"""
import sys, time
sys.path.insert(0, sys.argv[1])


def peak_mb():  # this process's own high-water mark (ru_maxrss would count the parent's from fork)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


from routing_core.datasets import load_dataset
from routing_core.platform.errors import UserError
base = peak_mb()
for path in sys.argv[2:]:
    start = time.perf_counter()
    try:
        load_dataset(path)
        print(path, "READ")
    except UserError:
        pass
    print(f"{path}\t{time.perf_counter() - start:.3f}")
print(f"peak\t{peak_mb():.0f}\t{base:.0f}")
"""


def test_peak_memory_of_the_worst_reads_stays_within_500_mb(tmp_path):
    """The bombs read from disk by a fresh process: its peak (imports included) and the time of each."""
    paths = [tmp_path / "bomb.parquet", tmp_path / "text-bomb.parquet"]
    paths[0].write_bytes(parquet_bomb())
    paths[1].write_bytes(parquet_bomb(rows=1_000_000, value="x" * 1000))
    env = {**os.environ, "ROUTING_MAX_DECODED_BYTES": str(256 << 20)}
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ROOT), *map(str, paths)], capture_output=True,
                         text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "READ" not in out.stdout, out.stdout
    lines = dict(line.split("\t", 1) for line in out.stdout.strip().splitlines())
    print("\n" + out.stdout)
    assert int(lines["peak"].split("\t")[0]) < 500, out.stdout
    for path in paths:
        assert float(lines[str(path)]) < 2, out.stdout


# ---------------------------------------------------------------- broken state in the models folder


def run_cli(argv: list[str], env: dict | None = None) -> tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-m", "routing_core", *argv], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})
    return out.returncode, out.stdout, out.stderr


def rehash(version: Path, artifact: str) -> None:
    """Record an artifact's new bytes in the manifest (so only the schema check can catch it)."""
    manifest = json.loads((version / MANIFEST_FILE).read_text())
    manifest["artifacts"][artifact] = {"sha256": sha256_file(version / artifact),
                                       "bytes": (version / artifact).stat().st_size}
    (version / MANIFEST_FILE).write_text(json.dumps(manifest))


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def break_versions(models: Path, good: str) -> dict[str, str]:
    """Copies of the good version, each broken in one way; returns name -> expected reason."""
    src = models / good
    cases: dict[str, str] = {}

    def copy(name: str) -> Path:
        shutil.copytree(src, models / name)
        manifest = json.loads((models / name / MANIFEST_FILE).read_text())
        manifest["version"] = name
        (models / name / MANIFEST_FILE).write_text(json.dumps(manifest))
        return models / name

    v = copy("deep-manifest")
    manifest = json.loads((v / MANIFEST_FILE).read_text())
    (v / MANIFEST_FILE).write_text(json.dumps(manifest)[:-1] + f', "x": {nested(600)}}}')
    cases["deep-manifest"] = "nests deeper than 64 levels"

    for field, value, needle in (("created_at", 5, "'created_at' holds a number, expected text or null"),
                                 ("dataset", "x", "'dataset' holds text, expected an object"),
                                 ("params", [1], "'params' holds a list"),
                                 ("version", {"a": 1}, "'version' holds an object")):
        v = copy(f"wrong-{field}")
        manifest = json.loads((v / MANIFEST_FILE).read_text())
        manifest[field] = value
        (v / MANIFEST_FILE).write_text(json.dumps(manifest))
        cases[f"wrong-{field}"] = needle
    v = copy("wrong-top-k")
    manifest = json.loads((v / MANIFEST_FILE).read_text())
    manifest["params"]["top_k"] = "five"
    (v / MANIFEST_FILE).write_text(json.dumps(manifest))
    cases["wrong-top-k"] = "'params.top_k' holds text"

    v = copy("wrong-metrics")
    metrics = json.loads((v / METRICS_FILE).read_text())
    metrics["routing_accuracy"], metrics["baselines"] = "high", []
    (v / METRICS_FILE).write_text(json.dumps(metrics))
    rehash(v, METRICS_FILE)
    cases["wrong-metrics"] = "'routing_accuracy' holds text"

    v = copy("manifest-not-utf8")
    (v / MANIFEST_FILE).write_bytes(b'{"schema": "\xff\xfe"}')
    cases["manifest-not-utf8"] = "not UTF-8"

    v = copy("metrics-zero")
    (v / METRICS_FILE).unlink()
    os.symlink("/dev/zero", v / METRICS_FILE)
    cases["metrics-zero"] = "metrics.json is not a regular file"

    v = copy("metrics-fifo")
    (v / METRICS_FILE).unlink()
    os.mkfifo(v / METRICS_FILE)
    cases["metrics-fifo"] = "metrics.json is not a regular file"

    v = copy("manifest-fifo")
    (v / MANIFEST_FILE).unlink()
    os.mkfifo(v / MANIFEST_FILE)
    cases["manifest-fifo"] = "manifest.json is a FIFO"

    v = copy("manifest-huge")
    with open(v / MANIFEST_FILE, "ab") as fh:
        fh.truncate(32 << 20)  # sparse: 32 MB of NUL after the JSON
    cases["manifest-huge"] = "more than the 16,777,216 it may have"

    os.symlink(src, models / "linked")
    cases["linked"] = "is a symbolic link to another folder"
    return cases


def test_broken_state_in_the_models_folder_is_listed_and_breaks_nothing_else(trained, models_dir):  # noqa: F811
    good, other = trained
    cases = break_versions(models_dir, good)
    registry = Registry(models_dir)
    registry.activate(good, user=ADMIN)
    start = time.perf_counter()
    infos = {i.name: i for i in registry.list()}
    assert time.perf_counter() - start < 10  # no FIFO or /dev/zero was read
    assert infos[good].ok and infos[other].ok
    for name, needle in cases.items():
        assert infos[name].broken and needle in infos[name].broken, (name, infos[name].broken)
        refused(lambda name=name: registry.activate(name, user=ADMIN), name)
        refused(lambda name=name: registry.load_model(name))
    assert isinstance(registry.load_model(good), RoutingModel)

    code, out, err = run_cli(["versions", "--format", "json", "--models-dir", str(models_dir)])
    assert code == 0, err
    rows = {r["version"]: r for r in json.loads(out)}
    assert all(rows[n]["broken"] for n in cases) and rows[good]["broken"] is None

    # the pages: the Models table lists them; every broken one selected shows why; Predict offers good ones
    at = open_app(MODELS_PAGE)
    assert not at.exception, at.exception
    for name in ("deep-manifest", "wrong-created_at", "metrics-zero", "linked"):
        at.selectbox(key="models_detail").set_value(name).run()
        assert not at.exception, at.exception
        assert any("cannot be used" in t for t in texts(at.main.error))
    at = open_app(PREDICT_PAGE)
    assert not at.exception, at.exception
    offered = {o.split(" — ")[0]: o for o in at.selectbox(key="predict_version").options}
    assert sorted(offered) == sorted([good, other]) and offered[good].endswith("· active")

    # a broken version made active by hand: every page still opens, the sidebar says why
    for name in ("deep-manifest", "wrong-dataset", "linked"):
        (models_dir / "ACTIVE").write_text(name + "\n")
        clear_all(user=ADMIN)
        for page in (MODELS_PAGE, PREDICT_PAGE, TRAIN_PAGE, DATASET_PAGE):
            at = open_app(page)
            assert not at.exception, (name, page, at.exception)
        assert any(cases[name].split(" ")[0] in t for t in texts(at.sidebar.error)), texts(at.sidebar.error)


def test_a_fifo_as_active_hangs_nothing(trained, models_dir):  # noqa: F811
    (models_dir / "ACTIVE").unlink(missing_ok=True)
    os.mkfifo(models_dir / "ACTIVE")
    registry = Registry(models_dir)
    start = time.perf_counter()
    assert registry.active() is None
    assert "ACTIVE is a FIFO" in registry.active_problem()
    assert len(registry.list()) == 2
    at = open_app(PREDICT_PAGE)
    assert not at.exception, at.exception
    assert any("ACTIVE is a FIFO" in t for t in texts(at.sidebar.error))
    code, _, err = run_cli(["predict", str(ROOT / "pyproject.toml"), "--out", "/dev/null",
                            "--models-dir", str(models_dir)])
    assert code == 2 and "No model version is active" in err
    assert time.perf_counter() - start < 60


# ---------------------------------------------------------------- broken job records


def test_broken_job_records_are_listed_and_trainings_still_run(trained, models_dir, data_home):  # noqa: F811
    jobs = models_dir / ".jobs"
    jobs.mkdir(exist_ok=True)
    bad = {
        "j20260101-000000-000001-aaaaaa.json": (b'{"job_id": "\xff\xfe"}', "not UTF-8"),
        "j20260101-000000-000002-aaaaaa.json": (b'[1, 2, 3]', "holds a list, not an object"),
        "j20260101-000000-000003-aaaaaa.json": (b'{"state": "pending"}', "lacks the field 'job_id'"),
        "j20260101-000000-000004-aaaaaa.json": (
            json.dumps({"job_id": "j20260101-000000-000004-aaaaaa", "state": "pending",
                        "created_ts": "yesterday"}).encode(), "'created_ts' holds text"),
        "j20260101-000000-000005-aaaaaa.json": (
            json.dumps({"job_id": "j20260101-000000-000099-aaaaaa", "state": "pending"}).encode(),
            "is not its file name"),
        "j20260101-000000-000006-aaaaaa.json": (
            json.dumps({"job_id": "j20260101-000000-000006-aaaaaa", "state": "exploded"}).encode(),
            "state 'exploded' is not one of"),
        "j20260101-000000-000007-aaaaaa.json": (nested(600).encode(), "nests deeper than 64 levels"),
    }
    for name, (data, _) in bad.items():
        (jobs / name).write_bytes(data)
    os.mkfifo(jobs / "j20260101-000000-000008-aaaaaa.json")
    manager = JobManager(models_dir, data_home)
    broken = dict(manager.broken())
    for name, (_, needle) in bad.items():
        assert needle in broken[name], (name, broken.get(name))
    assert "is a FIFO" in broken["j20260101-000000-000008-aaaaaa.json"]
    assert manager.list() == []
    refused(lambda: manager.get("j20260101-000000-000003-aaaaaa"), "lacks the field 'job_id'")

    at = open_app(TRAIN_PAGE)
    assert not at.exception, at.exception
    assert any("8 job record(s) cannot be read" in e.label for e in at.expander)
    at.toggle(key="train_dry_run").set_value(True).run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["train_job"]
    deadline = time.monotonic() + 90
    while manager.get(job_id)["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"the dry run did not end within 90 s: {manager.get(job_id)}"
        time.sleep(0.3)
    assert manager.get(job_id)["state"] == "completed", manager.get(job_id)
    assert len(manager.broken()) == 8  # left alone: nothing removes a file it cannot read


# ---------------------------------------------------------------- broken datasets


def test_broken_datasets_are_listed_and_the_others_keep_working(trained, data_home):  # noqa: F811
    store = DatasetStore(data_home)
    folder = store.folder
    src = folder / "sample"

    def copy(name: str) -> Path:
        shutil.copytree(src, folder / name)
        record = json.loads((folder / name / "record.json").read_text())
        record["name"] = name
        (folder / name / "record.json").write_text(json.dumps(record))
        return folder / name

    copy("deep").joinpath("record.json").write_text(nested(600))
    copy("not-utf8").joinpath("record.json").write_bytes(b'{"name": "\xff"}')
    record = json.loads((src / "record.json").read_text())
    copy("wrong-rows").joinpath("record.json").write_text(json.dumps({**record, "name": "wrong-rows",
                                                                      "rows": "many"}))
    copy("a-list").joinpath("record.json").write_text("[]")
    fifo = copy("fifo-ops")
    (fifo / "ops.parquet").unlink()
    os.mkfifo(fifo / "ops.parquet")
    zero = copy("zero-stats")
    (zero / "stats.json").unlink(missing_ok=True)
    os.symlink("/dev/zero", zero / "stats.json")
    os.symlink(src, folder / "linked")

    start = time.perf_counter()
    names = set(store.names())
    broken = dict(store.broken())
    assert names == {"sample", "fifo-ops", "zero-stats"}
    assert "nests deeper" in broken["deep"] and "not UTF-8" in broken["not-utf8"]
    assert "'rows' holds text" in broken["wrong-rows"] and "holds a list" in broken["a-list"]
    assert "symbolic link" in broken["linked"]
    refused(lambda: store.load("fifo-ops"), "ops.parquet is a FIFO")
    stats = store.stats("zero-stats")  # the link is not read: computed again and written in its place
    assert stats["unique_items"] == store.record("zero-stats").items
    assert not (zero / "stats.json").is_symlink()
    assert store.stats("sample")["unique_items"] == store.record("sample").items
    assert time.perf_counter() - start < 30

    at = open_app(DATASET_PAGE)
    assert not at.exception, at.exception
    assert any("5 stored dataset(s) cannot be used" in e.label for e in at.expander)


# ---------------------------------------------------------------- no tracebacks for users


def test_the_dashboard_shows_no_error_details():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    code = ("import os, sys; os.chdir(sys.argv[1]); from streamlit import config; "
            "config.get_config_options(force_reparse=True); print(config.get_option('client.showErrorDetails'))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "none", out.stderr


def test_the_cli_prints_one_line_and_exits_1_on_an_unexpected_error(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("state nobody foresaw\nsecond line")

    monkeypatch.setitem(cli.COMMANDS, "versions", broken)
    assert cli.main(["versions"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected RuntimeError: state nobody foresaw") and "--debug" in err
    assert cli.main(["versions", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise RuntimeError("state nobody foresaw' in err
    assert cli.main(["--debug", "versions"]) == 1 and "Traceback" in capsys.readouterr().err
    # a user's mistake stays exit 2
    assert cli.main(["versions", "--format", "xml"]) == 2


# ---------------------------------------------------------------- races and stale selections


def store_together(root: Path, datasets: list) -> list[object]:
    """Each dataset stored by the command line's own step at the same moment (one thread each)."""
    barrier = threading.Barrier(len(datasets))
    results: list[object] = [None] * len(datasets)

    def save(i: int) -> None:
        args = cli.build_parser().parse_args(["train", "d.csv", "--data-home", str(root)])
        barrier.wait()
        try:
            results[i] = cli.store_dataset(args, datasets[i])
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            results[i] = exc

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(datasets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_concurrent_stores_of_the_same_content_give_one_dataset_and_no_error(tmp_path):
    data = sample_csv_bytes(SampleConfig(n_items=1000, seed=4))
    for round_ in range(4):
        store = DatasetStore(tmp_path / f"data{round_}")
        results = store_together(store.root, [load_dataset(data, name="d.csv") for _ in range(5)])
        assert results == ["d"] * 5, results
        assert store.names() == ["d"] and store.broken() == []
        assert not [p for p in store.folder.iterdir() if p.name.startswith(".")]


def test_the_version_picker_follows_a_deletion(trained, models_dir):  # noqa: F811
    good, other = trained
    Registry(models_dir).activate(good, user=ADMIN)
    reader = open_app(PREDICT_PAGE)
    reader.selectbox(key="predict_version").set_value(other).run()
    assert not reader.exception
    Registry(models_dir).delete(other, user=ADMIN)
    reader.run()
    assert not reader.exception, reader.exception
    picker = reader.selectbox(key="predict_version")
    assert picker.value == good and other not in picker.options
    # the browser is told the new value, so it shows the version the page now uses
    assert picker.proto.set_value and picker.proto.raw_value.startswith(f"{good} — ")
    assert picker.proto.raw_value.endswith("· active")
    assert any(other in t and "no longer available" in t for t in texts(reader.main.warning))
