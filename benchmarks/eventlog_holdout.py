"""Held-out cases of an event log, predicted through the command line.

    .venv/bin/python benchmarks/eventlog_holdout.py LOG.csv [--work DIR] [--test-share 0.2] [--seed 42]

The log's cases are split (seeded); the training cases' rows, exactly as in the log, are written
to DIR/train.csv and trained on with `python -m routing_core train` (no --map); the held-out
cases go to DIR/cases.csv with the log's columns, one row per case (its first row in the file),
and are predicted with `python -m routing_core predict`. The recorded routing of a held-out
case is the log's reading of its rows. Printed as JSON: the mean sequence similarity and exact
share of the first candidate against the recorded routings, the same for the most frequent
routing of the training cases, and the step times of the first candidates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing_core.datasets import read_table  # noqa: E402
from routing_core.datasets.eventlog import detect_event_log, read_event_log  # noqa: E402
from routing_core.model.similarity import sequence_similarity  # noqa: E402


def _cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "routing_core", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"routing_core {args[0]} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--work", default="/tmp/eventlog_holdout")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    raw = read_table(args.log)
    cols = detect_event_log(raw.frame)
    if cols is None:
        raise SystemExit(f"{args.log} is not recognised as an event log.")
    frame = pd.read_csv(args.log, dtype=str, keep_default_na=False)  # written back as read
    cases = pd.unique(frame[cols.case])
    rng = np.random.default_rng(args.seed)
    n_test = int(round(args.test_share * len(cases)))
    test = set(cases[rng.permutation(len(cases))[:n_test]].tolist())
    held = frame[cols.case].isin(test)
    frame[~held].to_csv(work / "train.csv", index=False)
    frame[held].groupby(cols.case, sort=False).head(1).to_csv(work / "cases.csv", index=False)

    models, data = str(work / "models"), str(work / "data")
    trained = _cli("--models-dir", models, "--data-home", data, "train", str(work / "train.csv"),
                   "--seed", str(args.seed))
    _cli("--models-dir", models, "--data-home", data, "predict", str(work / "cases.csv"),
         "--version", trained["version"], "--out", str(work / "predicted.csv"))

    truth_steps, _ = read_event_log(raw.frame[held.to_numpy()], cols)
    truth = {str(c): list(g[cols.activity]) for c, g in truth_steps.groupby(cols.case, sort=False)}
    train_steps, _ = read_event_log(raw.frame[~held.to_numpy()], cols)
    train_routings = [tuple(g[cols.activity]) for _, g in train_steps.groupby(cols.case, sort=False)]
    most_frequent = list(Counter(train_routings).most_common(1)[0][0])

    predicted = pd.read_csv(work / "predicted.csv", dtype={"item_code": str}, encoding="utf-8-sig")
    first = predicted[predicted["rank"] == 1].sort_values(["item_code", "seq"])
    first_routing = {c: list(g["process_code"]) for c, g in first.groupby("item_code", sort=False)}
    first_time = first.groupby("item_code")["duration_min"]
    true_time = truth_steps.groupby(cols.case)["duration_min"].sum(min_count=1)
    model_sim = [sequence_similarity(first_routing.get(c, []), t) for c, t in truth.items()]
    freq_sim = [sequence_similarity(most_frequent, t) for t in truth.values()]
    totals = first_time.sum(min_count=1).reindex(list(truth))
    error = (totals - true_time.reindex(list(truth))).abs()
    print(json.dumps({
        "log": args.log,
        "cases": len(cases), "train_cases": len(cases) - len(test), "held_out_cases": len(test),
        "version": trained["version"], "version_metrics": trained.get("metrics", {}),
        "held_out_predicted": len(first_routing),
        "first_candidate": {
            "sequence_similarity": round(float(np.mean(model_sim)), 4),
            "exact_routing": round(float(np.mean([first_routing.get(c) == t for c, t in truth.items()])), 4),
            "steps_with_a_time": round(float(first["duration_min"].notna().mean()), 4),
            "total_time_mae_min": round(float(error.mean()), 1),
            "total_time_median_abs_error_min": round(float(error.median()), 1),
        },
        "most_frequent_routing": {
            "routing": most_frequent,
            "sequence_similarity": round(float(np.mean(freq_sim)), 4),
            "exact_routing": round(float(np.mean([most_frequent == t for t in truth.values()])), 4),
        },
        "median_true_total_time_min": round(float(true_time.reindex(list(truth)).median()), 1),
        # the training cases' median total time as the guess for every held-out case
        "median_training_total_as_guess_mae_min": round(float(
            (true_time.reindex(list(truth)) - train_steps.groupby(cols.case)["duration_min"].sum().median())
            .abs().mean()), 1),
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
