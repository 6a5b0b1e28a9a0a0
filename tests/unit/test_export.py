"""CSV export: spreadsheet formulas neutralised, data otherwise intact."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from routing_core.platform.export import neutralise, safe_cell, to_safe_csv


def test_safe_cell():
    for bad in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x", "=HYPERLINK(\"http://x\")"):
        assert safe_cell(bad) == "'" + bad
    for ok in ("SAW", "a=b", "", " =x", "1-2"):
        assert safe_cell(ok) == ok
    assert safe_cell(-5) == -5 and safe_cell(None) is None


def test_to_safe_csv_neutralises_text_and_keeps_numbers():
    frame = pd.DataFrame({
        "item_code": ["=cmd|' /C calc'!A0", "00123", "-X"],
        "score": [0.5, -1.25, np.nan],
        "seq": [10, 20, 30],
        "work_center": ["@SUM(1)", None, "WC-1"],
        "=evil": ["+1", "ok", "ok"],
    })
    data = to_safe_csv(frame)
    assert data.startswith("\ufeff".encode())
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == ["item_code", "score", "seq", "work_center", "'=evil"]
    assert back["item_code"].tolist() == ["'=cmd|' /C calc'!A0", "00123", "'-X"]
    assert back["score"].tolist() == ["0.5", "-1.25", ""]  # negative numbers stay numbers
    assert back["work_center"].tolist() == ["'@SUM(1)", "", "WC-1"]
    assert back["'=evil"].tolist() == ["'+1", "ok", "ok"]
    # no cell of the file starts a formula
    for line in data.decode("utf-8-sig").splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@")), line
    assert frame["item_code"].iloc[0].startswith("=")  # the input frame is not changed


def test_no_bom_and_non_ascii():
    frame = pd.DataFrame({"품목": ["가공", "=x"]})
    text = to_safe_csv(frame, bom=False).decode("utf-8")
    assert text == "품목\n가공\n'=x\n"
    assert neutralise(frame)["품목"].tolist() == ["가공", "'=x"]
