"""Datasets read from a database: the query's rows through the file path's checks, stored with
their source, and read again later as a new revision when the data changed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from routing_core.database.connections import ConnectionSpec, connection, mask
from routing_core.database.reading import Progress, QueryResult, read_query
from routing_core.database.sql import check_select
from routing_core.datasets import Dataset, DatasetRecord, DatasetStore, normalise
from routing_core.mapping.schema import ITEM, PROCESS
from routing_core.platform.errors import UserError
from routing_core.platform.names import check_name


def source_record(spec: ConnectionSpec, sql: str, result: QueryResult, *, base: str | None = None,
                  revision: int = 1, previous: str | None = None) -> dict:
    """What a dataset record keeps of its database source (no password, ever)."""
    source = {
        "kind": "database",
        "connection": spec.name,
        "dialect": spec.dialect,
        "query": check_select(sql),
        "read_at": result.read_at,
        "rows": result.rows,
        "seconds": round(result.seconds, 3),
        "revision": revision,
        "base": base,
        "previous": previous,
    }
    if spec.name == "db-url":  # given on the command line: keep where, masked, to say it later
        source["url"] = spec.shown
    return source


def to_dataset(spec: ConnectionSpec, sql: str, result: QueryResult,
               mapping: Mapping[str, str] | None = None, **source: object) -> Dataset:
    """The query's rows through the file path's mapping and checks, with the source recorded."""
    dataset = normalise(result.raw, mapping)
    dataset.sha256 = result.raw.sha256
    dataset.source = source_record(spec, sql, result, **source)
    return dataset


def fetch(spec: ConnectionSpec, sql: str, mapping: Mapping[str, str] | None = None,
          row_limit: int | None = None, timeout: float | None = None,
          progress: Progress | None = None, *, user) -> Dataset:
    """Read a query as `user` and normalise it (nothing is stored)."""
    return to_dataset(spec, sql, read_query(spec, sql, row_limit, timeout, progress, user=user), mapping)


def save(store: DatasetStore, name: str, dataset: Dataset, *, user) -> tuple[DatasetRecord, bool]:
    """Store a dataset read from a database; its revision family is named after it. `user` as
    for DatasetStore.save (a named User): a role that may not upload is refused."""
    check_name(name, "dataset name")
    if dataset.source and not dataset.source.get("base"):
        dataset.source = {**dataset.source, "base": name}
    return store.save(name, dataset, user=user)


def routings_of(ops: pd.DataFrame) -> pd.Series:
    """Each item's routing as one text ("SAW → MILL → INSPECT"), rows grouped by item in order."""
    return ops.groupby(ITEM, sort=False)[PROCESS].agg(" → ".join)


def routing_diff(old: pd.DataFrame, new: pd.DataFrame, examples: int = 5) -> dict:
    """How two operation tables differ in items and in routings."""
    before, after = routings_of(old), routings_of(new)
    added = after.index.difference(before.index)
    removed = before.index.difference(after.index)
    common = after.index.intersection(before.index)
    changed_mask = before.loc[common].to_numpy() != after.loc[common].to_numpy()
    changed = common[changed_mask]
    return {
        "items_before": int(len(before)),
        "items_after": int(len(after)),
        "items_added": int(len(added)),
        "items_removed": int(len(removed)),
        "routings_changed": int(len(changed)),
        "rows_before": int(len(old)),
        "rows_after": int(len(new)),
        "distinct_routings_before": int(before.nunique()),
        "distinct_routings_after": int(after.nunique()),
        "examples_added": [str(c) for c in added[:examples]],
        "examples_removed": [str(c) for c in removed[:examples]],
        "examples_changed": [
            {"item_code": str(c), "before": str(before[c]), "after": str(after[c])} for c in changed[:examples]
        ],
    }


@dataclass
class RefreshResult:
    status: str  # "changed" (a new revision), "unchanged", or "known" (same as an earlier revision)
    record: DatasetRecord  # the dataset that now holds the data
    previous: str
    diff: dict

    def summary(self) -> str:
        d = self.diff
        if self.status == "unchanged":
            return f"Unchanged: '{self.previous}' already holds what the database returns ({d['items_after']:,} items)."
        parts = (f"{d['items_added']:,} item(s) added, {d['items_removed']:,} removed, "
                 f"{d['routings_changed']:,} routing(s) changed; {d['items_before']:,} → {d['items_after']:,} items")
        if self.status == "known":
            return f"The database holds what dataset '{self.record.name}' already stores: {parts}."
        return f"New revision '{self.record.name}' of '{self.previous}': {parts}."

    def to_json(self) -> dict:
        return {"status": self.status, "dataset": self.record.name, "previous": self.previous,
                "summary": self.summary(), **self.diff}


def _revision_name(store: DatasetStore, base: str) -> tuple[str, int]:
    taken = set(store.names()) | ({p.name for p in store.folder.iterdir()} if store.folder.is_dir() else set())
    revisions = [r.source.get("revision", 1) for r in store.list()
                 if r.source.get("base") == base and isinstance(r.source.get("revision"), int)]
    n = max(revisions, default=1) + 1
    stem = base[:58]
    while f"{stem}-r{n}" in taken:
        n += 1
    return f"{stem}-r{n}", n


def refresh(store: DatasetStore, name: str, spec: ConnectionSpec | None = None,
            progress: Progress | None = None, secrets: str | os.PathLike | None = None,
            *, user) -> RefreshResult:
    """Read a stored database dataset again: a new revision when the data changed. Refused
    before the database is read when `user` (a named User) may not upload or read a database."""
    from routing_core.users.access import require

    require(user, "upload")
    record = store.record(name)
    source = record.source or {}
    if source.get("kind") != "database":
        raise UserError(f"Dataset '{name}' was not read from a database: upload its file again instead.")
    if spec is None:
        if source.get("connection") == "db-url":
            raise UserError(f"Dataset '{name}' was read with --db-url: give the URL again (--db-url).")
        spec = connection(str(source.get("connection")), store.root, secrets)
    sql = str(source.get("query", ""))
    result = read_query(spec, sql, progress=progress, user=user)
    old = store.load(name)
    if result.raw.sha256 == record.sha256:
        return RefreshResult("unchanged", record, name, routing_diff(old.ops, old.ops))
    base = str(source.get("base") or name)
    new_name, revision = _revision_name(store, base)
    dataset = to_dataset(spec, sql, result, record.mapping, base=base, revision=revision, previous=name)
    diff = routing_diff(old.ops, dataset.ops)
    saved, created = store.save(new_name, dataset, user=user)
    return RefreshResult("changed" if created else "known", saved, name, diff)


def describe_source(source: Mapping) -> dict[str, str]:
    """A stored source as label → text for people (the query shown as written)."""
    if not source or source.get("kind") != "database":
        return {}
    shown = {
        "Connection": str(source.get("connection", "")) + (f" ({mask(source['url'])})" if source.get("url") else ""),
        "Read at": str(source.get("read_at", "")),
        "Rows read": f"{int(source.get('rows', 0)):,}",
        "Revision": str(source.get("revision", 1)),
    }
    if source.get("previous"):
        shown["Refreshed from"] = str(source["previous"])
    return shown
