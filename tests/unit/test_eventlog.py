"""Event logs read as routings: logs generated here in several shapes, the steps and times
worked out by hand from the rows written."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from routing_core.datasets import load_dataset, read_items
from routing_core.datasets.eventlog import detect_event_log, parse_times
from routing_core.mapping.mapping_memory import for_version

# Case W1: SAW reported twice in a row (30 + 20 min), LATHE (60), SAW again (5), INSPECT (15).
# Case W2: LATHE (45), INSPECT (6). Part is an attribute of the case, Machine of the report.
ROWS = [
    ("W1", "SAW", "2024-03-01 08:00", "2024-03-01 08:30", "Shaft", "M1", 10),
    ("W1", "SAW", "2024-03-01 08:40", "2024-03-01 09:00", "Shaft", "M2", 10),
    ("W1", "LATHE", "2024-03-01 09:10", "2024-03-01 10:10", "Shaft", "M3", 10),
    ("W1", "SAW", "2024-03-01 10:20", "2024-03-01 10:25", "Shaft", "M1", 10),
    ("W1", "INSPECT", "2024-03-01 11:00", "2024-03-01 11:15", "Shaft", "Q1", 10),
    ("W2", "LATHE", "2024-03-01 08:05", "2024-03-01 08:50", "Gear", "M3", 4),
    ("W2", "INSPECT", "2024-03-01 09:00", "2024-03-01 09:06", "Gear", "Q1", 4),
]
HEADER = ["Work Order", "Activity", "Start Time", "End Time", "Part", "Machine", "Qty"]


def _write(tmp_path, rows, header, name="log.csv", order=None) -> str:
    frame = pd.DataFrame(rows, columns=header)
    if order is not None:
        frame = frame.iloc[order]
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _routings(dataset) -> dict[str, list[tuple[str, float]]]:
    ops = dataset.ops
    return {item: list(zip(g["process_code"], g["duration_min"], strict=True))
            for item, g in ops.groupby("item_code", sort=True)}


def _same(actual, expected) -> None:
    assert actual.keys() == expected.keys()
    for item, steps in expected.items():
        assert [p for p, _ in actual[item]] == [p for p, _ in steps], item
        for (_, got), (_, want) in zip(actual[item], steps, strict=True):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want), item


EXPECTED = {"W1": [("SAW", 50.0), ("LATHE", 60.0), ("SAW", 5.0), ("INSPECT", 15.0)],
            "W2": [("LATHE", 45.0), ("INSPECT", 6.0)]}


def test_start_and_complete_with_repeated_reports(tmp_path):
    dataset = load_dataset(_write(tmp_path, ROWS, HEADER))
    _same(_routings(dataset), EXPECTED)
    assert dataset.mapping["Work Order"] == "item_code" and dataset.mapping["Activity"] == "process_code"
    assert "Part" in dataset.item_attributes and "Qty" in dataset.item_attributes
    assert "Machine" in dataset.operation_attributes
    assert "Start Time" not in dataset.ops.columns and "End Time" not in dataset.ops.columns
    # the second SAW report merged into the first step: its machine is the first report's
    assert dataset.ops.loc[dataset.ops["item_code"] == "W1", "Machine"].tolist() == ["M1", "M3", "M1", "Q1"]
    assert dataset.warnings[0].startswith("Read as an event log: case 'Work Order', activity 'Activity'")
    assert "7 rows became 6 steps of 2 cases (1 repeated report(s) of a step merged)" in dataset.warnings[0]
    assert dataset.source["event_log"]["timing"] == "complete - start"


def test_interleaved_and_unsorted_rows_give_the_same_routings(tmp_path):
    # cases interleaved, rows shuffled: the order comes from the start times
    path = _write(tmp_path, ROWS, HEADER, order=[6, 3, 0, 5, 4, 2, 1])
    _same(_routings(load_dataset(path)), EXPECTED)


def test_start_only_times_run_to_the_next_start(tmp_path):
    rows = [(c, a, s, p, m, q) for c, a, s, _, p, m, q in ROWS]
    path = _write(tmp_path, rows, ["Case ID", "Task", "Timestamp", "Part", "Machine", "Qty"], order=[4, 0, 6, 2, 5, 1, 3])
    dataset = load_dataset(path)
    # W1 starts: SAW 08:00 (08:40 merged), LATHE 09:10, SAW 10:20, INSPECT 11:00; W2: 08:05, 09:00
    _same(_routings(dataset), {"W1": [("SAW", 70.0), ("LATHE", 70.0), ("SAW", 40.0), ("INSPECT", math.nan)],
                               "W2": [("LATHE", 55.0), ("INSPECT", math.nan)]})
    assert dataset.source["event_log"]["timing"] == "consecutive starts"
    assert "Step times run from a step's start to the next step's start" in dataset.warnings[0]


def test_lifecycle_rows_folded(tmp_path):
    rows = [
        ("W2", "LATHE", "complete", "2024-03-01T08:20:00", "Gear"),
        ("W1", "SAW", "schedule", "2024-03-01T07:50:00", "Shaft"),
        ("W1", "SAW", "start", "2024-03-01T08:00:00", "Shaft"),
        ("W1", "SAW", "complete", "2024-03-01T08:30:00", "Shaft"),
        ("W1", "LATHE", "start", "2024-03-01T09:00:00", "Shaft"),
        ("W2", "LATHE", "start", "2024-03-01T08:00:00", "Gear"),
        ("W1", "LATHE", "complete", "2024-03-01T09:45:00", "Shaft"),
        ("W1", "SAW", "start", "2024-03-01T10:00:00", "Shaft"),
        ("W1", "SAW", "complete", "2024-03-01T10:12:00", "Shaft"),
    ]
    header = ["case:concept:name", "concept:name", "lifecycle:transition", "time:timestamp", "case:part"]
    dataset = load_dataset(_write(tmp_path, rows, header))
    _same(_routings(dataset), {"W1": [("SAW", 30.0), ("LATHE", 45.0), ("SAW", 12.0)], "W2": [("LATHE", 20.0)]})
    reading = dataset.source["event_log"]
    assert reading["lifecycle"] == "lifecycle:transition"
    assert reading["lifecycle_rows_folded"] == 5  # 9 rows, 4 reports (the schedule row dropped)
    assert "lifecycle:transition" not in dataset.ops.columns


def test_a_timestamp_named_like_a_duration_is_a_timestamp(tmp_path):
    rows = [(c, a, s, p) for c, a, s, _, p, _, _ in ROWS]
    dataset = load_dataset(_write(tmp_path, rows, ["Case", "Activity", "Time", "Part"]))
    assert dataset.source["event_log"]["start"] == "Time"
    assert dataset.ops.loc[dataset.ops["item_code"] == "W2", "duration_min"].iloc[0] == 55.0  # 08:05 to 09:00


def test_names_in_another_language_and_day_first_dates(tmp_path):
    rows = [
        ("A-1", "Sägen", "13.02.2024 08:00", "13.02.2024 08:25"),
        ("A-1", "Drehen", "13.02.2024 09:00", "13.02.2024 10:30"),
        ("A-2", "Sägen", "05.03.2024 07:00", "05.03.2024 07:10"),
        ("A-2", "Sägen", "05.03.2024 07:20", "05.03.2024 07:22"),
    ]
    dataset = load_dataset(_write(tmp_path, rows, ["Auftrag", "Tätigkeit", "Beginn", "Ende"]))
    _same(_routings(dataset), {"A-1": [("Sägen", 25.0), ("Drehen", 90.0)], "A-2": [("Sägen", 12.0)]})


def test_day_first_read_from_the_dots():
    # no day above 12: dots are read day first (5 March, not 3 May)
    times = parse_times(pd.Series(["05.03.2024 07:00", "06.03.2024 08:00"]))
    assert times.tolist() == [pd.Timestamp("2024-03-05 07:00"), pd.Timestamp("2024-03-06 08:00")]
    times = parse_times(pd.Series(["03/05/2024 07:00", "03/13/2024 08:00"]))  # a second number above 12
    assert times.tolist() == [pd.Timestamp("2024-03-05 07:00"), pd.Timestamp("2024-03-13 08:00")]
    times = parse_times(pd.Series(["05/03/2024 07:00", "13/03/2024 08:00"]))  # a first number above 12
    assert times.tolist() == [pd.Timestamp("2024-03-05 07:00"), pd.Timestamp("2024-03-13 08:00")]
    times = parse_times(pd.Series(["2024-03-01 08:00", "2024/3/2 09:00"]))  # year first: never day first
    assert times.tolist() == [pd.Timestamp("2024-03-01 08:00"), pd.Timestamp("2024-03-02 09:00")]
    assert parse_times(pd.Series(["10", "20"])) is None
    assert parse_times(pd.Series(["SAW", "LATHE"])) is None


def test_switched_off_reads_row_by_row(tmp_path):
    path = _write(tmp_path, ROWS, HEADER)
    dataset = load_dataset(path, {"Work Order": "item_code"}, event_log=False)
    assert len(dataset.ops) == len(ROWS)  # every report a step
    assert "event_log" not in dataset.source


def test_routing_exports_with_dates_are_not_event_logs(tmp_path):
    # a creation date, the same on every row of an item: an attribute of the item
    rows = [("P1", "SAW", "2020-01-05"), ("P1", "MILL", "2020-01-05"), ("P2", "SAW", "2021-06-01"),
            ("P2", "DRILL", "2021-06-01")]
    dataset = load_dataset(_write(tmp_path, rows, ["item_code", "process_code", "created"]))
    assert len(dataset.ops) == 4 and "event_log" not in dataset.source
    assert "created" in dataset.item_attributes
    # a step number with dates that change within the item: a routing export, read row by row
    rows = [("P1", 10, "SAW", "2020-01-05 08:00"), ("P1", 20, "SAW", "2020-01-05 09:00")]
    frame = pd.DataFrame(rows, columns=["item_code", "seq", "process_code", "changed_at"])
    assert detect_event_log(frame) is None
    # one date per operation, no time of day: a "changed on" date of a routing, not an event
    rows = [("J1", "SAW", "2020-01-05"), ("J1", "MILL", "2020-02-07"), ("J2", "SAW", "2021-06-01"),
            ("J2", "DRILL", "2021-06-03")]
    frame = pd.DataFrame(rows, columns=["Job", "Operation", "Changed on"])
    assert detect_event_log(frame) is None
    frame["Changed on"] = frame["Changed on"] + " 08:30"
    assert detect_event_log(frame) is not None  # stamped to the minute: events


def test_held_out_cases_read_with_the_case_column_the_version_learned(tmp_path):
    # one row per case, without the activity: the case column is the item code of the version
    path = _write(tmp_path, [("W9", "Shaft", 10), ("W8", "Gear", 3)], ["Case ID", "Part Desc.", "Qty"])
    recorded = {"Case ID": "item_code", "Activity": "process_code"}
    items = read_items(path, for_version(["Case ID", "Part Desc.", "Qty"], recorded, ("item_code",)))
    assert items["item_code"].tolist() == ["W9", "W8"]
    assert items["Part Desc."].tolist() == ["Shaft", "Gear"]
    with pytest.raises(Exception, match="no item_code column found"):
        read_items(path)


def test_rows_without_a_case_activity_or_time_are_counted(tmp_path):
    rows = [(c, a, s, e, p, m, q) for c, a, s, e, p, m, q in ROWS]
    rows += [("W1", "", "2024-03-01 12:00", "2024-03-01 12:10", "Shaft", "M1", 10),
             ("", "SAW", "2024-03-01 12:00", "2024-03-01 12:10", "Shaft", "M1", 10),
             ("W2", "DRILL", "", "", "Gear", "M4", 4)]
    dataset = load_dataset(_write(tmp_path, rows, HEADER))
    _same(_routings(dataset), EXPECTED)
    said = dataset.warnings[0]
    assert "2 row(s) without a case or an activity were left out." in said
    assert "1 row(s) without a readable time were left out." in said
    assert "10 rows became 6 steps" in said
