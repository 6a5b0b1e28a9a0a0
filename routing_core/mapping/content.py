"""A column mapping checked against the file's contents: names propose, contents decide.

The rules hold for an export from any plant in any language, because they look at values, not
names:

- a column of whole numbers that rise within each item (10, 20, 30 …) is a sequence, never the
  process code, when a text column of codes that repeat across items is there;
- a process code repeats: few values for many rows, each shared by several items; a column with
  a new value on almost every row, or the same value on every row of an item, is not one;
- an item code's rows come together (a block of rows per item, several rows per value);
- a duration is a number of 0 or more that changes within items;
- a work centre is coarser than the operations run on it: a column whose every value follows
  from another column's value (with more values) groups that column, so the finer one is the
  process code.

check_mapping() says where a mapping and the contents disagree, with the mapping that agrees;
decide_mapping() takes the names' mapping, lets the contents settle the roles whose names are
ambiguous, and leaves the other disagreements to be confirmed (the CLI's --map, the Upload
page's choice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from routing_core.mapping.proposals import (
    ROLE_WORDS,
    SAMPLE_ROWS,
    blank_values,
    code_runs,
    is_text,
    item_groups,
    number_values,
    propose_duration,
    propose_item,
    propose_process,
    several_rows,
    values_within,
    varies_within,
)
from routing_core.mapping.schema import (
    CANONICAL,
    DURATION,
    DURATION_UNITS,
    IGNORE,
    ITEM,
    PROCESS,
    SEQ,
    detect_mapping,
    name_scores,
    resolve_mapping,
)

# Fewer rows than this say too little about a column to contradict its name.
MIN_ROWS = 30
# Items with several rows needed before "within items" says anything.
MIN_ITEMS = 5
# Share of the items in which a sequence goes up from step to step.
RISING_SHARE = 0.8
# A name this many points below the other column's is no reason to keep it (names are ambiguous).
NAME_MARGIN = 10
# A name that fits a role by fewer points was read word by word, not found as a known alias: the
# contents may overrule it ("FASE" is a step in some plants, a step number in others).
SURE_NAME = 80


@dataclass(frozen=True)
class Problem:
    """A mapped column whose contents say it is something else, and the mapping that agrees."""

    role: str  # the role the column is mapped to
    column: str
    text: str  # "'FASE' holds step numbers 10–130 rising within each item: …"
    fix: dict[str, str] = field(default_factory=dict)  # source -> target (or "-") to change

    def sentence(self) -> str:
        return self.text


@dataclass
class Decision:
    """The mapping to read a file with, what the contents changed, and what is left to confirm."""

    mapping: dict[str, str]  # explicit form (source -> target or "-"), for normalise()/read_items()
    resolved: dict[str, str]  # source -> target of the canonical columns, as normalise() applies it
    changed: list[str]  # sentences: roles the contents settled where names were ambiguous
    problems: list[Problem]  # disagreements not settled (names are clear, or the user chose)

    def refusal(self, cli: bool = True) -> str:
        """The problems in words, with what confirms or fixes them."""
        parts = [p.sentence() for p in self.problems]
        fix = fix_of(self.problems)
        if cli and fix:
            maps = " ".join(f"--map {_shell(s)}={t}" for s, t in fix.items() if t != "-")
            parts.append(f"Nothing was stored. To read it as the contents suggest: {maps}; to keep the "
                         "mapping as it is, confirm each of its columns with --map (e.g. "
                         + " ".join(f"--map {_shell(p.column)}={p.role}" for p in self.problems) + ").")
        return " ".join(parts)


def _shell(name: str) -> str:
    import shlex

    return shlex.quote(name)


def canonical(target: str) -> str:
    return DURATION if target in DURATION_UNITS else target


def fix_of(problems: Iterable[Problem]) -> dict[str, str]:
    fix: dict[str, str] = {}
    for p in problems:
        for s, t in p.fix.items():
            fix.setdefault(s, t)
    return fix


# ---------------------------------------------------------------- the checks


def check_mapping(frame: pd.DataFrame, resolved: Mapping[str, str]) -> list[Problem]:
    """Where the contents disagree with `resolved` (source -> target, as resolve_mapping() gives it)."""
    sample = frame.head(SAMPLE_ROWS)
    if len(sample) < MIN_ROWS:
        return []
    by_role = {canonical(t): s for s, t in resolved.items() if s in sample.columns}
    mapped = {s: t for s, t in resolved.items() if s in sample.columns}
    item = by_role.get(ITEM)
    problems: list[Problem] = []

    if item is not None:
        problem = _check_item(sample, item, mapped)
        if problem is not None:
            return [problem]  # the rest is judged once the items are right
    groups = item_groups(sample[item]) if item is not None else None
    if groups is None or several_rows(groups) < MIN_ITEMS:
        return problems
    free = [c for c in sample.columns if c not in mapped and c != item]

    process = by_role.get(PROCESS)
    if process is not None:
        for check in (_sequence_as_process, _not_a_vocabulary, _coarser_than):
            problem = check(sample, process, groups, free, by_role)
            if problem is not None:
                problems.append(problem)
                break
    duration = by_role.get(DURATION)
    if duration is not None:
        problem = _duration_fixed_within_items(sample, duration, groups, free)
        if problem is not None:
            problems.append(problem)
    return problems


def _check_item(sample: pd.DataFrame, item: str, mapped: Mapping[str, str]) -> Problem | None:
    values = sample[item]
    given = ~blank_values(values)
    codes = item_groups(values)[given]
    k, rows = len(np.unique(codes)), len(codes)
    if k == 0:
        return None
    if rows / k < 1.2:
        why = f"it has a different value on almost every row ({k:,} values in {rows:,} rows)"
    elif code_runs(codes) > 2 * k and k <= rows / 4:
        why = (f"its {k:,} values come back again and again after other values "
               f"({code_runs(codes):,} runs of rows), as codes shared by many items do")
    else:
        return None
    other = propose_item(sample, [c for c in sample.columns if c != item])
    if other is None:
        return None
    text = (f"'{item}' does not look like the item code: {why}; an item's operations share its code "
            f"on a block of rows. '{other.column}' looks like the item code: {other.reason}.")
    # the two columns swap roles when the other one was mapped (item and process the wrong way round)
    return Problem(ITEM, item, text, {other.column: ITEM, item: mapped.get(other.column, IGNORE)})


def _rising(numbers: np.ndarray, groups: np.ndarray) -> float:
    """Share of the items with several rows whose numbers go up from row to row."""
    given = ~np.isnan(numbers)
    g = np.where(given, groups, -1)
    multi = several_rows(g)
    if not multi:
        return 0.0
    items, now, before = values_within(g, numbers)
    return 1 - len(np.unique(items[~(now > before)])) / multi


def _process_elsewhere(sample: pd.DataFrame, free: list[str], groups: np.ndarray):
    """The free text column that looks most like a process code, if any."""
    return propose_process(sample, [c for c in free if is_text(sample[c])], groups)


def _sequence_as_process(sample, process, groups, free, by_role) -> Problem | None:
    numbers = number_values(sample[process])
    if numbers is None:
        return None
    given = ~np.isnan(numbers)
    if given.mean() < 0.9 or not np.all(np.equal(np.floor(numbers[given]), numbers[given])):
        return None
    share = _rising(numbers, groups)
    if share < RISING_SHARE:
        return None
    other = _process_elsewhere(sample, free, groups)
    if other is None:
        return None  # numeric process codes in routing order: nothing says otherwise
    low, high = numbers[given].min(), numbers[given].max()
    where = "within each item" if share == 1 else f"within {share:.0%} of the items"
    text = (f"'{process}' holds step numbers {low:,.0f}–{high:,.0f} rising {where}: it looks like the "
            f"sequence, not the process code. {other.sentence()}")
    fix = {other.column: PROCESS, process: SEQ if SEQ not in by_role else IGNORE}
    return Problem(PROCESS, process, text, fix)


def _not_a_vocabulary(sample, process, groups, free, by_role) -> Problem | None:
    values = sample[process]
    given = ~blank_values(values)
    codes = np.where(given, item_groups(values), -1)
    k, rows = len(np.unique(codes[given])), int(given.sum())
    if rows == 0:
        return None
    if k > rows / 2:
        why = f"it has a different value on most rows ({k:,} values in {rows:,} rows), as names or remarks do"
    elif varies_within(np.where(given, groups, -1), codes) < 0.2:
        why = "it is the same on every row of most items: it describes the item, not its steps"
    else:
        return None
    other = _process_elsewhere(sample, free, groups)
    if other is None:
        return None
    text = (f"'{process}' does not look like the process code: {why}; a process code repeats across "
            f"items. {other.sentence()}")
    return Problem(PROCESS, process, text, {other.column: PROCESS, process: IGNORE})


def _coarser_than(sample, process, groups, free, by_role) -> Problem | None:
    """The mapped process column follows from a finer code column: it groups operations (a work
    centre, a department), and the finer column is the process code."""
    values = sample[process]
    given = ~blank_values(values)
    mine = item_groups(values)
    k = len(np.unique(mine[given]))
    candidates = []
    for col in free:
        other = sample[col]
        if not is_text(other):
            continue
        both = given & ~blank_values(other)
        if both.mean() < 0.8:
            continue
        theirs = item_groups(other)
        kt = len(np.unique(theirs[both]))
        if kt < 1.5 * k:
            continue
        pairs = pd.DataFrame({"t": theirs[both], "m": mine[both]})
        # rows whose value of the mapped column is the usual one for the finer column's value
        usual = pairs.groupby(["t", "m"]).size().groupby(level="t").max().sum()
        if usual / len(pairs) < 0.95:
            continue
        candidates.append(col)
    if not candidates:
        return None
    other = _process_elsewhere(sample, candidates, groups)
    if other is None or _name_score(other.column, PROCESS) < _name_score(process, PROCESS):
        return None  # the names say the coarser one is the process (a machine can be finer)
    kt = len(np.unique(item_groups(sample[other.column])[~blank_values(sample[other.column])]))
    text = (f"'{process}' has {k:,} values, each the same for every row of a given '{other.column}' "
            f"value ({kt:,} values): it groups operations, as a work centre does. {other.sentence()}")
    return Problem(PROCESS, process, text, {other.column: PROCESS, process: IGNORE})


def _duration_fixed_within_items(sample, duration, groups, free) -> Problem | None:
    numbers = number_values(sample[duration])
    if numbers is None:
        return None  # text in a duration: normalising says which cells
    given = ~np.isnan(numbers)
    codes, _ = pd.factorize(numbers)
    if varies_within(np.where(given, groups, -1), codes) >= 0.1:
        return None
    other = propose_duration(sample, [c for c in free if number_values(sample[c]) is not None], groups)
    if other is None or "change within items" not in other.reason:
        return None
    text = (f"'{duration}' is the same on every row of most items: it describes the item (a size, a "
            f"weight), while a duration changes from step to step. {other.sentence()}")
    return Problem(DURATION, duration, text, {other.column: DURATION, duration: IGNORE})


# ---------------------------------------------------------------- deciding


def apply_fix(resolved: Mapping[str, str], fix: Mapping[str, str]) -> dict[str, str]:
    """`resolved` with the columns of `fix` moved to their new targets (a role taken over leaves
    its old column unmapped; a duration keeps its unit when it moves)."""
    out = dict(resolved)
    for source, target in fix.items():
        out.pop(source, None)
        if target == IGNORE:
            continue
        role = canonical(target)
        for s, t in list(out.items()):
            if canonical(t) == role:
                if role == DURATION:
                    target = t  # the unit the names gave
                del out[s]
        out[source] = target
    return out


def explicit_form(columns: Iterable[str], resolved: Mapping[str, str]) -> dict[str, str]:
    """`resolved` written so resolve_mapping() gives it back: every column a name would map that
    `resolved` leaves out is marked "-"."""
    out = dict(resolved)
    for source in detect_mapping([str(c) for c in columns]):
        if source not in out and source not in CANONICAL:
            out[source] = IGNORE
    return out


def _name_score(column: str, role: str) -> int:
    return name_scores(column).get(role, (0, ""))[0]


def _ambiguous(problem: Problem, resolved: Mapping[str, str]) -> bool:
    """True when names do not decide against the fix: for each role the fix gives a new column,
    the name of the column it replaces was a guess, or fits the role hardly better."""
    by_role = {canonical(t): s for s, t in resolved.items()}
    for source, target in problem.fix.items():
        if target == IGNORE:
            continue
        role = canonical(target)
        before = by_role.get(role)
        if before is None or before == source:
            continue
        old = _name_score(before, role)
        if old >= SURE_NAME and _name_score(source, role) < old - NAME_MARGIN:
            return False
    return True


def decide_mapping(frame: pd.DataFrame, explicit: Mapping[str, str] | None = None) -> Decision:
    """The mapping to read `frame` with: names (and `explicit`, which is never changed), with the
    roles whose names are ambiguous settled by the contents; disagreements left are `problems`
    unless every column they concern was given in `explicit` (confirmed)."""
    explicit = dict(explicit or {})
    columns = [str(c) for c in frame.columns]
    resolved = resolve_mapping(columns, explicit)
    confirmed = {s for s, t in explicit.items() if t != IGNORE}
    changed: list[str] = []
    problems: list[Problem] = []
    for _ in range(len(CANONICAL)):
        found = [p for p in check_mapping(frame, resolved) if p.column not in confirmed]
        settle = [p for p in found if _ambiguous(p, resolved) and not set(p.fix) & confirmed]
        problems = [p for p in found if p not in settle]
        if not settle:
            break
        resolved = apply_fix(resolved, settle[0].fix)
        changed.append(settle[0].text)
    else:
        problems = [p for p in check_mapping(frame, resolved) if p.column not in confirmed]
    return Decision(explicit_form(columns, resolved) | {s: t for s, t in explicit.items() if t == IGNORE},
                    resolved, changed, problems)


def describe(resolved: Mapping[str, str], quote: Callable[[str], str] = repr) -> str:
    """"item code 'ARTICULO', process code 'OPERACION', sequence 'FASE', duration 'TIEMPO_H' (hours)"."""
    units = {"duration_min": "minutes", "duration_h": "hours", "duration_s": "seconds"}
    parts = []
    by_role = {canonical(t): (s, t) for s, t in resolved.items()}
    for role in CANONICAL:
        if role in by_role:
            source, target = by_role[role]
            unit = f" ({units[target]})" if role == DURATION else ""
            parts.append(f"{ROLE_WORDS[role].removeprefix('the ')} {quote(source)}{unit}")
    return ", ".join(parts)
