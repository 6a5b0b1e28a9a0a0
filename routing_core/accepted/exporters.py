"""Export targets for accepted routings through an output profile, one class per kind.

Each file target turns the profile's table (`apply_profile`) into bytes: `CsvExport` (the
profile's delimiter and encoding, formula-safe), `ExcelExport` (openpyxl; text cells stay
text), `JsonExport` (a list of row objects). `StagingInsert` writes the same rows into the
staging table a named database connection names — the only write Routing Studio makes to a
database: one INSERT of all rows in one transaction (a failed row leaves nothing), said
before it runs (`plan`), for an analyst, recorded in the activity log.
"""

from __future__ import annotations

import io
import json
import math
from typing import ClassVar

import pandas as pd

from routing_core.platform.errors import UserError
from routing_core.platform.export import neutralise
from routing_core.users.access import User, require
from routing_core.users.activity import EXPORT_ROUTINGS, ActivityLog


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


class FileExport:
    """A file format: `data(frame, profile)` gives the file's bytes."""

    kind: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    mime: ClassVar[str] = ""

    def data(self, frame: pd.DataFrame, profile) -> bytes:
        raise NotImplementedError


class CsvExport(FileExport):
    kind, suffix, mime = "csv", ".csv", "text/csv"

    def data(self, frame: pd.DataFrame, profile) -> bytes:
        text = neutralise(frame).to_csv(index=False, sep=profile.delimiter, lineterminator="\n")
        try:
            return text.encode(profile.encoding)
        except UnicodeEncodeError as exc:
            bad = text[exc.start:exc.end]
            raise UserError(f"Profile '{profile.name}': {bad!r} cannot be written in {profile.encoding}; "
                            "choose an encoding that holds it (utf-8-sig, for instance).") from None


class ExcelExport(FileExport):
    kind, suffix = "xlsx", ".xlsx"
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def data(self, frame: pd.DataFrame, profile) -> bytes:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "routings"
        for col, name in enumerate(frame.columns, start=1):
            cell = sheet.cell(row=1, column=col, value=str(name))
            cell.data_type = "s"
        for row, values in enumerate(frame.itertuples(index=False), start=2):
            for col, value in enumerate(values, start=1):
                value = _plain(value)
                cell = sheet.cell(row=row, column=col, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, never a formula, whatever it starts with
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


class JsonExport(FileExport):
    kind, suffix, mime = "json", ".json", "application/json"

    def data(self, frame: pd.DataFrame, profile) -> bytes:
        rows = [{str(k): _plain(v) for k, v in zip(frame.columns, values, strict=True)}
                for values in frame.itertuples(index=False)]
        return json.dumps(rows, ensure_ascii=False, indent=1, default=str).encode("utf-8")


FILE_EXPORTS: dict[str, FileExport] = {e.kind: e for e in (CsvExport(), ExcelExport(), JsonExport())}


def file_export(kind: str) -> FileExport:
    try:
        return FILE_EXPORTS[kind]
    except KeyError:
        raise UserError(f"Unknown export format {kind!r}; formats are {', '.join(FILE_EXPORTS)}.") from None


class StagingInsert:
    """The rows of a profile inserted into the staging table of a named connection."""

    kind = "database"

    def __init__(self, spec) -> None:
        if spec.problem:
            raise UserError(spec.problem)
        if not spec.staging_table:
            raise UserError(f"Connection '{spec.name}' names no staging table: add staging_table = \"…\" to "
                            f"[connections.{spec.name}] to let accepted routings be written there.")
        self.spec = spec
        schema, _, table = spec.staging_table.rpartition(".")
        self.schema, self.table = schema or None, table

    def _columns(self, db, wanted: list[str]) -> list[str]:
        """The staging table's own names of the profile's columns (matched without regard to case);
        UserError, before anything is written, when the table or a column is not there."""
        from sqlalchemy import inspect
        from sqlalchemy.exc import NoSuchTableError

        try:
            have = [c["name"] for c in inspect(db).get_columns(self.table, schema=self.schema)]
        except NoSuchTableError:
            have = []
        if not have:
            raise UserError(f"Connection '{self.spec.name}' has no table {self.spec.staging_table}; nothing "
                            "was written.")
        by_key = {h.lower(): h for h in have}
        missing = [w for w in wanted if w.lower() not in by_key]
        if missing:
            raise UserError(f"Table {self.spec.staging_table} of '{self.spec.name}' has no column(s) "
                            f"{', '.join(missing)} (it has {', '.join(have[:40])}); nothing was written.")
        return [by_key[w.lower()] for w in wanted]

    def plan(self, frame: pd.DataFrame, routings: int) -> str:
        """What `insert` will write, in words, before it runs."""
        return (f"Insert {len(frame):,} row(s) ({routings:,} routing(s)) into table {self.spec.staging_table} of "
                f"connection '{self.spec.name}' ({self.spec.shown}), columns {', '.join(map(str, frame.columns))}, "
                "in one transaction: all rows or none.")

    def insert(self, frame: pd.DataFrame, *, user: User, routings: int, home=None) -> int:
        """Insert every row in one transaction (any failure: nothing stays); the number of rows."""
        from sqlalchemy import column, insert, table
        from sqlalchemy.exc import SQLAlchemyError

        from routing_core.database.reading import connect_engine, first_line

        require(user, "export_database")
        if frame.empty:
            raise UserError("There are no rows to write.")
        engine = connect_engine(self.spec, writable=True)
        log = ActivityLog(home)
        try:
            with engine.begin() as db:
                names = self._columns(db, [str(c) for c in frame.columns])
                target = table(self.table, *(column(n) for n in names), schema=self.schema)
                rows = [dict(zip(names, map(_plain, values), strict=True))
                        for values in frame.itertuples(index=False)]
                db.execute(insert(target), rows)
        except SQLAlchemyError as exc:
            reason = first_line(exc, self.spec)
            log.record(user, EXPORT_ROUTINGS, f"{self.spec.name}:{self.spec.staging_table}", outcome="failed",
                       rows=len(rows), reason=reason)
            raise UserError(f"Nothing was written to {self.spec.staging_table} of '{self.spec.name}': the insert "
                            f"failed and was rolled back ({reason}).") from None
        finally:
            engine.dispose()
        log.record(user, EXPORT_ROUTINGS, f"{self.spec.name}:{self.spec.staging_table}", rows=len(rows),
                   routings=routings)
        return len(rows)
