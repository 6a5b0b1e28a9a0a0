"""Cluster benchmark: the same work on a Dask cluster of 1 worker and of 2 workers (one thread each,
started here on 127.0.0.1), and the ratio.

- a batch prediction of 200,000 items (routing_core.engine.batch.predict_frame);
- four trainings of 20,000 items submitted at once (time until all four are done).

Writes docs/benchmarks-cluster.json and the section between the cluster markers of
docs/benchmarks.md.

    python benchmarks/cluster.py            # full sizes
    python benchmarks/cluster.py --quick    # small sizes: checks the script works
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
JSON_OUT = DOCS / "benchmarks-cluster.json"
START, END = "<!-- cluster:start -->", "<!-- cluster:end -->"
WORKER_MEMORY = "3GB"


def build(folder: Path, train_items: int, predict_items: int, jobs: int, model_items: int):
    from routing_core.datasets import DatasetStore, load_dataset, read_items
    from routing_core.engine.train_request import TrainRequest
    from routing_core.engine.training import run_training
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
    from routing_core.users.access import local_user
    from routing_core.versions.registry import Registry

    home, models = folder / "data", folder / "models"
    store = DatasetStore(home)
    for i in range(jobs):
        store.save(f"d{i}", load_dataset(sample_csv_bytes(SampleConfig(n_items=train_items, seed=100 + i)),
                                         name=f"d{i}.csv"), user=local_user())
    store.save("m", load_dataset(sample_csv_bytes(SampleConfig(n_items=model_items, seed=99)), name="m.csv"), user=local_user())
    run_training(TrainRequest("m", version="model"), models, home, user=local_user())
    items = read_items(sample_csv_bytes(SampleConfig(n_items=predict_items, seed=7)), name="items.csv")
    return home, models, Registry(models).load_model("model"), items


def trainings(address: str, home: Path, models: Path, jobs: int, tag: str) -> float:
    from routing_core.engine import Jobs
    from routing_core.engine.jobs import FINAL_STATES
    from routing_core.engine.train_request import TrainRequest
    from routing_core.users.access import local_user

    os.environ["ROUTING_SCHEDULER"] = address
    manager = Jobs(models, home)
    started = time.perf_counter()
    ids = [manager.submit(TrainRequest(f"d{i}", version=f"{tag}-{i}"), user=local_user()) for i in range(jobs)]
    while True:
        records = [manager.get(j) for j in ids]
        if all(r["state"] in FINAL_STATES for r in records):
            break
        time.sleep(0.2)
    took = time.perf_counter() - started
    bad = [r for r in records if r["state"] != "completed"]
    if bad:
        raise SystemExit(f"a training did not complete: {bad[0].get('error')}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes; writes nothing")
    parser.add_argument("--predict-items", type=int, default=200_000)
    parser.add_argument("--train-items", type=int, default=20_000)
    parser.add_argument("--model-items", type=int, default=2_000, help="items the predicting model learned")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    args = parser.parse_args()
    repeat = 1 if args.quick else max(1, args.repeat)
    predict_items, train_items, jobs = (4_000, 300, 4) if args.quick else (args.predict_items, args.train_items, 4)
    model_items = 300 if args.quick else args.model_items
    from routing_core.engine.batch import predict_frame
    from routing_core.scoring.provenance import stamp
    from tests.cluster import running_cluster

    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **stamp(), "cpus": os.cpu_count(),
                     "machine": platform.machine(), "quick": args.quick, "predict_items": predict_items,
                     "train_items": train_items, "trainings": jobs, "loadavg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        home, models, model, items = build(folder, train_items, predict_items, jobs, model_items)
        results["setup_sec"] = round(time.perf_counter() - t, 1)
        results["model_items"] = model_items
        first = None
        for n in (1, 2):
            names = {f"w{i}": WORKER_MEMORY for i in range(1, n + 1)}
            t = time.perf_counter()
            with running_cluster(folder / f"cluster{n}", limits=names) as cluster:
                results[f"cluster_start_{n}_sec"] = round(time.perf_counter() - t, 1)
                predict_frame(model, items.iloc[:2_000], address=cluster.address)  # workers import once
                runs, same = [], True
                for _ in range(repeat):
                    t = time.perf_counter()
                    remote = predict_frame(model, items, address=cluster.address)
                    runs.append(round(time.perf_counter() - t, 2))
                    first = remote if first is None else first
                    same = same and bool(remote.equals(first))
                    del remote
                results[f"predict_{n}_workers_runs"] = runs
                results[f"predict_{n}_workers_sec"] = statistics.median(runs)
                results[f"predict_{n}_workers_equal_to_1"] = same
                runs = [round(trainings(cluster.address, home, models, jobs, f"n{n}r{r}"), 1) for r in range(repeat)]
                results[f"train_{n}_workers_runs"] = runs
                results[f"train_{n}_workers_sec"] = statistics.median(runs)
            print(json.dumps(results), flush=True)
    results["predict_ratio"] = round(results["predict_1_workers_sec"] / results["predict_2_workers_sec"], 2)
    results["train_ratio"] = round(results["train_1_workers_sec"] / results["train_2_workers_sec"], 2)
    results["loadavg_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    if not args.quick:
        JSON_OUT.write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)


def write_markdown(r: dict) -> None:
    text = "\n".join([
        START,
        f"Measured {r['when']} at commit {r.get('commit', '?')} on {r['cpus']} CPUs ({r['machine']}); load average "
        f"{r['loadavg_start']:.1f} at the start and {r['loadavg_end']:.1f} at the end; medians of "
        f"{len(r.get('predict_1_workers_runs', [0]))} runs each (`python benchmarks/cluster.py`).",
        "",
        "| work | 1 worker | 2 workers | ratio |",
        "|---|---|---|---|",
        f"| batch prediction of {r['predict_items']:,} items | {r['predict_1_workers_sec']} s | "
        f"{r['predict_2_workers_sec']} s | {r['predict_ratio']}× |",
        f"| {r['trainings']} trainings of {r['train_items']:,} items submitted at once | {r['train_1_workers_sec']} s | "
        f"{r['train_2_workers_sec']} s | {r['train_ratio']}× |",
        "",
        f"The model predicting learned {r['model_items']:,} items. The 2-worker result equals the 1-worker one row "
        f"for row: {r['predict_2_workers_equal_to_1']} (equality with an in-process prediction is tested in "
        f"tests/reliability/test_cluster.py). Starting a scheduler and "
        f"its workers took {r['cluster_start_1_sec']} s (1 worker) and {r['cluster_start_2_sec']} s (2 workers).",
        *([] if r["loadavg_start"] <= r["cpus"] else [
            "",
            "The load was above the number of CPUs: two worker processes then get a larger share of the "
            "machine than one, so these ratios overstate what a second worker gives on a quiet machine."]),
        *([] if (r["predict_items"], r["train_items"]) == (200_000, 20_000) else [
            "",
            "Smaller than the standard sizes (200,000 items to predict, trainings of 20,000): "
            "`python benchmarks/cluster.py` runs those."]),
        END,
    ])
    write_section(MD, START, END, text, "On a Dask cluster (`benchmarks/cluster.py`)")


if __name__ == "__main__":
    main()
