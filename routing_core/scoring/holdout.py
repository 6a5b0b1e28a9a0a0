"""Time-aware holdout: the newest items by a date column held out, as a plant would use a model
(trained on the past, asked about what comes next).

`date_columns` finds the item attributes that hold dates (item creation, valid-from, order
date); `split_newest` holds out the newest share of the items by one of them; `split_ops`
recomputes the split a version records (random or newest), so the same held-out items can be
found again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import numpy as np
import pandas as pd

from routing_core.datasets.eventlog import parse_times
from routing_core.mapping.schema import ITEM
from routing_core.platform.errors import UserError

RANDOM = "random"
NEWEST = "newest"
SPLITS = (RANDOM, NEWEST)
# Whole numbers in this range are years when the column's name says year ("model year", "Baujahr").
YEARS = (1900, 2100)
_YEAR = re.compile(r"year|jahr|ano|anno|annee|jaar|년|年", re.IGNORECASE)


def column_dates(values: pd.Series, name: object = "year") -> pd.Series | None:
    """The values as dates (NaT where blank), or None when the column does not hold dates
    (whole numbers are years only under a name that says year)."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        if not _YEAR.search(unicodedata.normalize("NFKD", str(name))):
            return None
        numbers = values.dropna()
        whole = numbers.empty or bool(np.all(np.mod(numbers.to_numpy(dtype="float64"), 1) == 0))
        if numbers.empty or not whole or not numbers.between(*YEARS).all():
            return None
        years = values.astype("float64")
        return pd.to_datetime(years.where(years.notna()).astype("Int64").astype("str").where(years.notna()),
                              format="%Y", errors="coerce")
    return parse_times(values)


def date_columns(ops: pd.DataFrame, item_attributes: list[str]) -> list[str]:
    """The item attributes that hold dates, in their order."""
    first = ops.drop_duplicates(ITEM)
    return [c for c in item_attributes if c in first and column_dates(first[c], c) is not None]


def item_dates(ops: pd.DataFrame, column: str) -> pd.Series:
    """Each item's date (its first row's value; NaT when blank), indexed by item code."""
    if column not in ops.columns:
        raise UserError(f"The dataset has no column '{column}' to date its items by.")
    first = ops.drop_duplicates(ITEM)
    dates = column_dates(first[column], column)
    if dates is None:
        raise UserError(f"Column '{column}' does not hold dates, so it cannot order the items in time.")
    return pd.Series(dates.to_numpy(), index=first[ITEM].astype("str").to_numpy())


def split_newest(ops: pd.DataFrame, test_size: float, column: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(train_ops, test_ops, what was done): the newest `test_size` share of the items by
    `column` held out. Items without a date always stay in training; on equal dates the item
    codes decide, so the split is the same every time."""
    if not 0.0 < test_size < 1.0:
        raise UserError(f"test_size must lie between 0 and 1 (exclusive), not {test_size}.")
    dates = item_dates(ops, column)
    dated = dates.dropna()
    if len(dated) < 2:
        raise UserError(f"Fewer than two items have a date in '{column}': nothing to hold out by time.")
    n_test = min(max(1, int(round(test_size * len(dates)))), len(dated) - 1)
    order = pd.DataFrame({"d": dated.to_numpy(), "c": dated.index}).sort_values(["d", "c"], kind="stable")
    test_items = set(order["c"].iloc[-n_test:])
    is_test = ops[ITEM].astype("str").isin(test_items).to_numpy()
    info = {
        "kind": NEWEST, "date_column": column, "test_size": float(test_size),
        "test_from": str(order["d"].iloc[-n_test].date()), "test_to": str(order["d"].iloc[-1].date()),
        "train_to": str(order["d"].iloc[-n_test - 1].date()),
        "undated_items": int(len(dates) - len(dated)),
    }
    return ops[~is_test].reset_index(drop=True), ops[is_test].reset_index(drop=True), info


def split_ops(ops: pd.DataFrame, test_size: float, seed: int, split: Mapping | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The split a request (or a version's record) asks for: random by seed, or the newest items."""
    from routing_core.scoring.evaluation import split_items

    if split and split.get("kind") == NEWEST:
        return split_newest(ops, test_size, str(split.get("date_column")))
    train, test = split_items(ops, test_size=test_size, seed=seed)
    return train, test, {"kind": RANDOM, "test_size": float(test_size), "seed": int(seed)}


def today_in_format(example: object) -> object:
    """Today written as `example` is (a year, 2024-03-01, 01.03.2024, 3/1/2024 …): what the
    Predict form puts into a date attribute of a new item."""
    today = pd.Timestamp.today().normalize()
    if isinstance(example, int | float | np.integer | np.floating):
        return today.year
    text = str(example).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d"):
        try:
            pd.to_datetime(text, format=fmt)
        except (ValueError, TypeError):
            continue
        return today.strftime(fmt)
    return today.strftime("%Y-%m-%d")


def describe_split(split: Mapping | None, seed: object = None) -> str:
    """The split in words: "random (seed 42)" or "newest 20 % by FECHA_ALTA (from 2024-01-03)"."""
    if not split or split.get("kind") != NEWEST:
        seed = (split or {}).get("seed", seed)
        return "random" + (f" (seed {seed})" if seed is not None else "")
    share = float(split.get("test_size", 0)) * 100
    return (f"newest {share:.0f} % by {split.get('date_column')} "
            f"(held out from {split.get('test_from')}, trained up to {split.get('train_to')})")
