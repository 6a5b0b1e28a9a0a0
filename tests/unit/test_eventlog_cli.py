"""An event log through the command line: trained with no --map, its held-out cases (one row per
case, no activity) predicted with the case column the version learned."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore
from tests.unit.test_cli import cli

# Steps of each part (activity, minutes of each report): SAW always reported twice (10 + 5).
ROUTES = {
    "Shaft": [("SAW", [10, 5]), ("LATHE", [30]), ("INSPECT", [6])],
    "Gear": [("SAW", [10, 5]), ("HOB", [45]), ("DEBURR", [8]), ("INSPECT", [6])],
}
HEADER = ["Case ID", "Start Timestamp", "Complete Timestamp", "Activity", "Part Desc.", "Worker"]


def _log(cases: list[tuple[str, str]]) -> pd.DataFrame:
    rows, t0 = [], datetime(2024, 5, 6, 6, 0)
    for n, (case, part) in enumerate(cases):
        t = t0 + timedelta(minutes=7 * n)  # cases overlap in time
        for activity, reports in ROUTES[part]:
            for minutes in reports:
                rows.append((case, t.strftime("%Y/%m/%d %H:%M:%S"),
                             (t + timedelta(minutes=minutes)).strftime("%Y/%m/%d %H:%M:%S"),
                             activity, part, f"ID{n % 3}"))
                t += timedelta(minutes=minutes + 2)
    frame = pd.DataFrame(rows, columns=HEADER)
    return frame.sort_values("Start Timestamp", kind="stable")  # interleaved, as a log is written


def test_event_log_trains_without_map_and_predicts_held_out_cases(tmp_path):
    parts = ["Shaft", "Gear"] * 12
    train = _log([(f"Case {i + 1}", p) for i, p in enumerate(parts)])
    train.to_csv(tmp_path / "log.csv", index=False)
    models, home = tmp_path / "models", tmp_path / "data"
    proc = cli("train", tmp_path / "log.csv", "--version", "v1", models=models, home=home)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    # 12 shafts of 3 steps and 12 gears of 4: 84 steps, though the log has 108 report rows
    assert len(train) == 108 and summary["items"] == 24 and summary["rows"] == 84
    record = DatasetStore(home).list()[0]
    assert record.mapping["Case ID"] == "item_code" and record.mapping["Activity"] == "process_code"
    assert "Part Desc." in record.item_attributes
    assert record.warnings[0].startswith("Read as an event log")

    held = _log([("Case 900", "Gear"), ("Case 901", "Shaft")]).groupby("Case ID").head(1)
    held.drop(columns=["Activity"]).to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "pred.csv"
    proc = cli("predict", tmp_path / "cases.csv", "--version", "v1", "--out", out, models=models)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(out, encoding="utf-8-sig")
    first = frame[frame["rank"] == 1]
    assert first.groupby("item_code")["process_code"].agg(list).to_dict() == {
        "Case 900": ["SAW", "HOB", "DEBURR", "INSPECT"], "Case 901": ["SAW", "LATHE", "INSPECT"]}
    # step times from the timestamps: SAW's two reports summed
    saw = first.loc[first["process_code"] == "SAW", "duration_min"]
    assert saw.tolist() == pytest.approx([15.0, 15.0], abs=0.5)
    assert not {"Start Timestamp", "Complete Timestamp"} & set(frame.columns)
