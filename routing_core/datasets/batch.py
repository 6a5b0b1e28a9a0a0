"""Items to predict from a file, every row accounted for: one row per item (a routing export
works too: the first row of each item is used), a row without an item code predicted under a
generated id (`row 4`), an empty row refused with its number, and a summary that counts them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from routing_core.datasets.normalising import single_column_hint
from routing_core.datasets.reading import Source, read_table
from routing_core.datasets.tables import RawTable
from routing_core.mapping.proposals import MissingColumns, propose_mapping
from routing_core.mapping.schema import ITEM, resolve_mapping
from routing_core.platform.errors import UserError

# Row numbers named in a sentence at most.
SHOWN = 5


@dataclass
class BatchSummary:
    """How the rows of a batch file became items. Row numbers count data rows from 1 (the
    header is not a row; the file line is the row number + 1)."""

    rows_in: int = 0
    items: int = 0
    generated: list[str] = field(default_factory=list)  # ids given to rows without an item code
    folded: int = 0  # further rows of an item already read (a routing export's other steps)
    refused: dict[str, list[int]] = field(default_factory=dict)  # reason -> row numbers

    @property
    def rows_refused(self) -> int:
        return sum(len(rows) for rows in self.refused.values())

    def sentences(self) -> list[str]:
        """The summary in words: rows in, items predicted, rows refused and why."""
        out = [f"{self.rows_in:,} row(s) in, {self.items:,} item(s) to predict, "
               f"{self.rows_refused:,} row(s) refused."]
        if self.generated:
            shown = ", ".join(self.generated[:SHOWN]) + (" …" if len(self.generated) > SHOWN else "")
            out.append(f"{len(self.generated):,} row(s) without an {ITEM} are predicted under a generated id "
                       f"({shown}).")
        if self.folded:
            out.append(f"{self.folded:,} further row(s) of items already read were folded into their item "
                       "(its first row is used).")
        for reason, rows in self.refused.items():
            shown = ", ".join(str(r) for r in rows[:SHOWN]) + (" …" if len(rows) > SHOWN else "")
            out.append(f"Refused: {len(rows):,} row(s) {reason} (row {shown}).")
        return out

    def to_json(self) -> dict:
        return {"rows_in": self.rows_in, "items": self.items, "rows_refused": self.rows_refused,
                "generated_ids": len(self.generated), "rows_folded": self.folded,
                "refused": {reason: rows for reason, rows in self.refused.items()}}


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype("str").str.strip().eq("")


def read_batch(source: Source | RawTable, mapping: Mapping[str, str] | None = None,
               name: str | None = None) -> tuple[pd.DataFrame, BatchSummary]:
    """(items, summary): one row per item with `item_code` and the file's other columns by name."""
    raw = source if isinstance(source, RawTable) else read_table(source, name=name)
    full = resolve_mapping(raw.frame.columns, mapping)
    sources = {t: s for s, t in full.items()}
    if ITEM not in sources:
        raise MissingColumns(
            f"{raw.source_name}: no {ITEM} column found.", [ITEM], raw.frame.columns,
            propose_mapping(raw.frame, full), single_column_hint(raw.frame),
        )
    frame = raw.frame
    if not pd.api.types.is_string_dtype(frame[sources[ITEM]]) and raw.delimiter is not None:
        # keep leading zeros: read the code column again as text
        frame = read_table(raw.data, name=raw.source_name, text_columns={sources[ITEM]}).frame
    if sources[ITEM] != ITEM:
        frame = frame.drop(columns=[ITEM], errors="ignore").rename(columns={sources[ITEM]: ITEM})
    frame = frame.reset_index(drop=True)
    summary = BatchSummary(rows_in=len(frame))
    empty = frame.apply(_blank).all(axis=1) if len(frame.columns) else pd.Series(True, index=frame.index)
    if empty.any():
        summary.refused["with no value in any cell"] = [int(i) + 1 for i in frame.index[empty]]
        frame = frame[~empty]
    codes = frame[ITEM].astype("str").str.strip()
    missing = _blank(frame[ITEM])
    if missing.any():
        taken = set(codes[~missing])
        ids = []
        for i in frame.index[missing]:
            new, n = f"row {int(i) + 1}", 1
            while new in taken:  # a file that has such a code already
                n += 1
                new = f"row {int(i) + 1} ({n})"
            taken.add(new)
            ids.append(new)
        codes = codes.copy()
        codes[missing] = ids
        summary.generated = ids
    frame = frame.assign(**{ITEM: codes})
    if frame.empty:
        raise UserError(f"{raw.source_name}: no rows to predict ({'; '.join(summary.sentences())}).")
    items = frame.drop_duplicates(ITEM, keep="first").reset_index(drop=True)
    summary.items = len(items)
    summary.folded = len(frame) - len(items)
    return items, summary


def read_items(source: Source | RawTable, mapping: Mapping[str, str] | None = None,
               name: str | None = None) -> pd.DataFrame:
    """Items to predict from a file: one row per item, or long form (first row per item).

    Only the item code is required; every other column keeps its name, so the attributes the
    model learned are found by name. A row without an item code gets a generated id (`row 4`);
    read_batch() says how every row was used.
    """
    return read_batch(source, mapping, name)[0]
