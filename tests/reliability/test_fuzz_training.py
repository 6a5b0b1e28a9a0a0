"""Property-based: dirty routing files that the readers accept go through `stats` and `train`.

Every generated file ends in UserError (CLI: exit 2 and one line on stderr) or in a valid
result — statistics that are strict JSON, a published version that is whole, loads and
predicts — never in another exception, and never changes what was stored before.
Counts: FUZZ_TRAIN_EXAMPLES in-process trainings (default 150), FUZZ_CLI_EXAMPLES real CLI
subprocess pairs `stats` + `train` (default 10), FUZZ_EXAMPLES in-process `stats` runs over the
readers' broken files (default 300).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routing_core.cli import commands as cli
from routing_core.cli.common import cli_dataset
from routing_core.datasets import DatasetStore, load_dataset, read_table
from routing_core.datasets.stats import compute_stats
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.mapping.schema import ITEM
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.registry import Registry
from tests.conftest import ADMIN, ROOT
from tests.reliability.test_fuzz_readers import FUZZ_EXAMPLES, broken_files

TRAIN_EXAMPLES = int(os.environ.get("FUZZ_TRAIN_EXAMPLES", "150"))
HANG_SEC = 30  # an in-process case slower than this counts as a hang
CLI_EXAMPLES = int(os.environ.get("FUZZ_CLI_EXAMPLES", "10"))

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", "+1+1",
    "-2", "@SUM(A1)", "00123", "123", "1e5", "NaN", "None", "nan", "null", "True", "부품-1",
    "x" * 3000, "a,b", 'q"uote', "semi;colon", "pipe|", "tab\there", "line\nbreak", " pad ",
    "\u202eRTL", "\ufeffBOM", "", " ",
]
NUMBERS = ["", "0", "1", "2", "2", "10", "-1", "1.5", "35,5", "1e308", "1e309", "-0", "inf",
           "-inf", "9" * 40, "abc", "0x10", "NaN", " 7 "]


def _mostly(good: str, bad: list[str]) -> st.SearchStrategy[str]:
    """`good` most of the time, else one of `bad` (one bad cell is enough to refuse a file)."""
    return st.integers(0, 7).flatmap(lambda n: st.just(good) if n else st.sampled_from(bad))


@st.composite
def dirty_tables(draw) -> tuple[bytes, dict]:
    """A CSV the readers can parse, dirty in the ways real routing exports are."""
    codes = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8), st.from_regex(r"[A-Z]{1,3}-?[0-9]{1,4}", fullmatch=True))
    n_items = draw(st.integers(1, 7) | st.integers(2, 7))
    items = draw(st.lists(codes, min_size=n_items, max_size=n_items))
    processes = draw(st.lists(codes, min_size=1, max_size=5))
    attrs = draw(st.lists(st.sampled_from(["material", "diameter", "flag", "note", "work_center", "=evil", "<b>x</b>"]),
                          max_size=4, unique=True))
    with_seq = draw(st.booleans())
    with_duration = draw(st.booleans())
    header = ["item_code", "process_code"] + (["seq"] if with_seq else []) + (["duration_min"] if with_duration else []) + attrs
    rows = []
    for item in items:
        item_value = {a: draw(st.one_of(st.sampled_from(NUMBERS), st.sampled_from(HOSTILE))) for a in attrs}
        for step in range(draw(st.integers(1, 4))):
            row = [item, draw(st.sampled_from(processes))]
            if with_seq:
                row.append(draw(_mostly(str(10 * (step + 1)), NUMBERS)))
            if with_duration:
                row.append(draw(_mostly(f"{1.5 * (step + 1)}", NUMBERS)))
            for a in attrs:
                same = draw(st.integers(0, 4)) > 0  # mostly constant within the item
                row.append(item_value[a] if same else draw(st.sampled_from(NUMBERS + HOSTILE)))
            rows.append(row)
    if draw(st.booleans()) and rows:
        rows.extend(draw(st.lists(st.sampled_from(rows), max_size=3)))  # duplicate rows
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp949", "latin-1"]))
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *rows])
    options = {
        "test_size": draw(st.sampled_from([0.2, 0.05, 0.5, 0.9])),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "top_k": draw(st.integers(1, 6)),
        "dry_run": draw(st.integers(0, 5)) == 0,
    }
    return buf.getvalue().encode(encoding, errors="replace"), options


def _kind(message: str) -> str:
    """A user message with names and numbers blanked, to count outcomes by kind."""
    text = re.sub(r"^\S*dirty\.csv:? ", "", message)
    text = re.sub(r"'[^']*'", "'…'", text)
    return re.sub(r"\d[\d,.]*", "N", text).strip()[:70]


def _one_line(message: str) -> None:
    assert message and "Traceback" not in message
    assert "\n" not in message.strip(), message


def _strict_json(text: str) -> object:
    """JSON as a browser or `jq` reads it: NaN and Infinity are not JSON."""
    def refuse(token: str) -> None:
        raise AssertionError(f"not valid JSON: {token} in {text[:300]}")

    return json.loads(text, parse_constant=refuse)


def _snapshot(*folders) -> dict[str, str]:
    """The stored data; the activity log, which records each case's own changes, and the mappings
    remembered by header, which each saved dataset adds to, are not stored data."""
    diary = {"activity.jsonl", "mappings.json", ".mappings.lock"}
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in diary
    }


def _check_version(registry: Registry, version: str, items: pd.Series) -> None:
    info = registry.get(version)
    assert info.broken is None, info.broken
    registry.verify(version)
    model = registry.load_model(version)
    codes = pd.DataFrame({ITEM: list(dict.fromkeys(items.astype(str)))[:3] + ["never-seen-item"]})
    for prediction in model.predict(codes):
        candidates = prediction.candidates
        assert candidates, prediction
        # ranked 1, 2, 3 …, each routing once, the model's own candidates by falling score
        assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1)), prediction
        assert len({tuple(c.processes) for c in candidates}) == len(candidates), prediction
        scores = [c.score for c in candidates if c.kind == "model"]
        assert scores == sorted(scores, reverse=True), prediction
        for c in candidates:
            assert c.steps, c
            assert c.total_duration_min is None or math.isfinite(c.total_duration_min), c
    frame = model.predict_frame(codes)
    assert set(frame[ITEM]) == set(codes[ITEM])


# ---------------------------------------------------------------- stats over every reader case


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=broken_files())
def test_stats_command_in_process_exits_0_with_json_or_2_with_one_line(data, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "stats-fuzz.csv"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["stats", str(path)])
    assert time.monotonic() - started < HANG_SEC
    if code == 0:
        stats = _strict_json(out.getvalue())
        # stderr says only what the contents settled about the mapping, a line each
        assert all(line.startswith(("note: ", "warning: ")) for line in err.getvalue().splitlines())
        # the rows the reader keeps, counted once more through the library, read as the command reads it
        raw = read_table(path)
        args = cli.build_parser().parse_args(["stats", str(path)])
        assert stats["total_samples"] == len(cli_dataset(args, raw, refuse=False).ops)
        event("stats: printed")
    else:
        assert code == cli.EXIT_USER_ERROR, (code, err.getvalue())
        assert err.getvalue().startswith("error: ") and out.getvalue() == ""
        _one_line(err.getvalue())
        event("stats: exit 2")


# ---------------------------------------------------------------- in-process training


@pytest.fixture(scope="module")
def store_and_registry(tmp_path_factory):
    """A data home and models folder that already hold a good dataset and a good version."""
    root = tmp_path_factory.mktemp("fuzz-train")
    home, models = root / "data", root / "models"
    DatasetStore(home).save("good", load_dataset(sample_csv_bytes(SampleConfig(n_items=60)), name="good.csv"), user=ADMIN)
    run_training(TrainRequest("good", version="good"), models, home, user=ADMIN)
    return home, models, _snapshot(home, models), itertools.count()


@settings(max_examples=TRAIN_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=dirty_tables())
def test_dirty_data_trains_or_is_refused_and_stored_data_is_untouched(case, store_and_registry):
    data, options = case
    home, models, before, counter = store_and_registry
    n = next(counter)
    started = time.monotonic()
    store, registry = DatasetStore(home), Registry(models)
    try:
        dataset = load_dataset(data, name="dirty.csv")
    except UserError as exc:
        _one_line(str(exc))
        event("read refused: " + _kind(str(exc)))
        return
    stats = compute_stats(dataset)
    _strict_json(json.dumps(stats, default=str))
    try:
        record, created = store.save(f"d{n}", dataset, user=ADMIN)
    except UserError as exc:
        _one_line(str(exc))
        event("store: refused")
        return
    version = f"f{n}"
    try:
        result = run_training(TrainRequest(record.name, version=version, **options), models, home, user=ADMIN)
    except UserError as exc:
        _one_line(str(exc))
        assert not registry.exists(version)
        event("train refused: " + _kind(str(exc)))
    else:
        if options["dry_run"]:
            assert result["dry_run"] and not registry.exists(version)
            event("train: dry run planned")
        else:
            _check_version(registry, version, dataset.ops[ITEM])
            event("train: published a whole version")
    # what was stored before is untouched; every listed version and dataset is whole
    now = _snapshot(home, models)
    assert {k: now.get(k) for k in before} == before
    assert all(info.broken is None for info in registry.list())
    assert all(r.rows == len(store.load(r.name).ops) for r in store.list())
    assert time.monotonic() - started < HANG_SEC
    # keep the folders small so every example costs the same
    if registry.exists(version):
        registry.delete(version, user=ADMIN)
    if created:
        store.delete(record.name, user=ADMIN)


# ---------------------------------------------------------------- real CLI processes


@settings(max_examples=CLI_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=st.one_of(dirty_tables(), broken_files().map(lambda b: (b, {"test_size": 0.2, "seed": 1,
                                                                         "top_k": 3, "dry_run": False}))))
def test_cli_stats_and_train_exit_0_or_2_with_one_line(case, tmp_path_factory):
    data, options = case
    root = tmp_path_factory.mktemp("cli-fuzz")
    src = root / "dirty.csv"
    src.write_bytes(data)
    models, home = root / "models", root / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "routing_core", "--models-dir", str(models), "--data-home", str(home)]
    train = [*base, "train", str(src), "--version", "cli1", "--test-size", str(options["test_size"]),
             "--seed", str(options["seed"]), "--top-k", str(options["top_k"])]
    for args in ([*base, "stats", str(src)], train):
        proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        command = args[len(base)]
        if proc.returncode == 0:
            payload = _strict_json(proc.stdout)
            assert "Traceback" not in proc.stderr
            if command == "train":
                assert payload["version"] == "cli1"
                info = Registry(models).get("cli1")
                assert info.broken is None
                Registry(models).verify("cli1")
            event(f"cli {command}: exit 0")
        else:
            assert proc.returncode == cli.EXIT_USER_ERROR, (proc.returncode, proc.stderr[-2000:])
            assert proc.stderr.startswith("error: ") and proc.stdout == "", proc.stderr[-2000:]
            _one_line(proc.stderr)
            if command == "train":
                assert Registry(models).names() == []
            event(f"cli {command}: exit 2: " + _kind(proc.stderr[7:]))


# ---------------------------------------------------------------- cases the fuzzing found


FOUND = {
    # an attribute cell of 1e309 (inf) made the feature scaling fail (SVD did not converge)
    "infinite attribute": b"item_code,process_code,duration_min,material\nA,P,1.5,\nA,Q,3,\nB,P,1.5,1e309\nC,P,2,\n",
    # no usable feature at all (no attribute, codes without tokens): the forest had 0 columns
    "no feature": b"item_code,process_code\n<script>alert(1)</script>,P\n<img src=x onerror=alert(1)>,P\n",
    # one item attribute and nothing else to learn its blanks from: the imputer had 0 columns
    "a single item attribute": b"item_code,process_code,material\nA,P,alu\nA,Q,alu\nB,P,steel\nC,P,alu\nD,Q,steel\n",
    # 1e308 is finite, but not as float32: features became inf (SVD, trees)
    "huge attribute": b"item_code,process_code,material\nA,P,\nA,Q,\nB,P,1e308\nC,P,2\n",
    # a text attribute with numbers, queried without it: pandas .str on an all-blank column
    "blank text-number attribute": (
        b"item_code,process_code,material\nA,P,0\nA,Q,\nB,P,<script>alert(1)</script>\nC,P,1\n"
    ),
}


@pytest.mark.parametrize("name", list(FOUND))
def test_cases_found_by_fuzzing_train_and_predict(name, tmp_path):
    dataset = load_dataset(FOUND[name], name=f"{name}.csv")
    DatasetStore(tmp_path / "data").save("found", dataset, user=ADMIN)
    for dry_run in (True, False):
        run_training(TrainRequest("found", version="v1", seed=0, top_k=2, dry_run=dry_run),
                     tmp_path / "models", tmp_path / "data", user=ADMIN)
    _check_version(Registry(tmp_path / "models"), "v1", dataset.ops[ITEM])


@pytest.mark.parametrize("cell", ["1e309", "inf", "-inf", "1e308"])
def test_infinite_or_absurd_durations_are_refused_with_the_line(cell):
    data = f"item_code,process_code,duration_min\nA,P,1.5\nA,Q,{cell}\nB,P,2\n".encode()
    with pytest.raises(UserError, match=r"duration_min' has 1 infinite or too large number\(s\).*line 3"):
        load_dataset(data, name="d.csv")
    hours = b"item_code,process_code,duration_h\nA,P,1.5\nB,P,1e300\n"  # finite, but not in minutes
    with pytest.raises(UserError, match="line 3"):
        load_dataset(hours, name="h.csv")
