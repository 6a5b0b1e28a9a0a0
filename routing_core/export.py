"""CSV export that a spreadsheet opens as data, never as formulas (docs/design.md, 'Reliability and security')."""

from __future__ import annotations

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


def to_safe_csv(frame: pd.DataFrame, bom: bool = True) -> bytes:
    """The frame as UTF-8 CSV bytes (with a BOM so Excel reads non-ASCII text), formulas neutralised."""
    text = neutralise(frame).to_csv(index=False, lineterminator="\n")
    return ("\ufeff" + text if bom else text).encode("utf-8")
