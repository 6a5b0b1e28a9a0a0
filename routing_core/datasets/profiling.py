"""Profiling an operations table grouped by item: item numbers, blank and duplicate counts,
item versus operation attributes, the item table. What normalising, statistics and the model share.

Imports nothing else of routing_core.datasets, so any of them may import it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from routing_core.mapping.schema import ITEM, SEQ


def arrow_text(values: pd.Series) -> pa.Array:
    """A text column as one pyarrow string array (no copy for pandas' pyarrow-backed strings)."""
    data = getattr(values.array, "_pa_array", None)
    if data is None:
        data = pa.array(values.to_numpy(dtype=object), pa.string(), from_pandas=True)
    if isinstance(data, pa.ChunkedArray):
        return data.chunk(0) if data.num_chunks == 1 else data.combine_chunks()
    return data



def blank_count(values: pd.Series) -> int:
    """Blank cells of a column (Arrow-backed text knows its count without a pass)."""
    data = getattr(values.array, "_pa_array", None)
    return int(data.null_count) if data is not None else int(values.isna().sum())


def item_index(ops: pd.DataFrame) -> np.ndarray:
    """Item number of each row (0, 0, 1, 1, 1, 2 …) for a table grouped by item_code."""
    arr = arrow_text(ops[ITEM])
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    change = pc.not_equal(arr[1:], arr[:-1]).to_numpy(zero_copy_only=False)
    idx = np.empty(len(arr), dtype=np.int64)
    idx[0] = 0
    np.cumsum(change, out=idx[1:])
    return idx


# An attribute whose values disagree within at most this share of items is still an item
# attribute (dirty data); above it, the column describes operations.
ITEM_ATTRIBUTE_TOLERANCE = 0.05


def classify_attributes(
    ops: pd.DataFrame, attributes: list[str], idx: np.ndarray | None = None
) -> tuple[list[str], list[str], dict[str, int]]:
    """Split attribute columns into item attributes and operation attributes (see docs/design.md, 'Data contract').

    `ops` must be grouped by item (as normalise() leaves it). Returns also, per item attribute,
    how many items have disagreeing values.
    """
    if not attributes or ops.empty:
        return list(attributes), [], {}
    idx = item_index(ops) if idx is None else idx
    n_multi = max(int(np.count_nonzero(np.bincount(idx) > 1)), 1)
    same = idx[1:] == idx[:-1]
    item_attrs, op_attrs, disagreeing = [], [], {}
    # pyarrow and numpy release the GIL here: columns are counted side by side
    with ThreadPoolExecutor(max_workers=min(len(attributes), os.cpu_count() or 1)) as pool:
        bits = pa.array(same)
        counts = list(pool.map(lambda col: items_with_several_values(ops[col], idx, same, bits), attributes))
    for col, varying in zip(attributes, counts, strict=True):
        if varying / n_multi <= ITEM_ATTRIBUTE_TOLERANCE:
            item_attrs.append(col)
            if varying:
                disagreeing[col] = varying
        else:
            op_attrs.append(col)
    return item_attrs, op_attrs, disagreeing


def items_with_several_values(values: pd.Series, idx: np.ndarray, same: np.ndarray | None = None,
                               same_bits: pa.Array | None = None) -> int:
    """How many items hold more than one distinct non-blank value (rows grouped by item, `idx`).

    With the blanks left out, an item holds several values exactly when two of its neighbouring
    values differ: neighbours are compared where both are filled, and across each run of blanks.
    This needs no hashing of the values. `same` is idx[1:] == idx[:-1] (`same_bits` as Arrow).
    """
    same = idx[1:] == idx[:-1] if same is None else same
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric or not pd.api.types.is_string_dtype(values):
        # numbers as they are; other values (flags, categories, mixed objects) by identity
        if numeric:
            x = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            codes = pd.factorize(values)[0]
            x = np.where(codes < 0, np.nan, codes.astype("float64"))
        blank = np.isnan(x)
        with np.errstate(invalid="ignore"):
            differ = (x[1:] != x[:-1]) & same
        if blank.any():
            differ &= ~blank[1:] & ~blank[:-1]
        left, right = _across_blanks(blank, idx)
        across = x[left] != x[right]
    else:
        arr = arrow_text(values)
        blank = ~arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(len(arr), bool)
        # Arrow compares into packed bits (blank where a blank takes part): test them there first.
        packed = pc.and_(pc.not_equal(arr[1:], arr[:-1]), pa.array(same) if same_bits is None else same_bits)
        differ = (packed.fill_null(False).to_numpy(zero_copy_only=False) if pc.any(packed).as_py()
                  else np.zeros(len(arr) - 1, dtype=bool))
        left, right = _across_blanks(blank, idx)
        across = pc.not_equal(arr.take(left), arr.take(right)).to_numpy(zero_copy_only=False)
    if not differ.any() and not across.any():
        return 0
    several = np.zeros(int(idx[-1]) + 1, dtype=bool)
    several[idx[1:][differ]] = True
    several[idx[right[across]]] = True
    return int(several.sum())


def _across_blanks(blank: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filled cells on either side of each run of blank cells, where both lie in one item."""
    pos = np.flatnonzero(blank)
    if not len(pos):
        return pos, pos
    breaks = pos[1:] != pos[:-1] + 1
    left, right = pos[np.r_[True, breaks]] - 1, pos[np.r_[breaks, True]] + 1
    inside = (left >= 0) & (right < len(blank))
    left, right = left[inside], right[inside]
    one_item = idx[left] == idx[right]
    return left[one_item], right[one_item]


def duplicate_counts(ops: pd.DataFrame, idx: np.ndarray | None = None) -> tuple[int, int]:
    """(duplicate rows, rows repeating an (item_code, seq) pair) for a table grouped by item."""
    if ops.empty:
        return 0, 0
    idx = item_index(ops) if idx is None else idx
    seq = ops[SEQ].to_numpy()
    repeat = np.r_[False, (idx[1:] == idx[:-1]) & (seq[1:] == seq[:-1])]
    dup_seq = int(repeat.sum())
    if not dup_seq:
        return 0, 0
    # Whole-row duplicates share (item, seq): only those groups need a full comparison.
    involved = repeat | np.r_[repeat[1:], False]
    dup_rows = int(ops[involved].duplicated().sum())
    return dup_rows, dup_seq


def item_table(ops: pd.DataFrame, item_attributes: list[str]) -> pd.DataFrame:
    """One row per item: its code and item attributes (first non-blank value of each)."""
    cols = [c for c in item_attributes if c in ops]
    return ops.groupby(ITEM, sort=False)[cols].first().reset_index()
