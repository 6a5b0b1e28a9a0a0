"""Learning from accepted routings: a dataset that includes them, and how often analysts took
each version's first candidate as it was, changed it, or picked another."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd

from routing_core.accepted.store import (
    CHANGED,
    OTHER,
    UNCHANGED,
    AcceptedRouting,
    AcceptedStore,
    ops_frame,
)
from routing_core.mapping.schema import ITEM
from routing_core.platform.errors import UserError

OUTCOMES = (UNCHANGED, CHANGED, OTHER)


def acceptance_by_version(routings: Iterable[AcceptedRouting]) -> pd.DataFrame:
    """Per model version: routings accepted from its candidates, and how many (and what share) were
    its first candidate unchanged, its first candidate changed, or another candidate. Withdrawn
    routings and routings typed without a candidate are not counted."""
    counts: dict[str, dict[str, int]] = {}
    for r in routings:
        if r.status != "accepted" or r.outcome not in OUTCOMES:
            continue
        row = counts.setdefault(r.version, dict.fromkeys(OUTCOMES, 0))
        row[r.outcome] += 1
    rows = []
    for version in sorted(counts):
        row = counts[version]
        total = sum(row.values())
        rows.append({"version": version, "accepted": total, **row,
                     **{f"{k} (share)": row[k] / total for k in OUTCOMES}})
    return pd.DataFrame(rows, columns=["version", "accepted", *OUTCOMES, *(f"{k} (share)" for k in OUTCOMES)])


def with_accepted(dataset, routings: list[AcceptedRouting], name: str = ""):
    """A copy of `dataset` in which each accepted routing stands for its item: an item the dataset
    has gets the accepted steps instead of its own, a new item is added. The copy's `source`
    records how many accepted routings it holds (`accepted_routings`), which a version trained on
    it keeps in its manifest."""
    from routing_core.datasets import Dataset

    kept = [r for r in routings if r.status == "accepted"]
    if not kept:
        raise UserError("There are no accepted routings to add.")
    extra = ops_frame(kept)
    base = dataset.ops
    columns = list(base.columns)
    unknown = [c for c in extra.columns if c not in columns]
    extra = extra.drop(columns=unknown)  # attributes the dataset does not know are not learned from
    replaced = base[ITEM].astype("string").isin({r.item_code for r in kept})
    merged = pd.concat([base[~replaced], extra.reindex(columns=columns)], ignore_index=True)
    for col in columns:
        if base[col].dtype != merged[col].dtype:
            try:
                merged[col] = merged[col].astype(base[col].dtype)
            except (TypeError, ValueError):
                pass
    digest = hashlib.sha256(pd.util.hash_pandas_object(merged, index=False).to_numpy().tobytes()).hexdigest()
    return Dataset(
        ops=merged, mapping=dict(dataset.mapping), item_attributes=list(dataset.item_attributes),
        operation_attributes=list(dataset.operation_attributes), warnings=list(dataset.warnings),
        source_name=name or f"{dataset.source_name} + accepted routings", sha256=digest,
        source={**dict(dataset.source), "accepted_routings": len(kept),
                "accepted_replaced_items": int(base.loc[replaced, ITEM].nunique()),
                "dropped_attributes": unknown[:20]},
    )


def store_with_accepted(home, base: str, name: str, *, user) -> tuple:
    """Store dataset `base` with the data home's accepted routings as a new dataset `name`;
    (record, accepted routings used)."""
    from routing_core.datasets import DatasetStore

    datasets = DatasetStore(home)
    routings = AcceptedStore(home).all()
    merged = with_accepted(datasets.load(base), routings, name=f"{base} + {len(routings)} accepted routings")
    record, _ = datasets.save(name, merged, user=user)
    return record, len(routings)
