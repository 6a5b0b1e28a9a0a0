"""Free text in item attributes as the model reads it: words and short codes, numbers written
after keys ("DN 50", "dia 40mm") and products of dimensions ("40x300"), which words tell a step,
and what a fitted model reads, in plain sentences."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from routing_core.model.config import SHOWN_WORDS, TextConfig

# Words and short codes of a free text: "SHAFT", "HT", "t2", "DN50", "1.4408", "M6".
TOKEN_PATTERN = r"(?u)[^\W_](?:[\w.\-/+]*[^\W_])?"
_NUM = r"(\d+(?:[.,]\d+)?)"
# A key and its number: written together ("DN50", "Ø40", "t2") or apart ("dia 40mm", "d=40",
# "PN 16", "length: 300"); what follows the number (a unit, "x300") does not matter.
_KEYED_RE = re.compile(rf"(?<![\w.])(?:([^\W\d_]{{1,3}})|([^\W\d_]{{1,8}})(\s?[:=]\s?|\s+)){_NUM}")
# Dimensions written as a product: "40x300", "Ø40 x 300 mm", "10×200×300".
_DIMS_RE = re.compile(rf"(?<![\d.]){_NUM}\s?[xX×*]\s?{_NUM}(?:\s?[xX×*]\s?{_NUM})?")


def is_free_text(values: pd.Series, min_frequency: int, max_categories: int, config: TextConfig | None = None
                 ) -> bool:
    """Whether a text column is free text (descriptions) rather than a category: values of
    several words, and many items holding a value too rare to learn as a category of its own."""
    c = config or TextConfig()
    nonnull = values.dropna().astype("str")
    if len(nonnull) < 2 * min_frequency:
        return False
    words = nonnull.str.count(r"\S+").mean()
    counts = nonnull.value_counts()
    rare = counts[counts < min_frequency].sum() / len(nonnull)
    return bool(words >= c.min_tokens and (rare >= c.rare_share or len(counts) > max_categories))


def text_terms(texts: list[str | None]) -> list[list[str]]:
    """The words of each text as the model reads them (upper case; none for a blank cell)."""
    pattern = re.compile(TOKEN_PATTERN)
    return [[] if t is None else pattern.findall(t.upper()) for t in texts]


# Not keys: the sign of a product of dimensions, and units a space before the next number
# ("6 mm 2000 x 1700"); a thread "M6" or a thickness "t2" or "t=2" is a key.
_NOT_KEYS = {"X", "×"}
_UNITS_APART = {"MM", "CM", "DM", "M", "KM", "IN", "INCH", "FT", "KG", "G", "T", "LB", "LBS", "PCS", "PC",
                "STK", "ST", "EA", "H", "MIN", "S", "SEC", "V", "KW", "W", "BAR", "PSI", "L"}


def keyed_numbers(text: str | None) -> dict[str, float]:
    """Numbers written after a key in a text, first occurrence each, and the sides of the first
    product of dimensions (keys ×1, ×2, ×3): "DN50 PN16 t2" -> {DN: 50, PN: 16, T: 2};
    "shaft dia 40mm 40x300" -> {DIA: 40, ×1: 40, ×2: 300}."""
    text = text or ""
    out: dict[str, float] = {}
    for close, apart, sep, number in _KEYED_RE.findall(text):
        key = (close or apart).upper()
        if key in _NOT_KEYS or (apart and not sep.strip() and key in _UNITS_APART):
            continue
        out.setdefault(key, float(number.replace(",", ".")))
    dims = _DIMS_RE.search(text)
    if dims:
        for k, side in enumerate(dims.groups(), start=1):
            if side:
                out[f"×{k}"] = float(side.replace(",", "."))
    return out


def number_keys(texts: list[str], min_count: float, config: TextConfig | None = None) -> list[str]:
    """Keys written before numbers in at least `min_count` texts, whose numbers vary (at least
    key_values distinct: a diameter "D40", "D55"; not a grade "SS304", which is a word) and
    that are nearly always followed by a number (key_followed of the texts holding the key:
    "DN 50", "dia 40"; not a word that merely precedes one now and then, "BODY 1.4408"); the
    max_keys most frequent, sorted (TextConfig)."""
    c = config or TextConfig()
    sample = texts[:: max(1, len(texts) // c.key_sample)]
    pairs = pd.DataFrame([(k, v) for t in sample for k, v in keyed_numbers(t).items()], columns=["key", "value"])
    if pairs.empty:
        return []
    min_count = min_count * len(sample) / max(len(texts), 1)
    stats = pairs.groupby("key")["value"].agg(["size", "nunique"])
    stats = stats[(stats["size"] >= min_count) & (stats["nunique"] >= c.key_values)]
    series = pd.Series(sample, dtype="str")
    keys = []
    for key in stats.sort_values("size", ascending=False).index:
        if len(keys) == c.max_keys:
            break
        if key.startswith("×"):
            keys.append(key)
            continue
        pattern = rf"(?i)(?<![\w.]){re.escape(key)}(?![^\W\d_])"
        holding = int(series.str.contains(pattern, regex=True).sum())
        if stats.loc[key, "size"] >= c.key_followed * holding:
            keys.append(key)
    return sorted(keys)


def step_relevance(tokens, presence: np.ndarray, max_steps: int = TextConfig.relevance_max_steps) -> np.ndarray:
    """Per binary column of `tokens` (sparse n x V), the strongest evidence that it tells a step
    of `presence` (n x S): the G statistic (2 n x mutual information, in nats) of the word
    against each step, the largest over the steps. Unrelated words give about 1 (chi-square with
    one degree of freedom); a word in 30 items out of 3,000 that always means a step found in 40 %
    of them gives about 50. A rare but decisive word counts as much as a common one."""
    n = presence.shape[0]
    if n == 0 or tokens.shape[1] == 0 or presence.shape[1] == 0:
        return np.zeros(tokens.shape[1])
    if presence.shape[1] > max_steps:  # the steps whose presence varies most
        rate = presence.mean(axis=0)
        presence = presence[:, np.argsort(-(rate * (1 - rate)), kind="stable")[:max_steps]]
    P = presence.astype(np.float32)
    n11 = np.asarray(tokens.T @ P, dtype=np.float64)  # V x S
    t1 = np.asarray(tokens.sum(axis=0)).ravel()[:, None]
    s1 = P.sum(axis=0, dtype=np.float64)[None, :]
    cells = (n11, t1 - n11, s1 - n11, n - t1 - s1 + n11)
    margins = ((t1, s1), (t1, n - s1), (n - t1, s1), (n - t1, n - s1))
    mi = np.zeros_like(n11)
    with np.errstate(divide="ignore", invalid="ignore"):
        for c, (a, b) in zip(cells, margins, strict=True):
            mi += np.where(c > 0, c / n * np.log(c * n / (a * b)), 0.0)
    return 2.0 * n * np.maximum(mi, 0.0).max(axis=1)


def describe_reading(reading: dict, shown: int = SHOWN_WORDS) -> list[str]:
    """What a version reads, in plain sentences (from ItemFeaturizer.reading())."""
    lines = []
    for col, part in (reading.get("text_columns") or {}).items():
        words = part.get("words") or []
        keys = part.get("keys") or []
        said = f"{len(words)} words ({', '.join(words[:shown])}{', …' if len(words) > shown else ''})" if words \
            else "no word"
        if keys:
            said += f" and the numbers written after {', '.join(keys)}"
        lines.append(f"'{col}' is read as free text: its first word, {said}.")
    checks = reading.get("checks") or {}
    for name, check in checks.items():
        gain = 100 * float(check.get("top1_gain", 0.0))
        figure = f"{gain:+.1f} points of top-1 on {check.get('held_out_items', 0):,} items held out"
        if name == "item code":
            lines.append(
                f"The item code is used ({figure}); an item without a familiar code is answered from its "
                "attributes." if check.get("kept") else
                f"The item code is not used: it did not beat the attributes ({figure}), so a new item "
                "needs no code.")
        elif not check.get("kept"):
            lines.append(f"'{name}' is left out: read as free text, it did not beat the other attributes "
                         f"({figure}).")
    if "item code" not in checks:
        lines.append("The item code is used (its prefix or first characters)." if reading.get("item_code_tokens")
                     else "The item code is not used.")
    if reading.get("pooled_process_codes"):
        lines.append(f"{reading['pooled_process_codes']:,} process codes found on the fewest items are pooled "
                     f"as '{reading.get('pooled_as')}': the model keeps {reading.get('process_codes', 0) - 1:,} "
                     "codes of their own.")
    return lines
