"""CSV export that a spreadsheet opens as data, never as formulas (DESIGN §11)."""

from __future__ import annotations

import pandas as pd

# A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets;
# tab and carriage return can smuggle one past a naive check.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text value prefixed with a single quote if a spreadsheet would run it; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names cannot start a formula; numbers untouched."""
    out = frame.copy()
    out.columns = [safe_cell(str(c)) for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        out.isetitem(i, col.map(safe_cell, na_action="ignore"))
    return out


def to_safe_csv(frame: pd.DataFrame, bom: bool = True) -> bytes:
    """The frame as UTF-8 CSV bytes (with a BOM so Excel reads non-ASCII text), formulas neutralised."""
    text = neutralise(frame).to_csv(index=False, lineterminator="\n")
    return ("\ufeff" + text if bom else text).encode("utf-8")
