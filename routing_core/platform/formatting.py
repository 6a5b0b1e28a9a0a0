"""One definition per figure: how shares, differences and numbers are rounded and written, and
what each rate counts.

Every page, table and export rounds through these functions, so a stored 0.9225 reads the same
everywhere (92.3 %). Rounding is half away from zero on the number as written in decimal (its
shortest repr), which is what a reader doing it by hand gets; binary float rounding would give
92.2 for one path and 92.3 for another.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd

DASH = "—"
SHARE_DIGITS = 1  # a share in percent: one decimal everywhere


def finite(value: object) -> float | None:
    """A finite float, or None for missing / NaN / non-numeric values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rounded(value: object, digits: int) -> float | None:
    """`value` rounded half away from zero at `digits` decimals of its decimal form (None when unknown)."""
    number = finite(value)
    if number is None:
        return None
    try:
        exact = Decimal(repr(number)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # too many digits for the context: far beyond any share or time
        return round(number, digits)
    return float(exact)


def percent_value(share: object, digits: int = SHARE_DIGITS) -> float | None:
    """A share 0–1 as a number of percent, rounded as everywhere else (0.9225 → 92.3). For tables
    that sort by the number and print it with `digits` decimals."""
    number = finite(share)
    if number is None:
        return None
    return rounded(Decimal(repr(number)) * 100, digits)


def percent(share: object, digits: int = SHARE_DIGITS) -> str:
    """A share 0–1 as text: "92.3 %", or an em dash when unknown."""
    value = percent_value(share, digits)
    return DASH if value is None else f"{value:.{digits}f} %"


def points_value(difference: object, digits: int = SHARE_DIGITS) -> float | None:
    """A difference of two shares (−1–1) in percentage points, rounded as shares are."""
    return percent_value(difference, digits)


def points(difference: object, digits: int = SHARE_DIGITS, unit: str = "points") -> str:
    """A difference of two shares in percentage points, signed: "+4.2 points"."""
    value = points_value(difference, digits)
    return DASH if value is None else f"{value:+.{digits}f} {unit}"


def number(value: object, digits: int = 3) -> str:
    """A number with `digits` decimals, or an em dash when unknown."""
    value = rounded(value, digits)
    return DASH if value is None else f"{value:.{digits}f}"


# What each rate counts, said once for every page that shows it.
HELP = {
    "routing_accuracy": "Share of held-out items whose first candidate is exactly their recorded routing "
                        "(every step, in order). Items the model never saw in training.",
    "top_3_accuracy": "Share of held-out items whose recorded routing is among the first three candidates.",
    "sequence_similarity": "How close the first candidate's steps are to the recorded ones, 0–1 (1: the same "
                           "steps in the same order), averaged over held-out items.",
    "f1_weighted": "Steps of the first candidate matched against the recorded steps position by position: "
                   "F1 per process, weighted by how often the process occurs, 0–1.",
    "step_accuracy": "Share of recorded steps the first candidate has at the same position.",
    "coverage": "Share of held-out items for which the model found a training item at least as similar as "
                "its similarity threshold, so its first candidate rests on a close reference. The others "
                "still get candidates, from less similar items. A low coverage is not an error: it says "
                "new items often differ from every training item (routing accuracy counts all items, "
                "covered or not).",
    "duration_mae": "Mean absolute difference between the estimated and the recorded time of a step, over "
                    "steps the first candidate got right.",
    "lift_over_best": "Routing accuracy of the model minus that of its best simple rule (baseline), in "
                      "percentage points.",
    "test_items": "Items held out of training to measure the model.",
    "missing_items": "Share of items with no value in this column on any of their rows.",
    "missing_rows": "Share of rows (operations) with a blank cell in this column.",
}


def missing_table(per_item: dict[str, float], per_row: dict[str, float],
                  item_attributes: list[str]) -> pd.DataFrame:
    """Both missing rates of every column, labelled: per item (item attributes only; an item
    counts when none of its rows has a value) and per row; percent, rounded as everywhere.
    Worst first (by the rate per item where there is one, else per row)."""
    items = set(item_attributes)
    rows = []
    for column, rate in per_row.items():
        per = per_item.get(column) if column in items else None
        rows.append({
            "column": str(column),
            "kind": "item attribute" if column in items else "operation column",
            "missing per item (%)": percent_value(per),
            "missing per row (%)": percent_value(rate),
        })
    table = pd.DataFrame(rows, columns=["column", "kind", "missing per item (%)", "missing per row (%)"])
    order = table["missing per item (%)"].fillna(table["missing per row (%)"])
    return table.iloc[order.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)


def version_label(name: str, dataset: object, created_at: object, active: bool = False) -> str:
    """A model version as a picker lists it: "v20261207-043957 — sample, 2026-12-07" (" · active"
    when it is the active one), so versions of two plants' data can be told apart."""
    day = str(created_at or "")[:10] or "date unknown"
    where = str(dataset) if dataset else "dataset unknown"
    return f"{name} — {where}, {day}" + (" · active" if active else "")


_LABEL_MARKUP = (
    # what a widget label would otherwise read as markup: emphasis at a word's edge, code,
    # links, math, Streamlit's :colour[...] and :material/...: directives, HTML-ish tags, headings
    "*`[]$<>#|~\\"
)


def plain_label(text: object) -> str:
    """User text (a column name) as a widget label: only characters that would turn into markup
    are escaped, so `PESO_KG` stays `PESO_KG` for a screen reader (an underscore inside a word is
    no emphasis) while `*x*` or `:red[x]` still show literally."""
    value = " ".join(str(text).split())
    out = []
    for i, ch in enumerate(value):
        if ch in _LABEL_MARKUP:
            out.append("\\" + ch)
        elif ch == ":":  # a directive or shortcode starts with ":" and a letter (":red[", ":smile:")
            after = value[i + 1] if i + 1 < len(value) else " "
            out.append("\\:" if after.isalnum() else ":")
        elif ch == "_":
            before = value[i - 1] if i else " "
            after = value[i + 1] if i + 1 < len(value) else " "
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        else:
            out.append(ch)
    return "".join(out)
