"""The data contract: canonical columns, the aliases ERP exports use for them, and explicit mappings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from routing_core.errors import UserError

ITEM = "item_code"
PROCESS = "process_code"
SEQ = "seq"
DURATION = "duration_min"

CANONICAL = (ITEM, PROCESS, SEQ, DURATION)
REQUIRED = (ITEM, PROCESS)

# A duration kept in another unit maps to one of these targets and is converted to minutes.
DURATION_UNITS = {"duration_min": 1.0, "duration_h": 60.0, "duration_s": 1.0 / 60.0}
TARGETS = (ITEM, PROCESS, SEQ, *DURATION_UNITS)
# An explicit target meaning "not a canonical column": the column stays an attribute even if
# its name is a known alias (the dashboard's "—" choice).
IGNORE = "-"

# Aliases, compared after _key(): lower case, with every non-alphanumeric character removed.
ALIASES: dict[str, tuple[str, ...]] = {
    ITEM: (
        "item_code", "item_cd", "item", "item_no", "item_number", "itemid", "item_id",
        "part_no", "part_number", "part_code", "part_id", "partno", "part", "material_no",
        "job_cd", "job_code", "article", "article_no", "artikel", "artikelnr", "artikelnummer",
        "sku", "product_code", "prod_cd", "품목코드", "품번", "품목",
    ),
    PROCESS: (
        "process_code", "proc_cd", "process", "process_cd", "operation", "operation_code",
        "op_code", "oper_cd", "work_type", "activity", "step", "schritt", "arbeitsgang",
        "공정코드", "공정", "작업",
    ),
    SEQ: (
        "seq", "proc_seq", "op_seq", "oper_seq", "operation_seq", "sequence", "step_no",
        "op_no", "operation_no", "opno", "nr", "no", "position", "reihenfolge", "순서", "공정순서",
    ),
    "duration_min": (
        "duration_min", "duration", "run_time", "runtime", "run_time_min", "proc_time",
        "process_time", "cycle_time", "time_min", "minutes", "std_time", "dauer", "dauermin",
        "dauer_min", "작업시간", "소요시간",
    ),
    "duration_h": ("duration_h", "run_time_hr", "run_time_h", "hours", "time_h", "std_hours"),
    "duration_s": ("duration_s", "run_time_sec", "run_time_s", "seconds", "time_sec", "cycle_time_s"),
}


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z\uac00-\ud7a3]", "", str(name).lower())


_ALIAS_INDEX = {_key(alias): target for target, aliases in ALIASES.items() for alias in aliases}


def detect_mapping(columns: Iterable[str]) -> dict[str, str]:
    """Map source column -> target for every column whose name is a known alias (first one wins)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        target = _ALIAS_INDEX.get(_key(col))
        if target is None:
            continue
        canonical = DURATION if target in DURATION_UNITS else target
        if canonical in taken:
            continue
        mapping[col] = target
        taken.add(canonical)
    return mapping


def parse_map_args(pairs: Iterable[str] | None) -> dict[str, str]:
    """Parse `SOURCE=canonical` strings (the CLI's --map) into a mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs or ():
        source, sep, target = pair.rpartition("=")
        if not sep or not source or not target:
            raise UserError(f"--map '{pair}' is not SOURCE=canonical (e.g. --map PART_NO=item_code).")
        mapping[source] = target.strip()
    return mapping


def resolve_mapping(columns: Iterable[str], explicit: Mapping[str, str] | None = None) -> dict[str, str]:
    """Detected aliases overlaid with an explicit mapping; checks that sources exist and targets are unique."""
    columns = list(columns)
    explicit = dict(explicit or {})
    ignored = {s for s, t in explicit.items() if t == IGNORE}
    explicit = {s: t for s, t in explicit.items() if t != IGNORE}
    for source in ignored:
        if source in CANONICAL:
            raise UserError(
                f"Column '{source}' carries the canonical name {source}, so it is always used as such; "
                "rename it in the file to keep it as an attribute."
            )
    for source, target in explicit.items():
        if target not in TARGETS:
            raise UserError(
                f"Cannot map '{source}' to '{target}': the targets are {', '.join(TARGETS)}."
            )
        if source not in columns:
            raise UserError(
                f"The mapping names column '{source}', which is not in the file. "
                f"Columns found: {_list(columns)}."
            )
    explicit_canon = {DURATION if t in DURATION_UNITS else t for t in explicit.values()}
    mapping = {
        s: t
        for s, t in detect_mapping(columns).items()
        if s not in explicit
        and s not in ignored
        and (DURATION if t in DURATION_UNITS else t) not in explicit_canon
    }
    mapping.update(explicit)
    seen: dict[str, str] = {}
    for source, target in mapping.items():
        canonical = DURATION if target in DURATION_UNITS else target
        if canonical in seen:
            raise UserError(
                f"Columns '{seen[canonical]}' and '{source}' are both mapped to {canonical}; keep one."
            )
        seen[canonical] = source
    # A canonical name already in the file that is not mapped away is used as is.
    for canonical in CANONICAL:
        if canonical not in seen and canonical in columns and canonical not in mapping:
            mapping[canonical] = canonical
    return mapping


def mapping_from_choices(columns: Iterable[str], choices: Mapping[str, str | None]) -> dict[str, str]:
    """Explicit mapping from one chosen source column (or None) per target, as the dashboard asks for it.

    choices: {item_code, process_code, seq, duration_min|duration_h|duration_s: source or None}.
    A target left at None stays unmapped even when a column's name is an alias of it.
    """
    columns = list(columns)
    mapping: dict[str, str] = {}
    for target, source in choices.items():
        if target not in TARGETS:
            raise UserError(f"Unknown target '{target}': the targets are {', '.join(TARGETS)}.")
        if source is None:
            continue
        if source not in columns:
            raise UserError(f"Column '{source}' is not in the file. Columns found: {_list(columns)}.")
        if source in mapping:
            raise UserError(f"Column '{source}' is chosen for both {mapping[source]} and {target}; pick one.")
        mapping[source] = target
    chosen = {DURATION if t in DURATION_UNITS else t for t in mapping.values()}
    for source, target in detect_mapping(columns).items():
        canonical = DURATION if target in DURATION_UNITS else target
        if source not in mapping and canonical not in chosen:
            mapping[source] = IGNORE
    return mapping


def _list(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")
