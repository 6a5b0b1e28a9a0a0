"""Cached access to the stores: keyed by folder and by dataset / version identity, never recomputed per rerun."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from routing_core.datasets import Dataset, DatasetRecord, DatasetStore, data_home, item_table
from routing_core.platform.errors import UserError
from routing_core.scoring.holdout import date_columns, today_in_format
from routing_core.versions.registry import Registry, VersionInfo, models_dir
from ui.text import md

SAMPLE_NAME = "sample"
SAMPLE_FILE = "sample.csv"
CURRENT_DATASET = "current_dataset"  # session key shared by the pages


def data_root() -> str:
    """The data home as an absolute path (a cache key part: tests and users may switch it)."""
    return str(Path(data_home()).resolve())


def models_root() -> str:
    """The models folder as an absolute path."""
    return str(Path(models_dir()).resolve())


def store() -> DatasetStore:
    """The dataset store of the current data home."""
    return DatasetStore(data_root())


def registry() -> Registry:
    """The model registry of the current models folder."""
    return Registry(models_root())


def server_user():
    """The server's own account, by name (an admin): who a fresh start's sample, its training and
    its activation are recorded as, whoever's visit set them off."""
    from routing_core.users.access import local_user

    return local_user()


def store_sample(*, user) -> tuple[DatasetRecord, bool]:
    """Store the bundled sample data as 'sample' (the same content is recognised, not stored twice),
    as `user` (the signed-in user, or server_user() on a fresh start)."""
    from routing_core.datasets import load_dataset
    from routing_core.synthetic.sample import sample_csv_bytes

    existing = store()
    if SAMPLE_NAME in existing.names():
        return existing.record(SAMPLE_NAME), False
    return existing.save(SAMPLE_NAME, load_dataset(sample_csv_bytes(), name=SAMPLE_FILE), user=user)


@st.cache_resource(show_spinner="Preparing the sample dataset…")
def _sample_once(root: str) -> str | None:
    if DatasetStore(root).list():
        return None
    try:
        record, _ = store_sample(user=server_user())
    except UserError:  # another session stored it first
        return None
    return record.name


def ensure_sample() -> None:
    """On a fresh start (no dataset at all) store the sample data once, so every page has something."""
    _sample_once(data_root())


@st.cache_resource(show_spinner=False)
def _first_start_once(models: str, data: str) -> str | None:
    from ui import first_start

    return first_start.start(_jobs(models, data), DatasetStore(data), user=server_user())


def first_start_training() -> None:
    """On a fresh start queue the sample's training once; make its version active when it is done."""
    from ui import first_start

    try:
        _first_start_once(models_root(), data_root())
        first_start.settle(job_manager(), user=server_user())
    except (UserError, OSError):  # never stop a page over it; the Train page shows the job
        return


def datasets() -> list[DatasetRecord]:
    """Every stored dataset, newest first."""
    return store().list()


def _identity(record: DatasetRecord) -> tuple[str, str, str, str]:
    return data_root(), record.name, record.sha256, record.created_at


@st.cache_data(show_spinner="Computing statistics…", max_entries=32)
def _stats(root: str, name: str, sha256: str, created_at: str) -> dict:
    return DatasetStore(root).stats(name)


def dataset_stats(record: DatasetRecord) -> dict:
    """The statistics of a stored dataset (computed once on disk, then kept in memory)."""
    return _stats(*_identity(record))


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def _dataset(root: str, name: str, sha256: str, created_at: str) -> Dataset:
    return DatasetStore(root).load(name)


def dataset(record: DatasetRecord) -> Dataset:
    """A stored dataset (shared, read-only: do not modify its frame)."""
    return _dataset(*_identity(record))


@st.cache_resource(show_spinner=False, max_entries=4)
def _items(root: str, name: str, sha256: str, created_at: str) -> pd.DataFrame:
    ds = DatasetStore(root).load(name)
    return item_table(ds.ops, ds.item_attributes)


def items(record: DatasetRecord) -> pd.DataFrame:
    """One row per item of a stored dataset: item_code and item attributes (read-only)."""
    return _items(*_identity(record))


@st.cache_resource(show_spinner=False, max_entries=4)
def _attribute_inputs(root: str, name: str, sha256: str, created_at: str, limit: int) -> dict[str, tuple]:
    table = _items(root, name, sha256, created_at)
    inputs: dict[str, tuple] = {}
    dated = set(_date_columns(root, name, sha256, created_at))
    for col in table.columns[1:]:
        values = table[col]
        if col in dated:  # a new item is made today: its date, written as the column writes dates
            inputs[col] = ("date", today_in_format(values.dropna().iloc[-1]))
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            inputs[col] = ("number", float(values.median()) if values.notna().any() else None)
        elif values.nunique() <= limit:
            inputs[col] = ("choice", sorted(values.dropna().astype("str").unique()))
        else:
            inputs[col] = ("text", None)
    return inputs


@st.cache_resource(show_spinner=False, max_entries=8)
def _date_columns(root: str, name: str, sha256: str, created_at: str) -> list[str]:
    table = _items(root, name, sha256, created_at)
    return date_columns(table, list(table.columns[1:]))


def date_columns_of(record: DatasetRecord) -> list[str]:
    """The item attributes of a stored dataset that hold dates."""
    return list(_date_columns(*_identity(record)))


def attribute_inputs(record: DatasetRecord, limit: int = 200) -> dict[str, tuple]:
    """For each item attribute: ("date", today), ("number", median), ("choice", values) or ("text", None),
    from the items."""
    return _attribute_inputs(*_identity(record), limit)


DATASET_PARAM = "dataset"  # the page's address names the dataset shown, so a reload keeps it


def pick_dataset(key: str, label: str = "Dataset") -> DatasetRecord | None:
    """A selectbox over the stored datasets that starts at, and updates, the session's current
    dataset; the address (`?dataset=`) carries it through a browser reload."""
    records = datasets()
    if not records:
        return None
    names = [r.name for r in records]
    current = st.session_state.get(CURRENT_DATASET)
    wanted = st.query_params.get(DATASET_PARAM)
    if current is None and wanted in names:  # a fresh session (a reload): the address says which
        current = wanted
    index = names.index(current) if current in names else 0
    name = st.selectbox(label, names, index=index, key=key)
    st.session_state[CURRENT_DATASET] = name
    if st.query_params.get(DATASET_PARAM) != name:
        st.query_params[DATASET_PARAM] = name
    broken_datasets()
    return records[names.index(name)]


def broken_datasets() -> None:
    """Stored datasets that cannot be used (a damaged or hand-made folder), each with the reason."""
    broken = store().broken()
    if broken:
        with st.expander(f"{len(broken)} stored dataset(s) cannot be used", icon=":material/warning:"):
            for _, reason in broken:
                st.caption(md(reason))


def versions() -> list[VersionInfo]:
    """Every model version, newest first (broken ones included, with the reason)."""
    return registry().list()


def version_identity(info: VersionInfo) -> tuple[str, str, str]:
    """A cache key for a version: folder, name and manifest digest (a changed version is a new key)."""
    digest = str((info.manifest or {}).get("artifacts", {}).get("model.joblib", {}).get("sha256", ""))
    return models_root(), info.name, digest + (info.created_at or "")


@st.cache_resource(show_spinner=False)
def _jobs(models: str, data: str):
    from routing_core.engine import (
        Jobs,  # this machine's worker, or the Dask cluster of $ROUTING_SCHEDULER
    )

    return Jobs(models_dir=models, data_home=data)


def job_manager():
    """The training job manager of this models folder and data home (one per server process)."""
    return _jobs(models_root(), data_root())

