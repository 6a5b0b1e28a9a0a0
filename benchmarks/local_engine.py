"""The embedded default, measured two ways: today's detached worker (routing_core.engine.worker, started by
the first job of a models folder, gone when the queue is empty) against a local Dask cluster of
one worker (a `dask scheduler` and a `dask worker`, started as the embedded path would have to:
detached, so a training outlives the Streamlit server).

For each, `--repeat` times (medians reported):
- from nothing running to a finished training of `--items` items (the first training of a
  morning: the cluster's start counted, as the worker's start is);
- a second training submitted once the first has ended (the cluster already running);
- memory the engine holds while no job runs (resident set of its processes, /proc).

Writes docs/benchmarks-local-engine.json and the section between the local-engine markers of
docs/benchmarks.md.

    python benchmarks/local_engine.py             # 2,000 items, 3 repeats
    python benchmarks/local_engine.py --quick     # 300 items, 1 repeat; writes nothing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
JSON_OUT = DOCS / "benchmarks-local-engine.json"
START, END = "<!-- local-engine:start -->", "<!-- local-engine:end -->"


def resident_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return round(total / 1024, 1)


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a nanny's worker)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def train(manager, version: str) -> float:
    from routing_core.engine.jobs import FINAL_STATES
    from routing_core.engine.train_request import TrainRequest
    from routing_core.users.access import local_user

    t = time.perf_counter()
    job = manager.submit(TrainRequest("d", version=version), user=local_user())
    while (record := manager.get(job))["state"] not in FINAL_STATES:
        time.sleep(0.05)
    if record["state"] != "completed":
        raise SystemExit(f"the training did not complete: {record.get('error')}")
    return time.perf_counter() - t


def worker_run(folder: Path, home: Path) -> dict:
    from routing_core.engine.jobs import JobManager

    os.environ.pop("ROUTING_SCHEDULER", None)
    models = folder / "models-worker"
    manager = JobManager(models, home)
    first = train(manager, "a")
    second = train(manager, "b")
    time.sleep(2.0)  # the worker leaves once the queue is empty
    alive = [p for p in descendants(os.getpid()) if p != os.getpid()]
    return {"first": first, "second": second, "idle_mb": resident_mb(alive)}


def cluster_run(folder: Path, home: Path) -> dict:
    from routing_core.engine import Jobs
    from tests.cluster import running_cluster

    t = time.perf_counter()
    with running_cluster(folder / "cluster", limits={"local": "6GB"}) as cluster:
        started = time.perf_counter() - t
        os.environ["ROUTING_SCHEDULER"] = cluster.address
        manager = Jobs(folder / "models-cluster", home)
        first = started + train(manager, "a")
        second = train(manager, "b")
        time.sleep(2.0)
        idle = resident_mb([p for proc in cluster.processes for p in descendants(proc.pid)])
    os.environ.pop("ROUTING_SCHEDULER", None)
    return {"first": first, "second": second, "idle_mb": idle, "start": started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items, repeat = (300, 1) if args.quick else (args.items, args.repeat)

    from routing_core.datasets import DatasetStore, load_dataset
    from routing_core.scoring.provenance import stamp
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
    from routing_core.users.access import local_user

    runs: dict[str, list[dict]] = {"worker": [], "cluster": []}
    load_start = os.getloadavg()[0]
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            home = folder / "data"
            DatasetStore(home).save("d", load_dataset(sample_csv_bytes(SampleConfig(n_items=items, seed=3)),
                                                      name="d.csv"), user=local_user())
            for kind in (("worker", "cluster") if i % 2 == 0 else ("cluster", "worker")):
                runs[kind].append((worker_run if kind == "worker" else cluster_run)(folder, home))
                print(kind, json.dumps(runs[kind][-1]), flush=True)
    median = {kind: {key: round(statistics.median(r[key] for r in rs), 2) for key in rs[0]}
              for kind, rs in runs.items()}
    results = {"when": datetime.now(UTC).isoformat(timespec="seconds"), **stamp(), "cpus": os.cpu_count(),
               "machine": platform.machine(), "items": items, "repeat": repeat, "median": median, "runs": runs,
               "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0]}
    print(json.dumps(results["median"], indent=2))
    if not args.quick:
        JSON_OUT.write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)


def write_markdown(r: dict) -> None:
    w, c = r["median"]["worker"], r["median"]["cluster"]
    text = "\n".join([
        START,
        f"Measured {r['when']} at commit {r.get('commit', '?')} on {r['cpus']} CPUs; load average "
        f"{r['loadavg_start']:.1f} at the start and {r['loadavg_end']:.1f} at the end; medians of {r['repeat']} "
        f"runs, each a training of {r['items']:,} items (`python benchmarks/local_engine.py`).",
        "",
        "| embedded default | nothing running → first training done | second training, engine running | "
        "memory held with no job |",
        "|---|---|---|---|",
        f"| detached worker (today) | {w['first']} s | {w['second']} s | {w['idle_mb']} MB |",
        f"| local Dask cluster, 1 worker (of which starting it: {c['start']} s) | {c['first']} s | {c['second']} s | "
        f"{c['idle_mb']} MB |",
        END,
    ])
    write_section(MD, START, END, text, "The embedded job engine: worker or local cluster")


if __name__ == "__main__":
    main()
