"""What an analyst changed against the candidate they started from, step by step.

Steps are matched by process code in order (a longest matching subsequence, `difflib`); a step
that left one place and came back at another is *moved*, a step put in place of another is
*renamed*, the others are *inserted* or *removed*; on matched steps a changed time or operation
attribute is a change of its own.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence

TIME_TOLERANCE = 1e-6  # minutes: a time typed back to what it was is no change

INSERTED, REMOVED, MOVED, RENAMED, TIME, ATTRIBUTE = "inserted", "removed", "moved", "renamed", "time", "attribute"


def _code(step: Mapping) -> str:
    return str(step.get("process_code"))


def _time(step: Mapping) -> float | None:
    value = step.get("duration_min")
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _compare(before: Mapping, after: Mapping, position: int, out: list[dict]) -> None:
    """Time and attribute changes of one matched pair of steps (`position`: 1-based in the result)."""
    code = _code(after)
    t0, t1 = _time(before), _time(after)
    if (t0 is None) != (t1 is None) or (t0 is not None and abs(t0 - t1) > TIME_TOLERANCE):
        out.append({"change": TIME, "step": position, "process_code": code, "before": t0, "after": t1})
    a0, a1 = before.get("attributes") or {}, after.get("attributes") or {}
    for name in sorted(set(a0) | set(a1)):
        v0, v1 = a0.get(name), a1.get(name)
        if _blank(v0) and _blank(v1):
            continue
        if _blank(v0) or _blank(v1) or str(v0) != str(v1):
            out.append({"change": ATTRIBUTE, "step": position, "process_code": code, "attribute": name,
                        "before": None if _blank(v0) else v0, "after": None if _blank(v1) else v1})


def routing_diff(candidate: Sequence[Mapping], accepted: Sequence[Mapping]) -> list[dict]:
    """The changes from `candidate` to `accepted` (lists of steps: process_code, duration_min,
    attributes), in the order of the accepted routing; an empty list when they are the same."""
    a = [_code(s) for s in candidate]
    b = [_code(s) for s in accepted]
    pairs: list[tuple[int, int]] = []
    removed: list[int] = []
    inserted: list[int] = []
    blocks: list[tuple[list[int], list[int]]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs.extend(zip(range(i1, i2), range(j1, j2), strict=True))
        else:
            removed.extend(range(i1, i2))
            inserted.extend(range(j1, j2))
            blocks.append((list(range(i1, i2)), list(range(j1, j2))))
    moved: dict[int, int] = {}
    for j in inserted:  # a code that left one place and came back at another
        for i in removed:
            if i not in moved and a[i] == b[j]:
                moved[i] = j
                break
    taken_b = set(moved.values())
    renamed: dict[int, int] = {}
    for olds, news in blocks:  # what stands where another step stood
        olds = [i for i in olds if i not in moved]
        news = [j for j in news if j not in taken_b]
        for i, j in zip(olds, news, strict=False):
            renamed[i] = j
    out: list[dict] = []
    by_b: dict[int, list[dict]] = {}
    for i, j in pairs:
        _compare(candidate[i], accepted[j], j + 1, by_b.setdefault(j, []))
    for i, j in moved.items():
        by_b.setdefault(j, []).append({"change": MOVED, "step": j + 1, "process_code": b[j],
                                       "before": i + 1, "after": j + 1})
        _compare(candidate[i], accepted[j], j + 1, by_b[j])
    for i, j in renamed.items():
        by_b.setdefault(j, []).append({"change": RENAMED, "step": j + 1, "process_code": b[j],
                                       "before": a[i], "after": b[j]})
        _compare(candidate[i], accepted[j], j + 1, by_b[j])
    paired_b = taken_b | set(renamed.values())
    for j in inserted:
        if j not in paired_b:
            by_b.setdefault(j, []).append({"change": INSERTED, "step": j + 1, "process_code": b[j],
                                           "before": None, "after": _time(accepted[j])})
    for j in sorted(by_b):
        out.extend(by_b[j])
    for i in removed:
        if i not in moved and i not in renamed:
            out.append({"change": REMOVED, "step": i + 1, "process_code": a[i], "before": _time(candidate[i]),
                        "after": None})
    return out


def _minutes(value: object) -> str:
    return "no time" if value is None else f"{float(value):g} min"


def describe(change: Mapping) -> str:
    """One change in words, e.g. "step 3 LAVADO: time 12 min → 15 min"."""
    kind, code, step = change.get("change"), change.get("process_code"), change.get("step")
    if kind == INSERTED:
        return f"step {step} {code}: inserted"
    if kind == REMOVED:
        return f"{code} (step {step} of the candidate): removed"
    if kind == MOVED:
        return f"{code}: moved from step {change.get('before')} to step {change.get('after')}"
    if kind == RENAMED:
        return f"step {step}: {change.get('before')} renamed {change.get('after')}"
    if kind == TIME:
        return f"step {step} {code}: time {_minutes(change.get('before'))} → {_minutes(change.get('after'))}"
    if kind == ATTRIBUTE:
        before = "blank" if change.get("before") is None else change.get("before")
        after = "blank" if change.get("after") is None else change.get("after")
        return f"step {step} {code}: {change.get('attribute')} {before} → {after}"
    return str(dict(change))
