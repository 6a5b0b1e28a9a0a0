"""CSV export that a spreadsheet opens as data, never as formulas (docs/design.md, 'Reliability and security')."""

from __future__ import annotations

import re

import pandas as pd

# A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets;
# tab, carriage return and line feed can smuggle one past a naive check.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> object:
    """A text value prefixed with a single quote if a spreadsheet would run it; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value: object) -> object:
    """safe_cell, then carriage returns made line feeds: the CSV writer (line terminator "\n")
    quotes a cell with a line feed, but would leave a bare carriage return unquoted, which a
    spreadsheet reads as the end of the row — the rest of the cell starting a row of its own."""
    value = safe_cell(value)
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names cannot start a formula; numbers untouched."""
    out = frame.copy()
    out.columns = [_cell(str(c)) for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        out.isetitem(i, col.map(_cell, na_action="ignore"))
    return out


# A cell holding one of these is quoted: the delimiter and the other delimiters a spreadsheet may
# split on (a German or French Excel splits on ";"), so no part of a cell becomes a cell of its own.
QUOTE_IF = (",", ";", "\t", '"', "\n", "\r")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in QUOTE_IF) else value


def _text_cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return _quoted(str(value))


def to_safe_csv(frame: pd.DataFrame, bom: bool = True) -> bytes:
    """The frame as UTF-8 CSV bytes (with a BOM so Excel reads non-ASCII text): formulas neutralised,
    and every cell holding `,` `;` a tab, a quote or a line break quoted."""
    safe = neutralise(frame)
    columns = []
    for i in range(safe.shape[1]):
        col = safe.iloc[:, i]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            columns.append(col.map(_text_cell, na_action=None).astype(object).reset_index(drop=True))
        else:  # numbers, times, true/false: as pandas writes them (never quoted)
            lines = col.to_csv(index=False, header=False, lineterminator="\n").split("\n")[:-1]
            # a lone blank is written "" (so the line is not empty): blank, as in a table
            columns.append(pd.Series(["" if v == '""' else v for v in lines], dtype=object))
    lines = [",".join(_quoted(str(c)) for c in safe.columns)]
    if columns and len(safe):
        rows = columns[0]
        for col in columns[1:]:
            rows = rows + "," + col
        lines.extend(rows.tolist())
    text = "\n".join(lines) + "\n"
    return ("\ufeff" + text if bom else text).encode("utf-8")


def display_safe(frame: pd.DataFrame | dict) -> pd.DataFrame:
    """A copy of a table to show (whose own CSV download quotes only `,` `"` and line breaks): formulas
    neutralised at the start of a cell and after a `;` or tab within it, numbers untouched."""
    out = neutralise(frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame))
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            out.isetitem(i, col.map(_inner_safe, na_action="ignore"))
    return out


_INNER = re.compile(r"([;\t]\s*)(?=[=+\-@])")


def _inner_safe(value: object) -> object:
    return _INNER.sub(r"\1'", value) if isinstance(value, str) else value
