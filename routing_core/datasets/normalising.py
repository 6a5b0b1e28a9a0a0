"""Normalising a RawTable to the data contract: the mapping applied, codes and numbers checked,
rows grouped by item, attributes classified and the dirt found reported as warnings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from routing_core.datasets.eventlog import as_routings
from routing_core.datasets.profiling import (
    arrow_text,
    blank_count,
    classify_attributes,
    duplicate_counts,
    item_index,
)
from routing_core.datasets.reading import Source, python_encoding, read_csv, read_table
from routing_core.datasets.tables import Dataset, RawTable, pending_sha256
from routing_core.mapping.proposals import MissingColumns, propose_mapping
from routing_core.mapping.schema import (
    DURATION,
    DURATION_UNITS,
    ITEM,
    PROCESS,
    REQUIRED,
    SEQ,
    resolve_mapping,
)
from routing_core.platform.errors import UserError
from routing_core.platform.formatting import percent
from routing_core.platform.limits import MAX_ITEMS, MAX_PROCESS_CODES

MAX_EXAMPLES = 5


def _numeric(frame: pd.DataFrame, col: str, label: str, source_name: str) -> pd.Series:
    """Parse a text column as numbers; text that is not a number is an error with examples and lines."""
    raw = frame[col]
    if pd.api.types.is_numeric_dtype(raw):
        return _finite(raw.astype("float64"), raw, label, source_name)
    text = raw.astype("str").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & raw.notna() & (text != "")
    if bad.any():
        # A decimal comma (35,5) is common in European exports.
        comma = text[bad].str.fullmatch(r"-?\d+,\d+")
        if comma.all():
            values = values.where(~bad, pd.to_numeric(text[bad].str.replace(",", "."), errors="coerce"))
            bad = values.isna() & raw.notna() & (text != "")
    if bad.any():
        examples = _examples(bad.to_numpy(), raw)
        raise UserError(
            f"{source_name}: column '{label}' must hold numbers, but {int(bad.sum())} cell(s) do not "
            f"({examples})."
        )
    return _finite(values.astype("float64"), raw, label, source_name)


# No operation takes longer (about 1,900 years); larger values are typos that overflow sums.
MAX_DURATION_MIN = 1e9
# A numeric attribute beyond what float32 holds (the model's features) is kept as a blank cell.
MAX_ATTRIBUTE = float(np.finfo(np.float32).max)


def _examples(bad: np.ndarray, raw: pd.Series) -> str:
    """The first offending cells with their file lines: "line 3: 'abc'" (text quoted), "line 4: -4.0"."""
    quote = not pd.api.types.is_numeric_dtype(raw)
    cells = ((i, raw.iloc[i]) for i in np.flatnonzero(bad)[:MAX_EXAMPLES])
    return ", ".join(f"line {i + 2}: {str(v)[:30]!r}" if quote else f"line {i + 2}: {v}" for i, v in cells)


def _finite(values: pd.Series, raw: pd.Series, label: str, source_name: str,
            limit: float = np.inf, unit: str = "") -> pd.Series:
    """`values` unless a cell is infinite ('inf', '1e309') or above `limit`."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values.to_numpy()) | (values.to_numpy() > limit)
    if bad.any():
        examples = _examples(bad, raw)
        bound = f" (at most {limit:g}{unit})" if np.isfinite(limit) else ""
        raise UserError(
            f"{source_name}: column '{label}' has {int(bad.sum())} infinite or too large "
            f"number(s){bound} ({examples})."
        )
    return values


def normalise(raw: RawTable, mapping: Mapping[str, str] | None = None) -> Dataset:
    """Apply the column mapping, check the contract, and return the canonical operations table."""
    frame = raw.frame
    full = resolve_mapping(frame.columns, mapping)
    sources = {target: source for source, target in full.items()}
    codes = {sources[t] for t in (ITEM, PROCESS) if t in sources}
    numeric_codes = {c for c in codes if not pd.api.types.is_string_dtype(frame[c])}
    if numeric_codes and raw.delimiter is not None and raw.data:
        # A code column was read as numbers: read again with it as text to keep leading zeros.
        frame = read_csv(raw.data, python_encoding(raw.encoding), raw.delimiter, raw.source_name, codes)
    missing = [c for c in REQUIRED if c not in sources]
    if missing:
        raise MissingColumns(
            f"{raw.source_name}: required column(s) {', '.join(missing)} not found after mapping.",
            missing, frame.columns, propose_mapping(frame, full), single_column_hint(frame),
        )
    warnings: list[str] = list(raw.notes)
    out = pd.DataFrame(index=frame.index)
    for target in (ITEM, PROCESS):
        out[target] = _code_text(frame[sources[target]])
    unit = next((u for u in DURATION_UNITS if u in sources), None)
    if unit is not None:
        src = sources[unit]
        minutes = _numeric(frame, src, src, raw.source_name) * DURATION_UNITS[unit]
        minutes = _finite(minutes, frame[src], src, raw.source_name, MAX_DURATION_MIN, " minutes")
        negative = minutes < 0
        if negative.any():
            examples = _examples(negative.to_numpy(), frame[src])
            raise UserError(
                f"{raw.source_name}: column '{src}' has {int(negative.sum())} negative duration(s) "
                f"({examples}). Durations must be 0 or more."
            )
        out[DURATION] = minutes
    else:
        out[DURATION] = np.nan
        warnings.append("No duration column: routings are learned without times.")
    if SEQ in sources:
        out[SEQ] = _numeric(frame, sources[SEQ], sources[SEQ], raw.source_name)
    mapped = set(full)
    attributes = [c for c in frame.columns if c not in mapped]
    kept: dict[str, pd.Series] = {}
    for col in attributes:
        values = frame[col]
        if pd.api.types.is_float_dtype(values):
            with np.errstate(invalid="ignore"):  # beyond float32: '1e309', 'inf', '1e308' — dirt
                infinite = np.abs(values.to_numpy(dtype="float64", na_value=np.nan)) > MAX_ATTRIBUTE
            if infinite.any():
                values = values.mask(infinite)
                warnings.append(f"{col}: {int(infinite.sum()):,} infinite or too large number(s) treated as blank.")
        kept[col] = as_one_kind(values)
    for col in [c for c in kept if c in out.columns]:  # a second column under a canonical name
        out[col] = kept.pop(col)
    if kept:  # all at once: a column at a time is slow for thousands of columns
        out = pd.concat([out, pd.DataFrame(kept, index=frame.index)], axis=1)

    unusable = out[ITEM].isna() | out[PROCESS].isna()
    if unusable.all():
        raise UserError(
            f"{raw.source_name}: no usable rows — every row lacks {ITEM} or {PROCESS}."
        )
    if unusable.any():
        warnings.append(
            f"{int(unusable.sum()):,} row(s) without {ITEM} or {PROCESS} were skipped "
            f"(first at line {int(np.flatnonzero(unusable.to_numpy())[0]) + 2})."
        )
        out = out[~unusable]
    MAX_PROCESS_CODES.check(_distinct(out[PROCESS]), raw.source_name)

    if SEQ in out:
        missing_seq = out[SEQ].isna()
        if missing_seq.any():
            warnings.append(f"{int(missing_seq.sum()):,} row(s) without {SEQ}: file order used there.")
            order_in_item = out.groupby(ITEM, sort=False).cumcount() + 1
            out[SEQ] = out[SEQ].fillna(order_in_item.astype("float64"))
    else:
        out[SEQ] = (out.groupby(ITEM, sort=False).cumcount() + 1).astype("float64")
    idx = item_index(out)
    if not _grouped_and_ordered(out, idx):
        out["_line"] = np.arange(len(out))
        out = out.sort_values([ITEM, SEQ, "_line"], kind="stable").drop(columns="_line")
        idx = item_index(out)
    MAX_ITEMS.check(int(idx[-1]) + 1 if len(idx) else 0, raw.source_name)  # grouped: items are runs
    out = out.reset_index(drop=True)

    item_attrs, op_attrs, disagreeing = classify_attributes(out, attributes, idx)
    duplicates = duplicate_counts(out, idx)
    warnings.extend(_dirt_warnings(out, attributes, disagreeing, duplicates))
    repeated = duplicates[1]
    if SEQ in sources and len(out) and repeated / len(out) > MAPPING_DOUBT_SHARE:
        # Many rows sharing an (item, seq) pair: the mapped column does not tell items apart.
        warnings.insert(0, (
            f"{repeated / len(out):.0%} of the rows repeat an ({ITEM}, {SEQ}) pair: is '{sources[ITEM]}' "
            f"really the item code, and '{sources[SEQ]}' the step number? Check the mapping."
        ))
    dataset = Dataset(
        ops=out,
        mapping=full,
        item_attributes=item_attrs,
        operation_attributes=op_attrs,
        warnings=warnings,
        source_name=raw.source_name,
        sha256=pending_sha256(raw),  # hashed only if asked for
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        inconsistent_items=disagreeing,
    )
    return dataset.knowing_item_numbers(idx)


def _distinct(values: pd.Series) -> int:
    """Distinct non-blank values of a text column."""
    return int(pc.count_distinct(arrow_text(values), mode="only_valid").as_py())


def _code_text(values: pd.Series) -> pd.Series:
    """Codes as text: surrounding blanks removed, an empty code a blank cell."""
    text = arrow_text(values if pd.api.types.is_string_dtype(values) else values.astype("str"))
    if may_need_trim(text):
        text = pc.utf8_trim_whitespace(text)
        empty = pc.equal(text, "")
        if pc.any(empty).as_py():
            text = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    return pd.Series(pd.array(text, dtype="str"), index=values.index)


def may_need_trim(text: pa.Array) -> bool:
    """False when no value is empty and none starts or ends with a space, a control character or
    a non-ASCII byte (which may be Unicode white space): checked on the raw buffers, no copy."""
    if len(text) == 0 or not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return True
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(text.buffers()[1], dtype=width)[text.offset : text.offset + len(text) + 1]
    if np.any(offsets[1:] <= offsets[:-1]):
        return True  # an empty value (or a blank cell)
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    ends = np.concatenate([data[offsets[:-1]], data[offsets[1:] - 1]])
    return bool(np.any((ends <= 0x20) | (ends >= 0x80)))


def _grouped_and_ordered(ops: pd.DataFrame, idx: np.ndarray) -> bool:
    """True when rows are already grouped by item with seq non-decreasing (exports usually are)."""
    if len(idx) == 0:
        return True
    # codes in sorted order are grouped for sure (cheap: compare them where they change);
    # otherwise count the distinct ones
    starts = np.flatnonzero(idx[1:] != idx[:-1]) + 1
    codes = arrow_text(ops[ITEM])
    is_sorted = pc.all(pc.less_equal(codes.take(starts - 1), codes.take(starts))).as_py() is not False
    if not is_sorted and int(idx[-1]) + 1 != ops[ITEM].nunique():
        return False
    seq = ops[SEQ].to_numpy()
    return bool(np.all((seq[1:] >= seq[:-1]) | (idx[1:] != idx[:-1])))


# More rows than this share repeating an (item_code, seq) pair put the mapping in doubt.
MAPPING_DOUBT_SHARE = 0.2


def as_one_kind(values: pd.Series) -> pd.Series:
    """An attribute column converted once, on reading, to one kind of value: a column of Python
    objects (dates a reader parsed, dates beside text, numbers beside text) becomes text, its
    blanks kept. Every table showing it then converts to Arrow without a type error, and the model
    reads the same text it read from the objects (str of each value)."""
    if values.dtype != object:
        return values
    blank = values.isna()
    text = values.astype(object).where(blank, values.map(str))
    return pd.Series(pd.array(text.where(~blank, None), dtype="str"), index=values.index)


def single_column_hint(frame: pd.DataFrame) -> str:
    if len(frame.columns) != 1:
        return ""
    return " The file has a single column: are its columns separated by ',', ';', tab or '|'?"


def _dirt_warnings(
    ops: pd.DataFrame, attributes: list[str], disagreeing: dict[str, int], duplicates: tuple[int, int]
) -> list[str]:
    warnings = []
    for col, n in disagreeing.items():
        warnings.append(f"{col}: {n:,} item(s) have different values on different rows (first one used).")
    dup_rows, dup_seq = duplicates
    if dup_rows:
        warnings.append(f"{dup_rows:,} duplicate row(s).")
    if dup_seq:
        warnings.append(f"{dup_seq:,} row(s) repeat an ({ITEM}, {SEQ}) pair.")
    if DURATION in ops and ops[DURATION].notna().any():
        blank = blank_count(ops[DURATION])
        if blank:
            warnings.append(f"{DURATION}: {blank:,} blank cell(s) ({percent(blank / len(ops))} of rows).")
    for col in attributes:
        rate = blank_count(ops[col]) / len(ops)
        if rate > 0:
            warnings.append(f"{col}: {percent(rate)} of rows blank (the missing values table has the share per item).")
    return warnings


def read_routings(raw: RawTable, mapping: Mapping[str, str] | None = None, event_log: bool = True) -> Dataset:
    """normalise(), with an event log (case, activity, timestamps) read as routings first unless
    `event_log` is False; the reading is said in the first warning and kept in `source`."""
    frame, mapping, reading = as_routings(raw.frame, mapping, enabled=event_log)
    if reading is None:
        return normalise(raw, mapping)
    codes = {reading.case, reading.activity}
    if raw.delimiter is not None and raw.data and not all(
            pd.api.types.is_string_dtype(raw.frame[c]) for c in codes):
        # a code column read as numbers: read again as text (leading zeros), then as a log
        frame, mapping, reading = as_routings(
            read_csv(raw.data, python_encoding(raw.encoding), raw.delimiter, raw.source_name, codes),
            mapping, enabled=event_log)
    steps = RawTable(frame, raw.encoding, None, pending_sha256(raw), raw.source_name)
    dataset = normalise(steps, mapping)
    dataset.delimiter = raw.delimiter
    dataset.warnings.insert(0, reading.sentence())
    dataset.source = {**dataset.source, "event_log": reading.to_dict()}
    return dataset


def load_dataset(source: Source, mapping: Mapping[str, str] | None = None, name: str | None = None,
                 event_log: bool = True) -> Dataset:
    """Read and normalise a file in one step (what the CLI does); see read_routings."""
    return read_routings(read_table(source, name=name), mapping, event_log)
