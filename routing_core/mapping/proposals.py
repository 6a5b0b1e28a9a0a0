"""Proposals from a file's contents for the columns its names did not give away.

A routing export lists each item's operations on consecutive rows. So the item code comes in
unbroken blocks of rows; the sequence is whole numbers that go up within each item; the
process code is text that changes from step to step and comes from a small set of values that
recur across items; a duration is numbers of 0 or more that change within items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from routing_core.mapping.schema import (
    CANONICAL,
    DURATION,
    DURATION_UNITS,
    ITEM,
    PROCESS,
    SEQ,
    TARGETS,
    detect_mapping,
    name_classes,
)
from routing_core.platform.errors import UserError

# The rows looked at: enough to see the pattern, few enough to answer at once.
SAMPLE_ROWS = 20_000
# An item has on average at most this many operations (a coarser block is a plant, a family …).
MAX_ROWS_PER_ITEM = 200
# Names that say a column is something else are not proposed for these roles.
_NOT_FOR = {
    ITEM: {"workplace", "other", "moment", "time", "process", "seq"},
    PROCESS: {"workplace", "other", "moment", "time", "item", "item_weak", "item_code", "seq"},
    SEQ: {"other", "moment", "time", "item", "item_code"},
    DURATION: {"other", "moment", "item", "item_code", "seq"},
}

ROLE_WORDS = {ITEM: "the item code", PROCESS: "the process code", SEQ: "the sequence", DURATION: "the duration"}


@dataclass(frozen=True)
class Proposal:
    """A column that looks like a role from its contents, and why, in plain words."""

    column: str
    target: str  # item_code, process_code, seq or duration_min
    reason: str  # "its text changes within items and comes from 23 values that recur across items"
    confident: bool  # clearly the only fit: a form may choose it unasked (and say so)

    @property
    def role(self) -> str:
        return DURATION if self.target in DURATION_UNITS else self.target

    def sentence(self, quote: Callable[[str], str] = repr) -> str:
        """"'OPX' looks like the process code: its text … ." """
        return f"{quote(self.column)} looks like {ROLE_WORDS[self.role]}: {self.reason}."


class MissingColumns(UserError):
    """A required column is neither named nor mapped; carries what the contents propose instead."""

    def __init__(self, heading: str, missing: Iterable[str], columns: Iterable[object],
                 proposals: Iterable[Proposal] = (), hint: str = "") -> None:
        self.heading = heading  # "file.csv: required column(s) process_code not found after mapping."
        self.missing = tuple(missing)
        self.columns = [str(c) for c in columns]
        self.proposals = [p for p in proposals if p.role in self.missing]
        shown = ", ".join(repr(c) for c in self.columns[:15])
        more = " …" if len(self.columns) > 15 else ""
        text = " ".join([f"{heading} Columns in the file: {shown}{more}.", *(p.sentence() for p in self.proposals)])
        super().__init__(text + hint)
        self.hint = hint

    def notes(self, where: Mapping[str, str], recognised: Iterable[str] = (),
              quote: Callable[[str], str] = repr) -> list[str]:
        """One role_note per missing role, in a form's terms (`where`: role -> how it is chosen);
        `recognised`: roles a column name did say (so the user unmapped them)."""
        proposed = {p.role: p for p in self.proposals}
        recognised = set(recognised)
        return [role_note(role, proposed.get(role), where[role], recognised=role in recognised, quote=quote)
                for role in self.missing]


def role_note(role: str, proposal: Proposal | None, where: str, *, recognised: bool = False,
              chosen: bool = False, quote: Callable[[str], str] = repr) -> str:
    """A missing role said in a form's terms: `where` is how the form names the role's choice.

    recognised: a column's name did say the role (the user unmapped it); chosen: the proposal
    was chosen unasked.
    """
    words = ROLE_WORDS[role]
    if proposal is None:
        return f"Pick a column under {where}." if recognised else (
            f"No column was recognised as {words}: pick one under {where}."
        )
    column = quote(proposal.column)
    if chosen:
        return (f"No column was recognised as {words} by its name, so {column} is chosen from its "
                f"contents: {proposal.reason}. Check it under {where}.")
    if recognised:
        return f"{column} looks like {words}: {proposal.reason} — pick it under {where}."
    return f"No column was recognised as {words}. {column} looks like it: {proposal.reason} — pick it under {where}."


def propose_mapping(frame: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> list[Proposal]:
    """Proposals for the roles `mapping` (source -> target; default: detect_mapping) leaves open.

    At most one column per role and one role per column, in the order item, sequence, process,
    duration (the item code groups the rows the others are judged in). Columns mapped to a
    target are not proposed; columns mapped to "-" are.
    """
    mapping = detect_mapping(frame.columns) if mapping is None else mapping
    if frame.empty:
        return []
    mapped = {s: t for s, t in mapping.items() if t in TARGETS and s in frame.columns}
    roles = {DURATION if t in DURATION_UNITS else t for t in mapped.values()}
    sample = frame.head(SAMPLE_ROWS)
    free = [c for c in sample.columns if c not in mapped]
    proposals: list[Proposal] = []
    item = next((s for s, t in mapped.items() if t == ITEM), None)
    if ITEM not in roles:
        found = propose_item(sample, free)
        if found is not None:
            proposals.append(found)
            item = found.column
    groups = item_groups(sample[item]) if item is not None else None
    for role, propose in ((SEQ, _propose_seq), (PROCESS, propose_process), (DURATION, propose_duration)):
        if role in roles:
            continue
        found = propose(sample, [c for c in free if c not in {p.column for p in proposals}], groups)
        if found is not None:
            proposals.append(found)
    return sorted(proposals, key=lambda p: CANONICAL.index(p.role))


# ---------------------------------------------------------------- what each role looks like


def _fits(column: object, role: str) -> bool:
    return not (name_classes(column) & _NOT_FOR[role])


def blank_values(values: pd.Series) -> np.ndarray:
    blank = values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        blank = blank | values.astype("str").str.strip().eq("").to_numpy(dtype=bool)
    return blank


def is_text(values: pd.Series) -> bool:
    return (pd.api.types.is_string_dtype(values) or values.dtype == object) and not pd.api.types.is_bool_dtype(values)


def number_values(values: pd.Series) -> np.ndarray | None:
    """The column as floats (blank: NaN), or None when it is not numbers."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if not is_text(values):
        return None
    text = values.astype("str").str.strip().str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    given = ~blank_values(values)
    if not given.any() or np.isnan(numbers[given]).mean() > 0.02:
        return None
    return numbers


def item_groups(values: pd.Series) -> np.ndarray:
    """Item number of each row; -1 where the item is blank."""
    codes, _ = pd.factorize(values.astype("str").str.strip())
    return np.where(blank_values(values), -1, codes)


def code_runs(codes: np.ndarray) -> int:
    return int(np.count_nonzero(codes[1:] != codes[:-1])) + 1 if len(codes) else 0


def _best(candidates: list[tuple[float, int, str, str]], margin: float) -> tuple[str, str, bool] | None:
    """(column, reason, confident) of the highest score; confident when `margin` ahead of the next."""
    if not candidates:
        return None
    candidates.sort(key=lambda c: (-c[0], c[1]))
    score, _, column, reason = candidates[0]
    confident = len(candidates) == 1 or score >= candidates[1][0] + margin
    return column, reason, bool(confident)


def propose_item(sample: pd.DataFrame, free: list[str]) -> Proposal | None:
    candidates = []
    for i, col in enumerate(free):
        values = sample[col]
        if not _fits(col, ITEM):
            continue
        given = ~blank_values(values)
        if given.mean() < 0.9:
            continue
        numbers = number_values(values) if not is_text(values) else None
        if numbers is not None and not np.all(np.equal(np.floor(numbers[given]), numbers[given])):
            continue  # measurements, not codes
        codes = item_groups(values)[given]
        k = len(np.unique(codes))
        rows = len(codes)
        if k < 3 or rows / k < 1.5 or rows / k > MAX_ROWS_PER_ITEM:
            continue
        if code_runs(codes) > 1.05 * k:
            continue  # a value comes back after others: not one block per item
        reason = (f"its values come in unbroken blocks of rows, as an item's operations do "
                  f"({k:,} values, {rows / k:.1f} rows each on average)")
        candidates.append((k * (1.0 if is_text(values) else 0.9), i, col, reason))
    best = _best(candidates, margin=0)
    if best is None:
        return None
    column, reason, _ = best
    others = [c for c in candidates if c[2] != column]
    # a second column with as many blocks (a drawing number, a name) leaves the choice open
    confident = not others or max(c[0] for c in others) < 0.67 * candidates[0][0]
    return Proposal(column, ITEM, reason, confident)


def values_within(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with an item ordered by item (file order kept within one): (same item as the row
    before, this value, the value before), over the rows after the first of each item."""
    keep = groups >= 0
    order = np.argsort(groups[keep], kind="stable")
    g, v = groups[keep][order], values[keep][order]
    same = g[1:] == g[:-1]
    return g[1:][same], v[1:][same], v[:-1][same]


def several_rows(groups: np.ndarray) -> int:
    counts = np.bincount(groups[groups >= 0]) if (groups >= 0).any() else np.zeros(0, int)
    return int(np.count_nonzero(counts > 1))


def varies_within(groups: np.ndarray, codes: np.ndarray) -> float:
    """Share of the items with several rows in which the column takes more than one value."""
    multi = several_rows(groups)
    if not multi:
        return 0.0
    g, now, before = values_within(groups, codes)
    return len(np.unique(g[now != before])) / multi


def _propose_seq(sample: pd.DataFrame, free: list[str], groups: np.ndarray | None) -> Proposal | None:
    if groups is None or not several_rows(groups):
        return None  # "goes up within items" needs the items
    candidates = []
    for i, col in enumerate(free):
        if not _fits(col, SEQ):
            continue
        numbers = number_values(sample[col])
        if numbers is None:
            continue
        given = ~np.isnan(numbers)
        if given.mean() < 0.9 or np.any(numbers[given] < 0):
            continue
        if not np.all(np.equal(np.floor(numbers[given]), numbers[given])):
            continue
        g, now, before = values_within(np.where(given, groups, -1), numbers)
        multi = several_rows(np.where(given, groups, -1))
        if not multi:
            continue
        share = 1 - len(np.unique(g[~(now > before)])) / multi
        if share < 0.8:
            continue
        where = "every item" if share == 1 else f"{share:.0%} of the items"
        candidates.append((share, i, col, f"its whole numbers go up from step to step within {where}"))
    best = _best(candidates, margin=0.1)
    if best is None:
        return None
    column, reason, confident = best
    return Proposal(column, SEQ, reason, bool(confident and candidates[0][0] >= 0.95))


def propose_process(sample: pd.DataFrame, free: list[str], groups: np.ndarray | None) -> Proposal | None:
    candidates = []
    for i, col in enumerate(free):
        values = sample[col]
        if not _fits(col, PROCESS) or not is_text(values) or number_values(values) is not None:
            continue
        given = ~blank_values(values)
        if given.mean() < 0.8:
            continue
        codes = np.where(given, item_groups(values), -1)
        k = len(np.unique(codes[given]))
        rows = int(given.sum())
        if k < 2 or k > rows / 2:
            continue  # values that hardly repeat are names or remarks, not a vocabulary
        if groups is None:
            if k <= rows / 5:
                candidates.append((0.5, i, col, f"its text comes from {k:,} values that repeat through the file"))
            continue
        both = (groups >= 0) & given
        if varies_within(np.where(given, groups, -1), codes) < 0.5:
            continue  # the same within most items: an item attribute
        pairs = np.unique(np.stack([groups[both], codes[both]]), axis=1)  # (item, value) once each
        if pairs.shape[1] / k < 2:
            continue  # a value seldom found in two items: not a shared vocabulary
        rows_of = np.bincount(groups[both])
        values_of = np.bincount(pairs[0], minlength=len(rows_of))
        multi = rows_of > 1
        # steps of an item are mostly different operations (a yes/no flag is not)
        diversity = float(np.mean(values_of[multi] / rows_of[multi]))
        spread = pairs.shape[1] / k / np.count_nonzero(rows_of)  # share of the items a value is in
        reason = f"its text changes within items and comes from {k:,} values that recur across items"
        candidates.append((diversity + spread / 5, i, col, reason))  # spread: processes before work centres
    best = _best(candidates, margin=0.2)
    if best is None:
        return None
    column, reason, confident = best
    return Proposal(column, PROCESS, reason, bool(confident and groups is not None and candidates[0][0] >= 0.7))


def propose_duration(sample: pd.DataFrame, free: list[str], groups: np.ndarray | None) -> Proposal | None:
    candidates = []
    for i, col in enumerate(free):
        if not _fits(col, DURATION):
            continue
        numbers = number_values(sample[col])
        if numbers is None:
            continue
        given = ~np.isnan(numbers)
        if given.mean() < 0.5 or np.any(numbers[given] < 0) or len(np.unique(numbers[given])) < 2:
            continue
        fraction = 0.2 if not np.all(np.equal(np.floor(numbers[given]), numbers[given])) else 0.0
        if groups is None:
            candidates.append((0.5 + fraction, i, col, "its numbers are 0 or more and change from row to row"))
            continue
        codes, _ = pd.factorize(numbers)
        varies = varies_within(np.where(given, groups, -1), codes)
        if varies < 0.3:
            continue  # the same within an item: an item attribute (a size, a weight)
        reason = "its numbers are 0 or more and change within items (read as minutes)"
        candidates.append((varies + fraction, i, col, reason))
    best = _best(candidates, margin=0.3)
    if best is None:
        return None
    column, reason, confident = best
    return Proposal(column, DURATION, reason, confident)
