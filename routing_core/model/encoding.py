"""How item features are encoded: category codes, the structure of item codes, numbers in text,
and the statistics the featurizer and the fallback groups rank columns by."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.metrics import mutual_info_score

from routing_core.model.config import NUMBER_CAP, FeatureConfig

CODE_SEPARATORS = "-_/. "
_SEP_RE = re.compile(r"[-_/. ]")
_ALPHA_RE = re.compile(r"^([^\W\d_]+)")
NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)?")
MISSING = "<missing>"
UNSEEN = -1  # the category code of a value not seen in training ...
BLANK = UNSEEN - 1  # ... and of a blank cell


@dataclass
class Encoded:
    """Items as the featurizer reads them: numbers (NaN: blank) and category codes."""

    n: int
    num: dict[str, np.ndarray]
    cat: dict[str, np.ndarray]


# ---------------------------------------------------------------- item code structure


def code_tokens(codes: pd.Series | list, only: list[str] | None = None, config: FeatureConfig | None = None
                ) -> pd.DataFrame:
    """Candidate categorical tokens from the structure of item codes: the prefix before the first
    separator, the leading letters, the first 1-3 characters (when codes share a length) and the
    length. Only those the codes have (or, with `only`, exactly those columns)."""
    cfg = config or FeatureConfig()
    values = [str(c) for c in (codes.tolist() if isinstance(codes, pd.Series) else codes)]
    index = codes.index if isinstance(codes, pd.Series) else None
    n = max(len(values), 1)
    out: dict[str, list] = {}

    def want(name: str, present: bool) -> bool:
        return name in only if only is not None else present

    if want("code:prefix", sum(bool(_SEP_RE.search(v)) for v in values) / n >= cfg.code_prefix_share):
        out["code:prefix"] = [_SEP_RE.split(v, maxsplit=1)[0] for v in values]
    alpha = [m.group(1) if (m := _ALPHA_RE.match(v)) else None for v in values]
    if want("code:alpha", sum(a is not None for a in alpha) / n >= cfg.code_alpha_share):
        out["code:alpha"] = [a or "" for a in alpha]
    lengths = [len(v) for v in values]
    common = max(set(lengths), key=lengths.count) if lengths else 0
    same_length = bool(lengths) and lengths.count(common) / n >= cfg.code_same_length
    for k in range(1, cfg.code_first_chars + 1):
        if want(f"code:first{k}", same_length):
            out[f"code:first{k}"] = [v[:k] for v in values]
    if want("code:length", len(set(lengths)) > 1):
        out["code:length"] = [str(length) for length in lengths]
    return pd.DataFrame(out, index=index)


def texts_of(values: pd.Series) -> list[str | None]:
    """Cell values as text, None for a blank cell (the same text at fit and at prediction)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
            for v in values.tolist()]


def number_fields(text: str | None, width: int) -> tuple[float, list[float]]:
    """How many numbers a text holds, and the first `width` of them (NaN where absent)."""
    if text is None:
        return np.nan, [np.nan] * width
    found = NUMBER_RE.findall(text)
    values = [float(x.replace(",", ".")) for x in found[:width]]
    return float(len(found)), values + [np.nan] * (width - len(values))


def entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of a distribution given by counts."""
    from scipy.stats import entropy as _scipy_entropy

    return float(_scipy_entropy(counts[counts > 0])) if counts.sum() else 0.0


def mutual_information(x: np.ndarray, y: np.ndarray) -> float:
    """Mutual information (nats) between two integer-coded variables."""
    if len(x) == 0:
        return 0.0
    return max(float(mutual_info_score(x, y)), 0.0)


def collapse_rare(values: pd.Series, min_count: int) -> np.ndarray:
    """Integer codes with values seen fewer than min_count times merged into one."""
    codes, uniques = pd.factorize(values.astype("str").fillna(MISSING))
    counts = np.bincount(codes, minlength=len(uniques))
    rare = counts < min_count
    if rare.any():
        remap = np.where(rare, len(uniques), np.arange(len(uniques)))
        codes = pd.factorize(remap[codes])[0]
    return codes


def _binned(values: pd.Series, bins: int = FeatureConfig.relevance_bins) -> np.ndarray:
    """Quantile bins of a numeric column as integer codes (missing is its own bin)."""
    v = finite_values(values)
    ok = ~np.isnan(v)
    codes = np.zeros(len(v), dtype=np.int64)
    if ok.any():
        edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, bins + 1)[1:-1]))
        codes[ok] = np.searchsorted(edges, v[ok], side="right") + 1
    return pd.factorize(codes)[0]


def attribute_codes(frame: pd.DataFrame, col: str, numeric: bool, min_count: int,
                    bins: int = FeatureConfig.relevance_bins) -> np.ndarray:
    """One column as integer codes: quantile bins for numbers, rare values merged for categories."""
    if numeric:
        return _binned(frame[col], bins)
    return collapse_rare(frame[col], min_count)


# ---------------------------------------------------------------- featurizer


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def as_text(series: pd.Series) -> pd.Series:
    text = series.astype("str")
    return text.where(series.notna(), MISSING)


def _held_out_right(X: np.ndarray, y: np.ndarray, cut: int, trees: int) -> np.ndarray:
    """Which of the rows from `cut` on a small forest fitted on the rows before it gets right."""
    from sklearn.ensemble import RandomForestClassifier

    if X.shape[1] == 0:
        return np.zeros(len(y) - cut, dtype=bool)
    forest = RandomForestClassifier(n_estimators=trees, min_samples_leaf=2, random_state=0, n_jobs=2)
    with warnings.catch_warnings():  # many routings are rare: that is the data, not a mistake
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(X[:cut], y[:cut])
    return forest.predict(X[cut:]) == y[cut:]


def held_out_lift(X: np.ndarray, target: np.ndarray, cut: int, parts: dict[str, tuple[np.ndarray, float]],
                  trees: int = FeatureConfig.check_trees) -> tuple[dict[str, dict], list[str]]:
    """Which parts (name: (columns of X, least top-1 lift)) earn their place: a small forest with
    and without each, fitted on the rows before `cut` and scored on the rest; wins and losses
    compared by a paired sign test (two standard errors). A part that does not earn it is left
    out of the following comparisons. Returns the figures per part, and the parts dropped."""
    used = np.ones(X.shape[1], dtype=bool)
    right_all = None
    lift, dropped = {}, []
    for name, (cols, min_lift) in parts.items():
        if right_all is None:
            right_all = _held_out_right(X[:, used], target, cut, trees)
        without = used.copy()
        without[cols] = False
        right = _held_out_right(X[:, without], target, cut, trees)
        gain = int((right_all & ~right).sum()) - int((right & ~right_all).sum())
        changed = int((right_all != right).sum())
        keep = gain > 2.0 * np.sqrt(max(changed, 1)) and gain / len(right) >= min_lift
        lift[name] = {"held_out_items": len(right), "top1_gain": round(gain / len(right), 4),
                      "items_changed": changed, "kept": bool(keep)}
        if not keep:
            dropped.append(name)
            used, right_all = without, right
    return lift, dropped


def column_of(items: pd.DataFrame, col: str) -> pd.Series:
    return items[col] if col in items else pd.Series(np.nan, index=items.index, dtype="object")


def finite_values(values: pd.Series) -> np.ndarray:
    """Numbers as float64: blank, infinite or non-numeric cells are NaN, and absurd magnitudes
    are capped (they would overflow float32 trees and squared sums)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    v = np.where(np.isfinite(v), v, np.nan)
    return np.clip(v, -NUMBER_CAP, NUMBER_CAP)


def sample_skew(v: np.ndarray) -> float:
    """Skewness (the biased moment estimate); 0 for a constant."""
    return 0.0 if v.std() == 0 else float(skew(v))


def narrowed(memo: tuple, items: pd.DataFrame, key: tuple) -> pd.DataFrame | None:
    """The kept table without the columns of text columns and code tokens since dropped (by
    the check of what earns its place), when that is all that changed; else None."""
    old_items, old, frame = memo
    if old_items is not items or key[2] != old[2] or not (set(key[1]) <= set(old[1])):
        return None
    if key[3] != old[3] and key[3]:  # code tokens are dropped all together or not at all
        return None
    gone = set(old[1]) - set(key[1])
    if set(old[0]) - set(key[0]) - gone:
        return None
    cols = [c for c in frame.columns
            if c not in old[3] or key[3]
            if not any(c.startswith((f"{t}:", f"{t}[", f"{t}#")) for t in gone)]
    return frame[cols]
