"""Predictions as people read them: one row per item of a batch, and reference items beside the query."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ

ARROW = " → "


def item_summary(result: pd.DataFrame) -> pd.DataFrame:
    """One row per item of a long-form prediction table (model.predictions_frame): its first
    candidate's kind, score, routing, step count and total time, and how many candidates it has."""
    columns = [ITEM, "kind", "score", "routing", "steps", "total time (min)", "candidates"]
    if result.empty:
        return pd.DataFrame(columns=columns)
    items = result[ITEM].astype("str")
    first = result[result["rank"] == 1]
    order = pd.unique(items)
    firsts = first.assign(_item=items[first.index]).groupby("_item", sort=False)
    routing = firsts[PROCESS].agg(lambda s: ARROW.join(s.astype("str")))
    steps = firsts[PROCESS].size()
    total = firsts[DURATION].agg(lambda s: float(s.sum()) if s.notna().all() and len(s) else np.nan)
    head = firsts[["kind", "score"]].first()
    n_cands = result.assign(_item=items).groupby("_item", sort=False)["rank"].nunique()
    out = pd.DataFrame({
        ITEM: order,
        "kind": head["kind"].reindex(order).to_numpy(),
        "score": head["score"].reindex(order).to_numpy(),
        "routing": routing.reindex(order).to_numpy(),
        "steps": steps.reindex(order).to_numpy(),
        "total time (min)": total.reindex(order).round(1).to_numpy(),
        "candidates": n_cands.reindex(order).to_numpy(),
    })
    return out[columns]


def reference_attributes(query: pd.DataFrame, references: Sequence[tuple[str, float]],
                         items: pd.DataFrame | None, attributes: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, differs): the query item's attributes on the first row and each reference item's
    below it (with its similarity), and a same-shaped frame of booleans marking the reference
    cells whose value differs from the query's. References missing from `items` show blanks."""
    cols = [c for c in attributes if c not in (ITEM, PROCESS, SEQ, DURATION)]
    q = query.iloc[0] if len(query) else pd.Series(dtype=object)
    rows = [{ITEM: f"{q.get(ITEM, 'this item')} (this item)", "similarity": None,
             **{c: q.get(c) for c in cols}}]
    lookup = None
    if items is not None and len(items):
        lookup = items.assign(_code=items[ITEM].astype("str")).drop_duplicates("_code").set_index("_code")
    for code, sim in references:
        found = lookup.loc[str(code)] if lookup is not None and str(code) in lookup.index else None
        rows.append({ITEM: str(code), "similarity": float(sim),
                     **{c: (None if found is None else found.get(c)) for c in cols}})
    table = pd.DataFrame(rows, columns=[ITEM, "similarity", *cols])
    differs = pd.DataFrame(False, index=table.index, columns=table.columns)
    for c in cols:
        base = table.at[0, c]
        for i in table.index[1:]:
            differs.at[i, c] = not _same(base, table.at[i, c])
    return uniform_columns(table), differs


def _same(a: object, b: object) -> bool:
    a_blank = a is None or (isinstance(a, float) and np.isnan(a)) or a is pd.NA
    b_blank = b is None or (isinstance(b, float) and np.isnan(b)) or b is pd.NA
    if a_blank or b_blank:
        return a_blank and b_blank
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0))
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()


NONE_CHOICE = "none"  # the Predict form's choice for "no value", where blank is a value of its own


def blank_is_a_value(model: object, items: pd.DataFrame | None = None) -> dict[str, float | None]:
    """The categorical attributes whose blank the model learned as a value of its own (blank in so
    many training items that it reads as "no finish", not as "unknown": the featurizer keeps a
    code for it), with the share of `items` (the training items) that are blank there (None
    without them). A form offers "none" for these; a blank elsewhere is an unknown value."""
    featurizer = getattr(model, "featurizer_", None)
    if featurizer is None:
        return {}
    from routing_core.model.encoding import MISSING

    out: dict[str, float | None] = {}
    for col in getattr(featurizer, "categorical_", []):
        if col in getattr(featurizer, "attributes_", [col]) and MISSING in featurizer.code_of_.get(col, {}):
            share = None
            if items is not None and col in items and len(items):
                share = float(items[col].isna().mean())
            out[col] = share
    return out


def form_value(choice: object) -> object:
    """What a form's choice passes to the model: "none" is a blank cell (the value the model learned
    for a blank there), anything else as chosen."""
    return None if choice == NONE_CHOICE else choice


def uniform_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A table whose object columns hold one kind of value: a column mixing kinds (dates and text,
    numbers and text) becomes text, blanks kept, so it converts to Arrow for display without an
    error."""
    out = frame
    for col in frame.columns:
        values = frame[col]
        if values.dtype != object:
            continue
        kinds = {type(v) for v in values.dropna()}
        if len(kinds) > 1 and not kinds <= {int, float}:
            if out is frame:
                out = frame.copy()
            out[col] = values.map(lambda v: v if v is None or (isinstance(v, float) and v != v) else str(v))
    return out
