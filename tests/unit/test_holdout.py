"""Time-aware holdout: the newest items by a date column held out, recorded and found again."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, normalise, read_table
from routing_core.engine.train_request import TrainRequest, check_request
from routing_core.engine.training import run_training
from routing_core.platform.errors import UserError
from routing_core.scoring.compare import training_items
from routing_core.scoring.holdout import (
    column_dates,
    date_columns,
    describe_split,
    split_newest,
    split_ops,
)
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from routing_core.versions.manifest import METRICS_FILE
from tests.conftest import ADMIN


def _ops(dates: dict[str, object]) -> pd.DataFrame:
    rows = [(item, p, d, 5.0) for item, d in dates.items() for p in ("SAW", "MILL")]
    return pd.DataFrame(rows, columns=["item_code", "process_code", "created", "weight"])


def test_the_newest_share_is_held_out_and_undated_items_stay_in_training():
    ops = _ops({"A": "2021-03-01", "B": "2019-01-01", "C": None, "D": "2023-07-15", "E": "2022-02-02",
                "F": "2020-05-05"})
    train, test, info = split_newest(ops, 1 / 3, "created")  # 2 of 6 items
    assert sorted(test["item_code"].unique()) == ["D", "E"]
    assert sorted(train["item_code"].unique()) == ["A", "B", "C", "F"]
    assert info == {"kind": "newest", "date_column": "created", "test_size": 1 / 3, "test_from": "2022-02-02",
                    "test_to": "2023-07-15", "train_to": "2021-03-01", "undated_items": 1}
    assert describe_split(info) == ("newest 33 % by created (held out from 2022-02-02, trained up to "
                                    "2021-03-01)")


def test_equal_dates_are_split_by_item_code_the_same_every_time():
    ops = _ops({"K2": "01.02.2024", "K1": "01.02.2024", "K3": "01.02.2024", "K0": "15.01.2024"})
    _, test, _ = split_newest(ops, 0.25, "created")
    assert test["item_code"].unique().tolist() == ["K3"]
    _, again, _ = split_newest(ops.iloc[::-1].reset_index(drop=True), 0.25, "created")
    assert again["item_code"].unique().tolist() == ["K3"]


def test_date_columns_and_years():
    ops = _ops({"A": "2021-03-01", "B": "2019-01-01"})
    assert date_columns(ops, ["created", "weight"]) == ["created"]
    years = column_dates(pd.Series([2019, 2021, None]))
    assert years.dt.year.tolist()[:2] == [2019, 2021] and pd.isna(years.iloc[2])
    assert column_dates(pd.Series([3.5, 12.0])) is None  # measurements, not years
    with pytest.raises(UserError, match="does not hold dates"):
        split_newest(ops, 0.5, "weight")
    with pytest.raises(UserError, match="Fewer than two items have a date"):
        split_newest(_ops({"A": "2021-03-01", "B": None}), 0.5, "created")


def test_random_split_is_recorded_with_its_seed():
    ops = _ops({c: "2021-01-01" for c in "ABCDEFGHIJ"})
    _, test, info = split_ops(ops, 0.2, 7)
    assert info == {"kind": "random", "test_size": 0.2, "seed": 7} and test["item_code"].nunique() == 2
    assert describe_split(info) == "random (seed 7)"


def test_requests_for_the_newest_split_are_checked():
    with pytest.raises(UserError, match="needs the date column"):
        check_request(TrainRequest(dataset="d", split="newest"))
    with pytest.raises(UserError, match="'random' or 'newest'"):
        check_request(TrainRequest(dataset="d", split="latest"))


def test_training_holds_out_the_newest_items_and_records_it(tmp_path):
    csv = sample_csv_bytes(SampleConfig(n_items=120, seed=5))
    frame = pd.read_csv(pd.io.common.BytesIO(csv), dtype={"item_code": str})
    codes = sorted(frame["item_code"].unique())
    created = {c: (pd.Timestamp("2020-01-01") + pd.Timedelta(days=3 * i)).strftime("%Y-%m-%d")
               for i, c in enumerate(codes)}
    frame["created"] = frame["item_code"].map(created)
    home = tmp_path / "data"
    DatasetStore(home).save("dated", normalise(read_table(frame.to_csv(index=False).encode(), name="d.csv")), user=ADMIN)
    summary = run_training(TrainRequest(dataset="dated", version="t1", split="newest", date_column="created",
                                        refit=False), tmp_path / "models", home, user=ADMIN)
    assert summary["test_items"] == 24 and summary["train_items"] == 96
    metrics = json.loads((tmp_path / "models" / "t1" / METRICS_FILE).read_text())
    assert metrics["split"]["kind"] == "newest" and metrics["split"]["date_column"] == "created"
    assert metrics["split"]["test_from"] == created[codes[96]]  # the 97th oldest item opens the holdout
    ops = DatasetStore(home).load("dated").ops
    assert training_items(ops, 0.2, 42, False, metrics["split"]) == set(codes[:96])
    with pytest.raises(UserError, match="no item attribute 'built'"):
        run_training(TrainRequest(dataset="dated", version="t2", split="newest", date_column="built"),
                     tmp_path / "models", home, user=ADMIN)


def test_today_is_written_as_the_column_writes_dates():
    from routing_core.scoring.holdout import today_in_format

    today = pd.Timestamp.today().normalize()
    assert today_in_format("2019-03-04") == today.strftime("%Y-%m-%d")
    assert today_in_format("04.03.2019") == today.strftime("%d.%m.%Y")
    assert today_in_format("2019/3/4") == today.strftime("%Y/%m/%d")
    assert today_in_format(2019) == today.year
    assert pd.Timestamp(today_in_format("not a date")) == today
