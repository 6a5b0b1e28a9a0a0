"""Why a step is in a candidate: how sure the model is of it, and which of the item's attributes
weigh most for and against it.

The weights come from the additive step model (experts.AdditiveStepModel): per step, a linear
model of its presence, so each attribute's part is exact and additive. An attribute's weight is
how far the item's value moves the step's estimate from the average training item's (in
probability points); derived columns count for the attribute they were read from (the words of
a description for the description, the code's prefix for the item code).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from routing_core.mapping.schema import ITEM
from routing_core.model.config import EXPLAIN_MIN_WEIGHT, SHOWN_VALUES
from routing_core.model.vocabulary import query_frame

COLUMNS = [ITEM, "step", "process_code", "probability", "direction", "attribute", "value", "weight"]


def _owners(featurizer, width: int) -> list[str]:
    """The attribute each column of the imputation design was read from."""
    owner = [""] * width
    for col, idx in featurizer.blocks_.items():
        for i in idx:
            owner[i] = col
    logs = [c for c in featurizer.numeric_ if featurizer.log_positive_.get(c, False)]
    for k, col in enumerate(logs):
        owner[width - len(logs) + k] = col
    return owner


def source_attribute(column: str, attributes: list[str]) -> str:
    """The user's attribute behind a derived column: "description[VALVE]" -> "description"."""
    if column.startswith("code:"):
        return ITEM
    for attr in sorted(attributes, key=len, reverse=True):
        if column == attr or column.startswith((f"{attr}:", f"{attr}[", f"{attr}#")):
            return attr
    return column


def text_words(featurizer, items: pd.DataFrame) -> pd.DataFrame:
    """For each item and text column, the learned words and keyed numbers its text holds, as the
    model reads them (one row per item and text column)."""
    from routing_core.model.encoding import column_of, texts_of
    from routing_core.model.text import keyed_numbers, text_terms

    rows = []
    for col in getattr(featurizer, "text_cols_", []):
        for code, text in zip(column_of(items, ITEM).tolist(), texts_of(column_of(items, col)), strict=True):
            found = set(text_terms([text])[0]) if text is not None else set()
            words = [w for w in featurizer.text_terms_[col] if w in found]
            numbers = {k: v for k, v in keyed_numbers(text).items() if k in featurizer.text_keys_[col]}
            rows.append((code, col, ", ".join(words), ", ".join(f"{k} {v:g}" for k, v in numbers.items())))
    return pd.DataFrame(rows, columns=[ITEM, "attribute", "words", "numbers"])


def explain(model, items: pd.DataFrame, steps: list[str] | None = None, top: int = SHOWN_VALUES,
            min_weight: float = EXPLAIN_MIN_WEIGHT) -> pd.DataFrame:
    """Per item and step (tokens_ names, e.g. "INSPECT#2"; all steps by default): the step's
    probability, and up to `top` attributes for it and `top` against it, each with the item's
    value and its weight in probability points (at least min_weight). Empty when the additive
    model is switched off for this dataset (its reasons would not be the model's)."""
    model.check_fitted()
    if not model.stacker_.parts()["additive"]["on"]:
        return pd.DataFrame(columns=COLUMNS)
    frame = query_frame(items)
    tokens = model.tokens_
    wanted = range(len(tokens)) if steps is None else [tokens.index(s) for s in steps if s in tokens]
    f = model.featurizer_
    enc = f.encode(frame)
    Z = f.imputation_design(enc)[0]
    owners = [source_attribute(c, model.item_attributes_) for c in _owners(f, Z.shape[1])]
    names = sorted(set(owners) - {""})
    member = np.zeros((Z.shape[1], len(names)))
    for i, owner in enumerate(owners):
        if owner:
            member[i, names.index(owner)] = 1.0
    probs = model.step_probabilities(frame)
    rows = []
    for i, code in enumerate(frame[ITEM].tolist()):
        for t in wanted:
            weight = model.additive_.contributions(Z[i], t) @ member
            order = np.argsort(-weight)
            picks = [("for", j) for j in order[:top] if weight[j] >= min_weight]
            picks += [("against", j) for j in order[::-1][:top] if weight[j] <= -min_weight]
            for direction, j in picks:
                attr = names[j]
                value = frame[attr].iloc[i] if attr in frame else None
                rows.append((code, tokens[t], model.processes_[model.vocab_.token_process_[t]],
                             round(float(probs[i, t]), 4), direction, attr,
                             None if value is None or value != value else value, round(float(weight[j]), 4)))
    return pd.DataFrame(rows, columns=COLUMNS)


def step_tokens(processes: list[str]) -> list[str]:
    """The model's name of each step: a process the n-th time in a routing is "PROCESS#n"."""
    seen: Counter = Counter()
    out = []
    for p in processes:
        seen[p] += 1
        out.append(p if seen[p] == 1 else f"{p}#{seen[p]}")
    return out


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "blank" if value is None else str(value)


def reasons_in_words(model, item: pd.DataFrame, processes: list[str], top: int = 2) -> list[str]:
    """Per step of the candidate, one line: the attributes that weigh most for and against it,
    with the item's values and their weight in probability points (empty lines where none)."""
    tokens = step_tokens(processes)
    why = explain(model, item, steps=sorted(set(tokens)), top=top)
    lines = []
    for token in tokens:
        rows = why[why["step"] == token]
        parts = []
        for direction in ("for", "against"):
            said = [f"{r.attribute} = {_value(r.value)} ({100 * r.weight:+.0f} pts)"
                    for r in rows[rows["direction"] == direction].itertuples()]
            if said:
                parts.append(f"{direction}: " + ", ".join(said))
        lines.append("; ".join(parts))
    return lines
