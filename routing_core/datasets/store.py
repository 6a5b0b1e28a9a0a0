"""The dataset store: <root>/datasets/<name>/ holding the operations, their record and statistics."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
from pydantic import Field, StrictInt

from routing_core.datasets.parquet import read_parquet
from routing_core.datasets.tables import Dataset
from routing_core.mapping.schema import CANONICAL, ITEM, PROCESS
from routing_core.mapping.units import unit_of_mapping
from routing_core.platform.atomic import atomic_write_json
from routing_core.platform.errors import UserError
from routing_core.platform.names import check_name
from routing_core.platform.settings import setting
from routing_core.platform.sharing import abandoned, owner_token, share_dir, share_file
from routing_core.platform.statefile import (
    BrokenState,
    Count,
    StateRecord,
    Text,
    number,
    open_regular,
    read_json,
)
from routing_core.users.access import User, require
from routing_core.users.activity import DELETE_DATASET, STORE_DATASET, ActivityLog, LogError


def data_home() -> Path:
    """Where datasets live: $ROUTING_DATA_HOME, else (unset or empty) ./data, as the activity log
    and the roles file read it."""
    return setting("data_home")


@dataclass
class DatasetRecord:
    name: str
    source_name: str
    mapping: dict[str, str]
    sha256: str
    rows: int
    items: int
    processes: int
    item_attributes: list[str]
    operation_attributes: list[str]
    warnings: list[str]
    created_at: str
    inconsistent_items: dict[str, int] = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # a database read: connection, query, time, rows
    duration_unit: str | None = None  # the unit its times came in (units.UNITS); None: from the mapping

    def to_json(self) -> dict:
        return asdict(self)


# A field typed without None may be absent (its default) but not null.
class DatasetSource(StateRecord):
    """Where a database read came from (routing_core.database.revisions)."""

    kind: Text = None
    connection: Text = None
    url: Text | None = None
    read_at: Text | None = None
    rows: Count = None
    revision: Annotated[StrictInt, Field(ge=1)] = None
    previous: Text | None = None
    query: Text | None = None


class RecordFile(StateRecord):
    """record.json: every field of a DatasetRecord as JSON holds it."""

    name: Text
    source_name: Text
    mapping: dict[str, Text]
    sha256: Text
    rows: Count
    items: Count
    processes: Count
    item_attributes: list[Text]
    operation_attributes: list[Text]
    warnings: list[Text]
    created_at: Text
    inconsistent_items: dict[str, StrictInt] = None
    source: DatasetSource = None
    duration_unit: Text | None = None


Numbers = dict[str, number()]
NumbersOrBlank = dict[str, number() | None]


class RoutingLengths(StateRecord):
    distribution: Numbers | None = None


class StatsFile(StateRecord):
    """stats.json: the fields the Dataset page reads, with the tables it draws."""

    stats_version: Count
    total_samples: Count
    unique_items: Count
    unique_processes: Count
    distinct_routings: Count
    duplicate_rows: Count
    duplicate_item_seq: Count
    missing_item_code: number(0, 1) | None = None
    missing_process_code: number(0, 1) | None = None
    missing_duration_min: number(0, 1) | None = None
    most_common_routing_share: number(0, 1) | None = None
    missing_rate: Numbers | None = None
    process_frequency: Numbers | None = None
    routing_length: RoutingLengths | None = None
    duration_min: NumbersOrBlank | None = None
    routing_duration_min: NumbersOrBlank | None = None
    duration_by_process: dict[str, NumbersOrBlank] | None = None
    inconsistent_items: dict | None = None
    item_attributes: list[Text] | None = None
    operation_attributes: list[Text] | None = None
    attributes: list[Text] | None = None
    alerts: list[Text] | None = None
    transitions: list[Annotated[list | dict, Field(min_length=3)]] | None = None


# A hidden save folder older than this is a leftover whatever its owner says.
STALE_SAVE_SEC = 24 * 3600


class DatasetStore:
    """Stored datasets: <root>/datasets/<name>/{ops.parquet, record.json, stats.json}."""

    RECORD = "record.json"
    OPS = "ops.parquet"
    STATS = "stats.json"

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else data_home()
        self.folder = self.root / "datasets"
        self.activity = ActivityLog(self.root)

    def _path(self, name: str) -> Path:
        return self.folder / check_name(name, "dataset name")

    def list(self) -> list[DatasetRecord]:
        """Every whole dataset, newest first (broken ones are left out: see broken())."""
        return self._scan()[0]

    def broken(self) -> list[tuple[str, str]]:
        """Dataset folders that cannot be used, as (name, reason), by name."""
        return self._scan()[1]

    def _scan(self) -> tuple[list[DatasetRecord], list[tuple[str, str]]]:
        records, broken = [], []
        if not self.folder.is_dir():
            return records, broken
        for entry in os.scandir(self.folder):
            if entry.name.startswith(".") or not (entry.is_dir(follow_symlinks=False) or entry.is_symlink()):
                continue
            try:
                records.append(self.record(entry.name))
            except FileNotFoundError:
                continue  # removed meanwhile
            except UserError as exc:
                if "No dataset named" not in str(exc):  # a folder without a record: a save under way
                    broken.append((entry.name, str(exc)))
            except OSError as exc:
                broken.append((entry.name, f"Dataset '{entry.name}' cannot be read ({exc.strerror})."))
        return sorted(records, key=lambda r: r.created_at, reverse=True), sorted(broken)

    def names(self) -> list[str]:
        return [r.name for r in self.list()]

    def _folder(self, name: str) -> Path:
        """The folder of a dataset; UserError when a link stands in its place."""
        path = self._path(name)
        if path.is_symlink():
            raise BrokenState(f"Dataset '{name}' is a symbolic link to another folder, not a dataset folder; "
                              "it is not used.")
        return path

    def record(self, name: str) -> DatasetRecord:
        where = f"Dataset '{name}'"
        path = self._folder(name) / self.RECORD
        try:
            data = read_json(path, where, RecordFile)
        except FileNotFoundError:
            raise UserError(f"No dataset named '{name}'.") from None
        if data["name"] != name:
            raise BrokenState(f"{where}: record.json names dataset {data['name'][:80]!r}; the folder was "
                              "renamed by hand.")
        known = {f.name for f in fields(DatasetRecord)}
        return DatasetRecord(**{k: v for k, v in data.items() if k in known})

    def find_by_content(self, sha256: str, mapping: Mapping[str, str]) -> DatasetRecord | None:
        """The stored dataset with this file content and mapping, if any."""
        for rec in self.list():
            if rec.sha256 == sha256 and rec.mapping == dict(mapping):
                return rec
        return None

    def save(self, name: str, dataset: Dataset, stats: dict | None = None, *,
             user: User) -> tuple[DatasetRecord, bool]:
        """Store a dataset under `name`. Returns (record, created); the same content twice is not stored again.

        Needs an analyst (`user`, a named User; Forbidden otherwise); a dataset stored is recorded in
        the activity log, and one whose entry cannot be written is removed again (LogError)."""
        who = require(user, "upload")
        target = self._path(name)
        existing = self.find_by_content(dataset.sha256, dataset.mapping) if dataset.sha256 else None
        if existing is not None:
            return existing, False
        if target.exists() or target.is_symlink():
            return self._taken(name, dataset)
        self.activity.check_writable()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cleanup()  # leftovers of saves killed midway
        record = DatasetRecord(
            name=name,
            source_name=dataset.source_name,
            mapping=dict(dataset.mapping),
            sha256=dataset.sha256,
            rows=len(dataset.ops),
            items=dataset.n_items,
            processes=int(dataset.ops[PROCESS].nunique()),
            item_attributes=dataset.item_attributes,
            operation_attributes=dataset.operation_attributes,
            warnings=dataset.warnings,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            inconsistent_items=dict(dataset.inconsistent_items),
            source=dict(dataset.source),
            duration_unit=unit_of_mapping(dataset.mapping),
        )
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{name}.{owner_token()}."))
        try:
            share_dir(tmp)  # mkdtemp's 0700 would lock the folder's group out
            dataset.ops.to_parquet(tmp / self.OPS, index=False)
            share_file(tmp / self.OPS)
            if stats is not None:
                atomic_write_json(tmp / self.STATS, stats)
            atomic_write_json(tmp / self.RECORD, record.to_json())
            try:
                os.rename(tmp, target)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                return self._taken(name, dataset)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            self.activity.record(who, STORE_DATASET, name, rows=record.rows, items=record.items,
                                 source=record.source_name)
        except LogError:
            self._remove(target, name)
            raise
        remember_dataset(self.root, dataset)
        return record, True

    def _remove(self, path: Path, name: str) -> None:
        """Take a dataset folder away whole: renamed aside first, then removed."""
        trash = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".deleted-{name}."))
        share_dir(trash)  # another account of the group can clear it after a crash
        os.rename(path, trash / name)
        shutil.rmtree(trash, ignore_errors=True)

    def _taken(self, name: str, dataset: Dataset) -> tuple[DatasetRecord, bool]:
        """A save found `name` taken: the same content stored meanwhile (another session or process
        saving the same file at the same moment) is that dataset; anything else is refused."""
        existing = self.find_by_content(dataset.sha256, dataset.mapping) if dataset.sha256 else None
        if existing is not None:
            return existing, False
        raise UserError(f"A dataset named '{name}' already exists; choose another name.")

    def load(self, name: str) -> Dataset:
        rec = self.record(name)
        where = f"Dataset '{name}'"
        try:
            with open_regular(self._folder(name) / self.OPS, where) as fh:
                ops = read_parquet(fh, f"{where}: {self.OPS}")  # under the limits of an upload
        except FileNotFoundError:
            raise BrokenState(f"{where}: {self.OPS} is missing.") from None
        except BrokenState:
            raise
        except UserError as exc:
            raise BrokenState(str(exc).replace(" Nothing was stored.", "")) from None
        except (pa.ArrowException, OSError) as exc:
            raise BrokenState(f"{where}: {self.OPS} cannot be read ({exc}).") from None
        missing = [c for c in (ITEM, PROCESS) if c not in ops.columns]
        if missing:
            raise BrokenState(f"{where}: {self.OPS} lacks the column(s) {', '.join(missing)}.")
        for column in (ITEM, PROCESS):
            if not (pd.api.types.is_string_dtype(ops[column]) or pd.api.types.is_object_dtype(ops[column])):
                raise BrokenState(f"{where}: {self.OPS} column {column} holds {ops[column].dtype}, not text.")
        return Dataset(
            ops=ops,
            mapping=rec.mapping,
            item_attributes=rec.item_attributes,
            operation_attributes=rec.operation_attributes,
            warnings=rec.warnings,
            source_name=rec.source_name,
            sha256=rec.sha256,
            inconsistent_items=rec.inconsistent_items,
            source=rec.source,
        )

    def stats(self, name: str) -> dict:
        """The dataset's statistics, computed on first use and kept beside it."""
        from routing_core.datasets.stats import STATS_VERSION, compute_stats

        path = self._folder(name) / self.STATS
        try:
            stats = read_json(path, f"Dataset '{name}'", StatsFile)
            if stats.get("stats_version") == STATS_VERSION:
                return stats
        except (OSError, BrokenState):
            pass
        # missing, unreadable, or written by an older build: compute again
        stats = compute_stats(self.load(name))
        try:
            atomic_write_json(path, stats)
        except OSError:  # its place taken (a folder, a read-only disk): computed again next time
            pass
        return stats

    def delete(self, name: str, *, user: User) -> None:
        """Remove a dataset; needs an admin (`user`, a named User; Forbidden otherwise), recorded in
        the activity log (a delete whose entry cannot be written is undone: LogError)."""
        who = require(user, "delete_dataset")
        path = self._path(name)
        if not path.is_dir():
            raise UserError(f"No dataset named '{name}'.")
        self.activity.check_writable()
        # Rename first so a crash mid-delete never leaves a half dataset under its name.
        trash = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".deleted-{name}."))
        share_dir(trash)  # another account of the group can clear it after a crash
        os.rename(path, trash / name)
        try:
            self.activity.record(who, DELETE_DATASET, name)
        except LogError:
            os.rename(trash / name, path)
            shutil.rmtree(trash, ignore_errors=True)
            raise
        shutil.rmtree(trash, ignore_errors=True)

    def cleanup(self) -> int:
        """Remove leftovers of interrupted saves and deletes; returns how many were removed.

        A save still running is left alone: its folder names its host and process; a save of this
        host whose process is gone, or any a day old, is a leftover.
        """
        removed = 0
        if self.folder.is_dir():
            for entry in self.folder.iterdir():
                if entry.name.startswith(".") and entry.is_dir() and not _save_running(entry):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
        return removed


def source_columns(dataset: Dataset) -> list[str]:
    """The column names of the file a dataset was read from: its mapped sources and attributes."""
    mapped = set(dataset.mapping)
    return [*dataset.mapping, *(c for c in dataset.ops.columns if c not in CANONICAL and c not in mapped)]


def remember_dataset(root: Path, dataset: Dataset) -> None:
    """Remember the dataset's mapping for the next file with the same headers (never fails a save)."""
    from routing_core.mapping import mapping_memory
    from routing_core.mapping.content import explicit_form

    columns = source_columns(dataset)
    try:
        mapping_memory.remember(root, columns, explicit_form(columns, dataset.mapping))
    except OSError:
        pass  # a read-only data home keeps the dataset; only the memory is lost


def _save_running(entry: Path) -> bool:
    """Whether a hidden `.<name>.<host tag>-<pid>.<random>` folder belongs to a save still going."""
    if entry.name.startswith(".deleted-"):
        return False
    parts = entry.name.rsplit(".", 2)
    if len(parts) < 3 or not parts[-2].rpartition("-")[2].isdigit():
        return False  # not the folder of a save
    return abandoned(entry, parts[-2], STALE_SAVE_SEC) is False
