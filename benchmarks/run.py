"""Performance benchmark against the budgets of docs/design.md, 'Budgets'.

Runs each measurement several times on generated sample data, at full size and 10× smaller, and writes
the medians to docs/benchmarks.md (between the perf markers; benchmarks/bombs.py its own rows) and .json.
    python benchmarks/run.py            # full run (several minutes)
    python benchmarks/run.py --quick    # small sizes, one repeat: checks the script works
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402

DOCS = ROOT / "docs"
MD = DOCS / "benchmarks.md"
JSON_OUT = DOCS / "benchmarks.json"
START, END = "<!-- perf:start -->", "<!-- perf:end -->"

BUDGETS = {
    "read_profile_sec": 5.0,
    "read_profile_ratio": 3.0,
    "train_sec": 60.0,
    "train_peak_gb": 3.0,
    "predict_one_p50_ms": 20.0,
    "batch_10k_sec": 10.0,
    "page_render_sec": 1.5,
    "codes_peak_gb": 2.5,
}


def peak_mb() -> float:
    """This process's own peak resident memory in MB (VmHWM). ru_maxrss would also count the
    parent's memory at the fork that started this child."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def child_read(path: str, repeat: int) -> dict:
    """Bare pyarrow read vs read + validate + profile, alternating, `repeat` times."""
    import pyarrow.csv as pacsv

    from routing_core.datasets import normalise, read_table
    from routing_core.datasets.stats import compute_stats

    bare, ours, ratios = [], [], []
    rows = 0
    for _ in range(repeat):
        t = time.perf_counter()
        pacsv.read_csv(path)
        b = time.perf_counter() - t
        t = time.perf_counter()
        ds = normalise(read_table(path))
        compute_stats(ds)
        o = time.perf_counter() - t
        rows = len(ds.ops)
        bare.append(b)
        ours.append(o)
        ratios.append(o / b)
    return {"rows": rows, "bare_sec": bare, "read_profile_sec": ours, "ratio": ratios}


def with_description(ops):
    """The sample with an item-master description written from its attributes, the way ERP item
    texts are ("SHAFT D40 L300 S45C HT THD IT7"), so training also reads a free-text column."""
    import pandas as pd

    def word(col, fn):  # the item's first filled value: the text is the item's, one per item
        values = ops.groupby("item_code", sort=False)[col].transform("first") if col in ops \
            else pd.Series(pd.NA, index=ops.index)
        return values.map(lambda v: "" if pd.isna(v) else fn(v))

    parts = [
        word("part_type", lambda v: str(v).upper()),
        word("outer_diameter_mm", lambda v: f"D{v:.0f}"),
        word("length_mm", lambda v: f"L{v:.0f}"),
        word("material", str),
        word("heat_treated", lambda v: "HT" if v == "Y" else ""),
        word("threaded", lambda v: "THD" if v == "Y" else ""),
        word("tolerance_class", str),
    ]
    text = parts[0]
    for part in parts[1:]:
        text = text.str.cat(part, sep=" ")
    return ops.assign(description=text.str.split().str.join(" "))


def plant_items(plant: str, n_items: int, seed: int):
    """Operations of n_items of a plant: the sample with an item-master description, or one of
    routing_core.synthetic.plants (read back through its mapping, as an upload would be)."""
    if plant == "sample":
        from routing_core.synthetic.sample import SampleConfig, generate

        return with_description(generate(SampleConfig(n_items=n_items, seed=seed)))
    from routing_core.datasets import load_dataset
    from routing_core.synthetic.plants import PLANTS

    ops, _, mapping = PLANTS[plant](n_items=n_items, seed=seed)
    return load_dataset(ops.to_csv(index=False).encode(), mapping=mapping, name=f"{plant}.csv").ops


def child_train(n_items: int, seed: int, n_single: int, batch: int, publish_to: str | None,
                plant: str = "sample") -> dict:
    """Train with holdout evaluation, then time single-item and batch predictions."""
    import numpy as np

    from routing_core.datasets import item_table
    from routing_core.mapping.schema import ITEM
    from routing_core.model import RoutingModel
    from routing_core.scoring.evaluation import evaluate_model, split_items

    ops = plant_items(plant, n_items, seed)
    t = time.perf_counter()
    train, test = split_items(ops, test_size=0.2, seed=42)
    model = RoutingModel()
    metrics = evaluate_model(model, train, test)
    train_sec = time.perf_counter() - t
    peak_gb = peak_mb() / 1024

    new_ops = plant_items(plant, max(batch, n_single), seed + 1000)
    items = item_table(new_ops, list(model.item_attributes_))
    for i in range(10):  # warm up
        model.predict(items.iloc[[i]], ignore_history=True)
    single = []
    for i in range(n_single):
        row = items.iloc[[i]]
        t = time.perf_counter()
        model.predict(row, ignore_history=True)
        single.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    out = model.predict_frame(items.iloc[:batch], ignore_history=True)
    batch_sec = time.perf_counter() - t
    assert out[ITEM].nunique() == min(batch, len(items))

    if publish_to:
        from routing_core.users.access import local_user
        from routing_core.versions.registry import Registry

        Registry(publish_to).publish(
            f"bench-{n_items}",
            model,
            metrics,
            dataset_info={"name": "bench", "sha256": "", "rows": len(ops), "items": n_items},
            params=model.get_params(),
            training_request={"benchmark": True},
            user=local_user(),
        )
    return {
        "items": n_items,
        "rows": int(len(ops)),
        "train_sec": train_sec,
        "peak_gb": peak_gb,
        "single_ms": single,
        "predict_one_p50_ms": float(np.percentile(single, 50)),
        "predict_one_p95_ms": float(np.percentile(single, 95)),
        "batch_items": batch,
        "batch_sec": batch_sec,
        "routing_accuracy": metrics.get("routing_accuracy"),
        "fit_sec": metrics.get("training_duration_sec"),
        "evaluation_sec": train_sec - (metrics.get("training_duration_sec") or 0.0),
    }


def child_codes(n_codes: int, n_items: int) -> dict:
    """Train (with holdout evaluation) on items whose steps are drawn from n_codes process codes."""
    import numpy as np
    import pandas as pd

    from routing_core.model import RoutingModel
    from routing_core.scoring.evaluation import evaluate_model, split_items

    rng = np.random.default_rng(0)
    lens = rng.integers(3, 8, n_items)
    item = np.repeat(np.arange(n_items), lens)
    # every code used at least once, the rest drawn with a long tail
    codes = np.concatenate([np.arange(n_codes), rng.zipf(1.3, len(item) - n_codes) % n_codes])[: len(item)]
    rng.shuffle(codes)
    ops = pd.DataFrame({"item_code": pd.Series(item).map("I{:06d}".format),
                        "process_code": pd.Series(codes).map("P{:06d}".format),
                        "seq": np.concatenate([np.arange(k) for k in lens]) + 1,
                        "duration_min": rng.lognormal(1, 0.5, len(item)),
                        "family": np.array(["A", "B", "C", "D"])[item % 4]})
    t = time.perf_counter()
    train, test = split_items(ops, test_size=0.2, seed=42)
    evaluate_model(RoutingModel(), train, test)
    return {"codes": int(ops["process_code"].nunique()), "items": n_items, "rows": int(len(ops)),
            "train_sec": time.perf_counter() - t,
            "peak_gb": peak_mb() / 1024}


def child_bomb(rows: int) -> dict:
    """Read a small Parquet file that expands to `rows` rows: refused, how fast, at what peak."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from routing_core.datasets import read_table
    from routing_core.platform.errors import UserError

    group = 1_000_000
    idx = pa.array(np.zeros(group, dtype=np.int32))
    table = pa.table({"item_code": pa.DictionaryArray.from_arrays(idx, pa.array(["ITEM-0001"])),
                      "process_code": pa.DictionaryArray.from_arrays(idx, pa.array(["SAW"])),
                      "seq": pa.array(np.ones(group, dtype=np.int32))})
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as writer:
        for _ in range(rows // group):
            writer.write_table(table, row_group_size=group)
    data = buf.getvalue()
    before = peak_mb()
    t = time.perf_counter()
    try:
        read_table(data, name="bomb.parquet")
        refused = ""
    except UserError as exc:
        refused = str(exc)
    return {"file_mb": len(data) / 1e6, "rows": rows, "sec": time.perf_counter() - t, "refused": refused,
            "peak_mb": peak_mb(), "peak_before_mb": before}


def child_pages(data_home: str, models_dir: str, dataset: str, repeat: int) -> dict:
    """Render every page with AppTest, the given dataset selected; warm medians."""
    os.environ["ROUTING_DATA_HOME"] = data_home
    os.environ["ROUTING_MODELS_DIR"] = models_dir
    os.chdir(ROOT)
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from ui.nav import PAGES

    # AppTest resets the pages state before every run; a running server has called
    # st.navigation already (see tests/app/conftest.py), so measure that steady state.
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    from ui.loaders import CURRENT_DATASET

    at.session_state[CURRENT_DATASET] = dataset
    at.run()
    results = {}
    for page in PAGES:
        at.switch_page(page.path)
        at.run()  # cold: fills the caches
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
        results[page.title] = {
            "times": times,
            "exception": bool(at.exception),
            # what the page showed, so a fast render of an empty page is noticed
            "metrics": {m.label: m.value for m in at.metric},
            "elements": sum(1 for _ in at.main),
        }
    return results


def run_child(kind: str, **kwargs) -> dict:
    """Run one measurement in a fresh interpreter, so peak memory is its own."""
    cmd = [sys.executable, __file__, "--child", kind, "--args", json.dumps(kwargs)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def exponent(small: float, large: float, ratio: float = 10.0) -> float:
    """Growth exponent k in cost ∝ size^k between two sizes `ratio` apart."""
    return math.log(large / small) / math.log(ratio) if small > 0 and large > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child")
    parser.add_argument("--args")
    args = parser.parse_args()
    if args.child:
        func = dict(read=child_read, train=child_train, pages=child_pages, codes=child_codes, bomb=child_bomb)[args.child]
        print(json.dumps(func(**json.loads(args.args))))
        return

    from benchmarks import bombs
    from routing_core.datasets import DatasetStore, load_dataset
    from routing_core.datasets.stats import compute_stats
    from routing_core.scoring.provenance import (
        stamp,  # the commit and the model code the figures come from
    )
    from routing_core.synthetic.sample import SampleConfig, generate, items_for_rows
    from routing_core.users.access import local_user

    quick = args.quick
    repeat = 1 if quick else args.repeat
    full_rows = 20_000 if quick else 1_000_000
    full_items = 2_000 if quick else 100_000
    work = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    results: dict = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), **stamp(), "quick": quick}
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }

    # read + validate + profile
    results["read"] = {}
    files = {}
    for rows in (full_rows // 10, full_rows):
        path = work / f"ops_{rows}.csv"
        generate(SampleConfig(n_items=items_for_rows(rows), seed=11)).to_csv(path, index=False)
        files[rows] = path
        print(f"read + profile, {rows:,} rows …", flush=True)
        results["read"][str(rows)] = run_child("read", path=str(path), repeat=repeat)

    # training + prediction
    results["train"] = {}
    models_dir = work / "models"
    models_dir.mkdir()
    train_repeat = 1 if quick else 3
    for n_items in (full_items // 10, full_items):
        runs = []
        for r in range(train_repeat):
            print(f"train + evaluate + predict, {n_items:,} items, run {r + 1} …", flush=True)
            runs.append(
                run_child(
                    "train",
                    n_items=n_items,
                    seed=7 + r,
                    n_single=50 if quick else 200,
                    batch=n_items // 10,
                    publish_to=str(models_dir) if r == 0 else None,
                )
            )
        results["train"][str(n_items)] = runs
    # the same at full size on an export whose facts are in a free-text description
    results["train_text"] = []
    for r in range(train_repeat):
        print(f"train + evaluate + predict, {full_items:,} items of the valves plant, run {r + 1} …", flush=True)
        results["train_text"].append(run_child("train", n_items=full_items, seed=4711 + r,
                                               n_single=50 if quick else 200, batch=full_items // 10,
                                               publish_to=None, plant="valves"))

    # the prior system's plant: 325,000 items (about 1.8 million rows), trained with evaluation
    results["train_big"] = []
    big_items = 20_000 if quick else 325_000
    for r in range(train_repeat):
        print(f"train + evaluate, {big_items:,} items, run {r + 1} …", flush=True)
        results["train_big"].append(run_child("train", n_items=big_items, seed=97 + r, n_single=20,
                                              batch=1_000, publish_to=None))

    # many distinct process codes (pooled beyond the model's limit), and a Parquet bomb
    results["codes"] = []
    for n_codes in ((1_000, 10_000) if quick else (10_000, 100_000)):
        print(f"train + evaluate with {n_codes:,} distinct process codes …", flush=True)
        results["codes"].append(run_child("codes", n_codes=n_codes, n_items=max(20_000, n_codes // 2)))
    print("Parquet bombs …", flush=True)
    results["bomb"] = run_child("bomb", rows=30_000_000)
    results["bombs"] = bombs.run(work, MD) if not quick else {}

    # pages, with the full-size and the 10x smaller dataset active
    results["pages"] = {}
    home = work / "data"
    store = DatasetStore(home)
    for rows, path in files.items():
        ds = load_dataset(path)
        store.save(f"rows-{rows}", ds, stats=compute_stats(ds), user=local_user())
    for rows in files:
        print(f"pages, {rows:,}-row dataset active …", flush=True)
        results["pages"][str(rows)] = run_child(
            "pages", data_home=str(home), models_dir=str(models_dir), dataset=f"rows-{rows}", repeat=repeat
        )

    summary = summarise(results, full_rows, full_items)
    results["summary"] = summary
    if not quick:
        DOCS.mkdir(exist_ok=True)
        JSON_OUT.write_text(json.dumps(results, indent=2))
        write_markdown(summary, results)
        print(f"wrote {MD.relative_to(ROOT)} and {JSON_OUT.relative_to(ROOT)}")
    print(json.dumps(summary, indent=2))


def summarise(results: dict, full_rows: int, full_items: int) -> dict:
    small_rows, small_items = full_rows // 10, full_items // 10

    def read(rows: int, key: str) -> float:
        return median(results["read"][str(rows)][key])

    def train(items: int, key: str) -> float:
        return median([r[key] for r in results["train"][str(items)]])

    def pages(rows: int) -> dict:
        return {title: median(v["times"]) for title, v in results["pages"][str(rows)].items()}

    s = {
        "read_profile_sec": {str(r): read(r, "read_profile_sec") for r in (small_rows, full_rows)},
        "bare_read_sec": {str(r): read(r, "bare_sec") for r in (small_rows, full_rows)},
        "read_profile_ratio": {str(r): read(r, "ratio") for r in (small_rows, full_rows)},
        "train_sec": {str(n): train(n, "train_sec") for n in (small_items, full_items)},
        "train_peak_gb": {str(n): train(n, "peak_gb") for n in (small_items, full_items)},
        "predict_one_p50_ms": {str(n): train(n, "predict_one_p50_ms") for n in (small_items, full_items)},
        "predict_one_p95_ms": {str(n): train(n, "predict_one_p95_ms") for n in (small_items, full_items)},
        "batch_sec": {
            str(results["train"][str(n)][0]["batch_items"]): train(n, "batch_sec") for n in (small_items, full_items)
        },
        "page_render_sec": {str(r): pages(r) for r in (small_rows, full_rows)},
        "codes": results["codes"],
        "bomb": results["bomb"],
        "text": {key: median([r[key] for r in results["train_text"]])
                 for key in ("train_sec", "peak_gb", "predict_one_p50_ms", "predict_one_p95_ms", "batch_sec",
                             "routing_accuracy")},
        "big": {key: median([r[key] for r in results["train_big"]])
                for key in ("items", "rows", "train_sec", "fit_sec", "evaluation_sec", "peak_gb", "routing_accuracy")},
        "page_exceptions": [
            f"{title} ({rows} rows)"
            for rows, per in results["pages"].items()
            for title, v in per.items()
            if v["exception"]
        ],
    }
    s["exponents"] = {
        "read_profile": exponent(s["read_profile_sec"][str(small_rows)], s["read_profile_sec"][str(full_rows)]),
        "training": exponent(s["train_sec"][str(small_items)], s["train_sec"][str(full_items)]),
        "batch_prediction": exponent(*s["batch_sec"].values()),
    }
    return s


def write_markdown(s: dict, results: dict) -> None:
    from routing_core.scoring.provenance import stamp_line
    full_rows = max(int(k) for k in s["read_profile_sec"])
    small_rows = min(int(k) for k in s["read_profile_sec"])
    full_items = max(int(k) for k in s["train_sec"])
    small_items = min(int(k) for k in s["train_sec"])
    batch_full = max(int(k) for k in s["batch_sec"])
    worst_page = max(s["page_render_sec"][str(full_rows)].items(), key=lambda kv: kv[1])

    def row(work: str, measured: str, budget: str, ok: bool) -> str:
        return f"| {work} | {measured} | {budget} | {'pass' if ok else '**FAIL**'} |"

    rp = s["read_profile_sec"][str(full_rows)]
    ratio = s["read_profile_ratio"][str(full_rows)]
    lines = [
        START,
        "## Performance budgets (docs/design.md, 'Budgets')",
        "",
        stamp_line(results),
        "",
        f"Measured {results['created_at']} on {results['machine']['cpus']} cores, Python "
        f"{results['machine']['python']}, by `make bench` (`python benchmarks/run.py`). Medians of "
        f"{len(results['read'][str(full_rows)]['ratio'])} runs for reading and pages, "
        f"{len(results['train'][str(full_items)])} for training; raw figures in `docs/benchmarks.json`.",
        "",
        "| work | measured (median) | budget | result |",
        "|---|---|---|---|",
        row(f"read + validate + profile, {full_rows:,} rows", f"{rp:.2f} s", "≤ 5 s", rp <= BUDGETS["read_profile_sec"]),
        row(
            "… against a bare `pyarrow.csv.read_csv` of the same file",
            f"{ratio:.2f}× ({s['bare_read_sec'][str(full_rows)]:.2f} s bare; runs "
            f"{min(results['read'][str(full_rows)]['ratio']):.2f}–{max(results['read'][str(full_rows)]['ratio']):.2f}×)",
            "≤ 3×",
            ratio <= BUDGETS["read_profile_ratio"],
        ),
        row(
            f"train incl. holdout evaluation, {full_items:,} items (sample with an item-master description)",
            f"{s['train_sec'][str(full_items)]:.1f} s",
            "≤ 60 s",
            s["train_sec"][str(full_items)] <= BUDGETS["train_sec"],
        ),
        row(
            f"peak memory training, {full_items:,} items",
            f"{s['train_peak_gb'][str(full_items)]:.2f} GB",
            "≤ 3 GB",
            s["train_peak_gb"][str(full_items)] <= BUDGETS["train_peak_gb"],
        ),
        row(
            "one item, in process, warm",
            f"p50 {s['predict_one_p50_ms'][str(full_items)]:.1f} ms, p95 {s['predict_one_p95_ms'][str(full_items)]:.1f} ms",
            "p50 ≤ 20 ms",
            s["predict_one_p50_ms"][str(full_items)] <= BUDGETS["predict_one_p50_ms"],
        ),
        row(
            f"batch prediction, {batch_full:,} items",
            f"{s['batch_sec'][str(batch_full)]:.2f} s",
            "≤ 10 s",
            s["batch_sec"][str(batch_full)] <= BUDGETS["batch_10k_sec"],
        ),
        row(
            f"train incl. holdout evaluation, {full_items:,} items whose facts are in free text (valves plant)",
            f"{s['text']['train_sec']:.1f} s",
            "≤ 60 s",
            s["text"]["train_sec"] <= BUDGETS["train_sec"],
        ),
        row(
            "… its peak memory",
            f"{s['text']['peak_gb']:.2f} GB",
            "≤ 3 GB",
            s["text"]["peak_gb"] <= BUDGETS["train_peak_gb"],
        ),
        row(
            "… one item, in process, warm",
            f"p50 {s['text']['predict_one_p50_ms']:.1f} ms, p95 {s['text']['predict_one_p95_ms']:.1f} ms",
            "p50 ≤ 20 ms",
            s["text"]["predict_one_p50_ms"] <= BUDGETS["predict_one_p50_ms"],
        ),
        row(
            f"… batch prediction, {batch_full:,} items",
            f"{s['text']['batch_sec']:.2f} s",
            "≤ 10 s",
            s["text"]["batch_sec"] <= BUDGETS["batch_10k_sec"],
        ),
        row(
            f"train incl. holdout evaluation, {int(s['big']['items']):,} items ({int(s['big']['rows']):,} rows, the "
            "prior system's plant)",
            f"{s['big']['train_sec']:.1f} s (fit {s['big']['fit_sec']:.1f} s, evaluation "
            f"{s['big']['evaluation_sec']:.1f} s), peak {s['big']['peak_gb']:.2f} GB",
            "≤ 60 s",
            s["big"]["train_sec"] <= BUDGETS["train_sec"],
        ),
        *(row(f"train incl. holdout evaluation, {c['items']:,} items with {c['codes']:,} distinct process codes",
              f"{c['train_sec']:.1f} s, peak {c['peak_gb']:.2f} GB", "≤ 60 s, ≤ 2.5 GB",
              c["train_sec"] <= BUDGETS["train_sec"] and c["peak_gb"] <= BUDGETS["codes_peak_gb"])
          for c in s["codes"]),
        row(f"a {s['bomb']['file_mb']:.1f} MB Parquet file of {s['bomb']['rows']:,} rows (a bomb), read",
            f"refused in {s['bomb']['sec']:.3f} s, process peak {s['bomb']['peak_mb']:.0f} MB "
            f"({s['bomb']['peak_before_mb']:.0f} MB before reading)",
            "refused, ≤ 2 s, ≤ 500 MB",
            bool(s["bomb"]["refused"]) and s["bomb"]["sec"] <= 2 and s["bomb"]["peak_mb"] <= 500),
        row(
            f"slowest dashboard page, {full_rows:,}-row dataset active, warm",
            f"{worst_page[1]:.2f} s ({worst_page[0]})",
            "≤ 1.5 s",
            worst_page[1] <= BUDGETS["page_render_sec"] and not s["page_exceptions"],
        ),
        "",
        "### Growth with size (10× smaller → full)",
        "",
        "| work | 10× smaller | full | exponent k (cost ∝ size^k) |",
        "|---|---|---|---|",
        f"| read + validate + profile | {s['read_profile_sec'][str(small_rows)]:.3f} s ({small_rows:,} rows) | "
        f"{rp:.3f} s ({full_rows:,} rows) | {s['exponents']['read_profile']:.2f} |",
        f"| train incl. evaluation | {s['train_sec'][str(small_items)]:.2f} s ({small_items:,} items) | "
        f"{s['train_sec'][str(full_items)]:.2f} s ({full_items:,} items) | {s['exponents']['training']:.2f} |",
        f"| batch prediction | {min(s['batch_sec'].values()):.3f} s ({min(int(k) for k in s['batch_sec']):,} items) | "
        f"{s['batch_sec'][str(batch_full)]:.3f} s ({batch_full:,} items) | {s['exponents']['batch_prediction']:.2f} |",
        f"| one item p50 | {s['predict_one_p50_ms'][str(small_items)]:.1f} ms (model of {small_items:,}) | "
        f"{s['predict_one_p50_ms'][str(full_items)]:.1f} ms (model of {full_items:,}) | — |",
        f"| peak memory training | {s['train_peak_gb'][str(small_items)]:.2f} GB | "
        f"{s['train_peak_gb'][str(full_items)]:.2f} GB | — |",
        "",
        "### Page render times (warm, AppTest, seconds)",
        "",
        f"| page | {small_rows:,}-row dataset | {full_rows:,}-row dataset |",
        "|---|---|---|",
    ]
    for title in s["page_render_sec"][str(full_rows)]:
        lines.append(
            f"| {title} | {s['page_render_sec'][str(small_rows)][title]:.3f} | "
            f"{s['page_render_sec'][str(full_rows)][title]:.3f} |"
        )
    if s["page_exceptions"]:
        lines += ["", f"Pages that raised: {', '.join(s['page_exceptions'])}."]
    lines.append(END)
    write_section(MD, START, END, "\n".join(lines))


if __name__ == "__main__":
    main()
