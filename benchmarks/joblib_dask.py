"""Whether the model's parallel parts pay off spread over Dask workers: the same training with
joblib's default backend (the forest's trees on this process's threads) and inside
`joblib.parallel_config(backend="dask")` with a client of a 2-worker cluster (one thread each,
started here on 127.0.0.1), which sends each tree to a worker.

Medians of `--repeat` trainings of `--items` items each; the two must give the same metrics.
Writes docs/benchmarks-joblib-dask.json and the section between the joblib-dask markers of
docs/benchmarks.md.

    python benchmarks/joblib_dask.py            # 5,000 items, 3 repeats
    python benchmarks/joblib_dask.py --quick    # 300 items, 1 repeat; writes nothing
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
JSON_OUT = DOCS / "benchmarks-joblib-dask.json"
START, END = "<!-- joblib-dask:start -->", "<!-- joblib-dask:end -->"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items, repeat = (300, 1) if args.quick else (args.items, args.repeat)

    import joblib
    from distributed import Client

    from routing_core.datasets import DatasetStore, load_dataset
    from routing_core.engine.train_request import TrainRequest
    from routing_core.engine.training import run_training
    from routing_core.scoring.provenance import stamp
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
    from routing_core.users.access import local_user
    from tests.cluster import running_cluster

    user = local_user()
    times: dict[str, list[float]] = {"threads": [], "dask": []}
    metrics: dict[str, dict] = {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "data"
        DatasetStore(home).save("d", load_dataset(sample_csv_bytes(SampleConfig(n_items=items, seed=3)),
                                                  name="d.csv"), user=user)
        with running_cluster(folder / "cluster", limits={"w1": "6GB", "w2": "6GB"}) as cluster, \
                Client(cluster.address, set_as_default=False) as client:
            client.run(lambda: __import__("routing_core.model"))  # the workers import once, not in the timing
            for i in range(repeat):
                for kind in (("threads", "dask") if i % 2 == 0 else ("dask", "threads")):
                    t = time.perf_counter()
                    if kind == "dask":
                        with client.as_current(), joblib.parallel_config(backend="dask"):
                            result = run_training(TrainRequest("d", version=f"{kind}-{i}"), folder / "models", home,
                                                  user=user)
                    else:
                        result = run_training(TrainRequest("d", version=f"{kind}-{i}"), folder / "models", home,
                                              user=user)
                    times[kind].append(time.perf_counter() - t)
                    metrics[kind] = {k: v for k, v in result["metrics"].items() if isinstance(v, float)}
                    print(kind, round(times[kind][-1], 2), flush=True)
    same = metrics["threads"] == metrics["dask"]
    results = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **stamp(), "cpus": os.cpu_count(),
               "machine": platform.machine(), "items": items, "repeat": repeat,
               "threads_sec": round(statistics.median(times["threads"]), 2),
               "dask_sec": round(statistics.median(times["dask"]), 2), "times": times, "same_metrics": same,
               "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0]}
    results["ratio"] = round(results["threads_sec"] / results["dask_sec"], 2)
    print(json.dumps({k: results[k] for k in ("threads_sec", "dask_sec", "ratio", "same_metrics")}))
    if not args.quick:
        JSON_OUT.write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)


def write_markdown(r: dict) -> None:
    text = "\n".join([
        START,
        f"Measured {r['when']} at commit {r.get('commit', '?')} on {r['cpus']} CPUs; load average "
        f"{r['loadavg_start']:.1f} at the start and {r['loadavg_end']:.1f} at the end; medians of {r['repeat']} "
        f"trainings of {r['items']:,} items (`python benchmarks/joblib_dask.py`).",
        "",
        "| the forest's trees on | training |",
        "|---|---|",
        f"| this process's threads (joblib's default) | {r['threads_sec']} s |",
        f"| a 2-worker Dask cluster (`joblib.parallel_config(backend=\"dask\")`) | {r['dask_sec']} s |",
        "",
        f"Speed-up of the Dask backend: {r['ratio']}×; the metrics are "
        f"{'the same' if r['same_metrics'] else 'NOT the same'} both ways.",
        END,
    ])
    write_section(MD, START, END, text, "The model's trees on Dask workers (joblib's dask backend)")


if __name__ == "__main__":
    main()
