"""Event logs read as routings.

An MES or process-mining log has one row per event or report: a case (the work order), an
activity and a timestamp (or a start and a complete timestamp), sometimes a lifecycle column
saying whether the row starts or completes the activity. Read as a routing export, every report
row would become a step and the times would be lost. Here a log is recognised from its columns
(names propose, contents decide) and turned into one row per step:

- the case's activities in start order;
- consecutive reports of one activity merged into one step;
- the step's time: complete − start summed over its reports, or, when the log has a single
  timestamp, the time to the next step's start (the last step's time is then unknown);
- lifecycle rows folded: the k-th start of an activity in a case paired with its k-th complete;
  other transitions (schedule, suspend …) dropped;
- timestamp and lifecycle columns dropped (nothing to carry onto a predicted step); every other
  column keeps the value of the step's first report, so an attribute of the case (part
  description, quantity) stays constant within the case and is read as an item attribute.

Imports no sibling module: `normalising.read_routings` calls `as_routings` before it normalises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from routing_core.mapping.schema import (
    DURATION,
    DURATION_UNITS,
    IGNORE,
    ITEM,
    PROCESS,
    SEQ,
    detect_mapping,
)

# Share of a column's non-blank values that must read as date-times for it to be a timestamp.
TIMESTAMP_SHARE = 0.95
# Share of the cases with two rows or more whose timestamp changes within the case.
VARYING_SHARE = 0.5
SAMPLE = 5000

_CASE_WORDS = {
    "case", "caseid", "order", "workorder", "wo", "job", "jobno", "trace", "auftrag", "auftragsnr",
    "fertigungsauftrag", "fa", "caso", "orden", "pedido", "commande", "ordre", "ordine", "lot",
    "ticket", "of", "ot", "주문", "오더", "작업지시", "订单", "工单", "案例", "指図",
}
_ACTIVITY_WORDS = {
    "activity", "activities", "task", "event", "operation", "op", "step", "concept", "process",
    "aktivitaet", "taetigkeit", "arbeitsgang", "actividad", "tarea", "operacion", "activite",
    "tache", "attivita", "operazione", "atividade", "작업", "공정", "活动", "工序", "作業", "工程",
}
_START_WORDS = {
    "start", "started", "starttime", "begin", "beginn", "from", "von", "inicio", "comienzo",
    "debut", "inizio", "시작", "开始", "開始",
}
_END_WORDS = {
    "complete", "completed", "completion", "end", "ended", "finish", "finished", "stop", "to",
    "bis", "ende", "fin", "final", "fim", "termine", "종료", "완료", "结束", "完成", "終了",
}
_START_VALUES = {"start", "started", "begin", "beginn", "inicio", "debut", "inizio", "시작", "开始", "開始"}
_END_VALUES = {"complete", "completed", "end", "ended", "finish", "finished", "done", "ende", "fin",
               "terminado", "termine", "완료", "종료", "完成", "结束", "終了"}
_OTHER_VALUES = {"schedule", "scheduled", "assign", "reassign", "suspend", "resume", "withdraw",
                 "abort", "ateabort", "piabort", "autoskip", "manualskip", "unknown", "pause"}
# A date: 2012/1/29, 29.01.2012, 2012-01-29T10:00, 1/29/2012 (a time may follow).
_DATE = re.compile(r"\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*$")


def _fold(name: object) -> str:
    text = unicodedata.normalize("NFKD", str(name).replace("ä", "ae").replace("ö", "oe").replace("ü", "ue"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def _tokens(name: object) -> list[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name))
    return re.findall(r"[^\W_]+", _fold(spaced))


def _named(name: object, words: set[str]) -> bool:
    return any(t in words for t in _tokens(name))


@dataclass(frozen=True)
class EventLogColumns:
    """The columns that make a file an event log. `start` and `complete`: at least one is set
    (one alone is the log's single timestamp); `lifecycle` only with a single timestamp."""

    case: str
    activity: str
    start: str | None
    complete: str | None
    lifecycle: str | None = None

    @property
    def timestamps(self) -> list[str]:
        return [c for c in (self.start, self.complete) if c is not None]


@dataclass
class EventLogReading:
    """What reading a log as routings did, in numbers, and one sentence for the user."""

    case: str
    activity: str
    start: str | None
    complete: str | None
    lifecycle: str | None
    rows: int
    cases: int
    steps: int
    merged_reports: int
    lifecycle_rows_folded: int
    rows_without_time: int
    negative_times: int
    timing: str
    rows_without_case_or_activity: int = 0  # "complete - start" or "consecutive starts"

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        times = (f"'{self.start}' to '{self.complete}'" if self.start and self.complete
                 else f"'{self.start or self.complete}'")
        parts = [
            f"Read as an event log: case '{self.case}', activity '{self.activity}', time {times}"
            + (f", lifecycle '{self.lifecycle}'" if self.lifecycle else "") + ".",
            f"{self.rows:,} rows became {self.steps:,} steps of {self.cases:,} cases "
            f"({self.merged_reports:,} repeated report(s) of a step merged"
            + (f", {self.lifecycle_rows_folded:,} lifecycle row(s) folded" if self.lifecycle else "") + ").",
            "Step times are complete − start, summed over a step's reports."
            if self.timing == "complete - start"
            else "Step times run from a step's start to the next step's start (the last step of a case has none).",
        ]
        if self.rows_without_case_or_activity:
            parts.append(f"{self.rows_without_case_or_activity:,} row(s) without a case or an activity were left out.")
        if self.rows_without_time:
            parts.append(f"{self.rows_without_time:,} row(s) without a readable time were left out.")
        if self.negative_times:
            parts.append(f"{self.negative_times:,} report(s) complete before they start: their time is left blank.")
        return " ".join(parts)


def parse_times(values: pd.Series) -> pd.Series | None:
    """The column as date-times (NaT where blank or unreadable), or None when it does not hold
    date-times (numbers, codes, words)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        times = pd.to_datetime(values)
        return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times
    if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
        return None
    text = values.astype("str").where(values.notna())
    present = text.dropna()
    present = present[present.str.strip() != ""]
    if present.empty:
        return None
    sample = present.iloc[:SAMPLE]
    if sample.str.fullmatch(_DATE.pattern).mean() < TIMESTAMP_SHARE:
        return None
    dayfirst = _day_first(sample)
    best = None
    for fmt in (None, "mixed"):  # one format inferred (fast), else each value on its own
        try:
            parsed = pd.to_datetime(text, errors="coerce", format=fmt, dayfirst=dayfirst, utc=True)
        except (ValueError, TypeError, OverflowError):
            continue
        best = parsed
        if parsed[present.index].notna().mean() >= TIMESTAMP_SHARE:
            break
    if best is None or best[present.index].notna().mean() < TIMESTAMP_SHARE:
        return None
    return best.dt.tz_localize(None)  # every time in UTC (offsets may differ row to row)


_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([-/.])(\d{1,2})[-/.]\d{2,4}")


def _day_first(sample: pd.Series) -> bool:
    """Whether dates written with the year last put the day first: a first number above 12 says
    so, a second number above 12 says not; otherwise dots (29.01.2012) are read day first."""
    parts = sample.str.extract(_NUMERIC_DATE).dropna()
    if parts.empty:
        return False
    first, second = parts[0].astype(int), parts[2].astype(int)
    if (first > 12).any():
        return True
    if (second > 12).any():
        return False
    return bool((parts[1] == ".").mean() > 0.5)


def _varies_within(cases: pd.Series, times: pd.Series) -> bool:
    """True when the time changes within most cases of two rows or more."""
    frame = pd.DataFrame({"c": cases.to_numpy(), "t": times.to_numpy()}).dropna()
    if frame.empty:
        return False
    sizes = frame.groupby("c", sort=False)["t"].agg(["size", "nunique"])
    multi = sizes[sizes["size"] >= 2]
    return len(multi) > 0 and float((multi["nunique"] >= 2).mean()) >= VARYING_SHARE


def _timed(times: pd.Series) -> bool:
    """True when most values carry a time of day (events are stamped to the minute)."""
    present = times.dropna()
    return len(present) > 0 and float((present != present.dt.normalize()).mean()) >= VARYING_SHARE


def _lifecycle_kind(values: pd.Series) -> pd.Series:
    """"start", "complete" or "other" per row of a lifecycle column (None for unknown words)."""
    key = values.astype("str").map(lambda v: re.sub(r"[^\w]", "", _fold(v)))
    kind = pd.Series(None, index=values.index, dtype="object")
    kind[key.isin(_START_VALUES)] = "start"
    kind[key.isin(_END_VALUES)] = "complete"
    kind[key.isin(_OTHER_VALUES)] = "other"
    return kind


def _find_lifecycle(frame: pd.DataFrame, skip: set[str]) -> str | None:
    for col in frame.columns:
        if col in skip or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        values = frame[col].dropna()
        if values.empty or values.nunique() > 20:
            continue
        kind = _lifecycle_kind(values)
        if kind.notna().mean() >= 0.9 and (kind == "start").any() and (kind == "complete").any():
            return str(col)
    return None


def _role_column(frame: pd.DataFrame, explicit: str | None, by_name: str | None, words: set[str],
                 skip: set[str]) -> str | None:
    """The explicit column, else one named with `words` whose values repeat, else `by_name`."""
    if explicit is not None:
        return explicit
    for col in frame.columns:
        if col not in skip and _named(col, words):
            values = frame[col].dropna()
            if 2 <= values.nunique() < len(values):
                return str(col)
    return by_name if by_name is not None and by_name not in skip else None


def detect_event_log(frame: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> EventLogColumns | None:
    """The event-log columns of a file, or None when it is not an event log.

    `mapping` (source → target, as given by the user) names the case (item_code) and activity
    (process_code) if the names do not; a sequence or duration column, mapped or recognised by
    name, makes the file a routing export. The timestamp(s) must change within most cases.
    """
    mapping = dict(mapping or {})
    explicit = {t: s for s, t in mapping.items() if t != IGNORE}
    if SEQ in explicit or any(t in explicit for t in DURATION_UNITS):
        return None
    ignored = {s for s, t in mapping.items() if t == IGNORE}
    times = {}
    for col in _date_like(frame):
        if col in explicit.values() or col in ignored:
            continue
        parsed = parse_times(frame[col])
        if parsed is not None:
            times[str(col)] = parsed
    if not times:
        return None
    # a column named like a duration ("Time") that holds date-times is a timestamp
    detected = {t: s for s, t in detect_mapping(frame.columns).items() if s not in ignored and s not in times}
    if SEQ in detected or any(t in detected for t in DURATION_UNITS):
        return None
    skip = set(times) | ignored
    case = _role_column(frame, explicit.get(ITEM), detected.get(ITEM), _CASE_WORDS, skip)
    if case is None:
        from routing_core.mapping.proposals import propose_mapping  # contents: rows in blocks

        case = next((p.column for p in propose_mapping(frame.drop(columns=list(skip)), explicit)
                     if p.target == ITEM and p.confident), None)
    if case is None:
        return None
    activity = _role_column(frame, explicit.get(PROCESS), detected.get(PROCESS), _ACTIVITY_WORDS, skip | {case})
    if activity is None:
        return None
    varying = [c for c, t in times.items() if _varies_within(frame[case], t)]
    if not varying:
        return None  # dates of the case (order date, creation date): attributes, not events
    starts = [c for c in varying if _named(c, _START_WORDS)]
    ends = [c for c in varying if _named(c, _END_WORDS) and c not in starts]
    start = complete = None
    if starts and ends:
        start, complete = starts[0], ends[0]
    elif len(varying) >= 2:
        start, complete = _ordered_pair(varying, times)
    if start is None:
        only = (starts or varying)[0]
        if not _timed(times[only]):
            return None  # one date per row without a time of day: a "changed on" date, not an event
        start, complete = (None, only) if only in ends else (only, None)
    lifecycle = None
    if complete is None or start is None:
        lifecycle = _find_lifecycle(frame, skip | {case, activity})
    return EventLogColumns(case, activity, start, complete, lifecycle)


def _date_like(frame: pd.DataFrame, rows: int = 20) -> list:
    """The columns that may hold date-times: date-time typed, or text with a date among the
    first rows (numbers never are). Checked on the first rows at once, so a file of thousands of
    columns is screened fast."""
    kinds = [getattr(d, "kind", "O") for d in frame.dtypes]
    head = frame.iloc[:rows].to_numpy(dtype=object)
    out = []
    for i, col in enumerate(frame.columns):
        if kinds[i] == "M":
            out.append(col)
        elif kinds[i] not in "biufcm" and any(isinstance(v, str) and _DATE.match(v) for v in head[:, i]):
            out.append(col)
    return out


def _ordered_pair(columns: list[str], times: dict[str, pd.Series]) -> tuple[str | None, str | None]:
    """The first two columns where one is never earlier than the other on the rows with both."""
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            both = times[a].notna() & times[b].notna()
            if not both.any():
                continue
            later = (times[b][both] >= times[a][both]).mean()
            if later >= TIMESTAMP_SHARE:
                return a, b
            if later <= 1 - TIMESTAMP_SHARE:
                return b, a
    return None, None


def read_event_log(frame: pd.DataFrame, cols: EventLogColumns) -> tuple[pd.DataFrame, EventLogReading]:
    """One row per step: the case and activity columns (as text), `seq`, `duration_min` and the
    other columns (the value of the step's first report); sorted by case and seq."""
    case = frame[cols.case].astype("str").str.strip().where(frame[cols.case].notna())
    activity = frame[cols.activity].astype("str").str.strip().where(frame[cols.activity].notna())
    usable = case.notna() & (case != "") & activity.notna() & (activity != "")
    start = parse_times(frame[cols.start]) if cols.start else None
    end = parse_times(frame[cols.complete]) if cols.complete else None
    dropped = [*cols.timestamps, *([cols.lifecycle] if cols.lifecycle else [])]
    others = [c for c in frame.columns if c not in dropped and c not in (cols.case, cols.activity)]
    base = frame[others].copy()
    base.insert(0, "_case", case)
    base.insert(1, "_activity", activity)
    base["_line"] = np.arange(len(frame))
    folded = 0
    if start is not None and end is not None:
        base["_start"], base["_end"] = start.to_numpy(), end.to_numpy()
    else:
        one = start if start is not None else end
        base["_start"], base["_end"] = one.to_numpy(), pd.NaT
    base = base[usable.to_numpy()]
    if cols.lifecycle and (start is None or end is None):
        base, folded = _fold_lifecycle(base, frame[cols.lifecycle])
    # a report with no start is placed at its completion
    base["_start"] = base["_start"].fillna(base["_end"])
    without_time = int(base["_start"].isna().sum())
    base = base[base["_start"].notna()]
    span = (base["_end"] - base["_start"]).dt.total_seconds() / 60.0
    negative = int((span < 0).sum())
    base["_span"] = span.where(span >= 0)
    base = base.sort_values(["_case", "_start", "_line"], kind="stable")
    new_step = (base["_case"] != base["_case"].shift()) | (base["_activity"] != base["_activity"].shift())
    base["_step"] = new_step.cumsum()
    groups = base.groupby("_step", sort=True)
    steps = groups.first()
    has_end = bool(base["_end"].notna().any())
    if has_end:
        duration = groups["_span"].sum(min_count=1)
    else:  # a single timestamp: a step lasts until the next step of its case starts
        nxt = steps["_start"].shift(-1).where(steps["_case"].shift(-1) == steps["_case"])
        duration = (nxt - steps["_start"]).dt.total_seconds() / 60.0
    out = pd.DataFrame({
        cols.case: steps["_case"].to_numpy(),
        cols.activity: steps["_activity"].to_numpy(),
        SEQ: (steps.groupby("_case", sort=False).cumcount() + 1).to_numpy(dtype="float64"),
        DURATION: duration.to_numpy(dtype="float64"),
    })
    for col in others:
        if col not in out.columns:
            out[col] = steps[col].to_numpy()
    out = out.sort_values([cols.case, SEQ], kind="stable").reset_index(drop=True)
    reading = EventLogReading(
        case=cols.case, activity=cols.activity, start=cols.start, complete=cols.complete,
        lifecycle=cols.lifecycle, rows=int(len(frame)), cases=int(out[cols.case].nunique()),
        steps=int(len(out)), merged_reports=int(len(base) - len(out)), lifecycle_rows_folded=folded,
        rows_without_time=without_time, negative_times=negative,
        timing="complete - start" if has_end else "consecutive starts",
        rows_without_case_or_activity=int((~usable).sum()),
    )
    return out, reading


def _fold_lifecycle(base: pd.DataFrame, lifecycle: pd.Series) -> tuple[pd.DataFrame, int]:
    """Start and complete rows paired into reports: the k-th start of an activity in a case
    with its k-th complete (in time order). Other transitions are dropped."""
    kind = _lifecycle_kind(lifecycle.loc[base.index])
    starts = base[(kind == "start").to_numpy()].sort_values(["_start", "_line"], kind="stable")
    ends = base[(kind == "complete").to_numpy()].sort_values(["_start", "_line"], kind="stable")
    key = ["_case", "_activity"]
    starts = starts.assign(_k=starts.groupby(key, sort=False).cumcount())
    ends = ends.assign(_k=ends.groupby(key, sort=False).cumcount())
    paired = starts.merge(ends[[*key, "_k", "_start"]].rename(columns={"_start": "_close"}),
                          on=[*key, "_k"], how="outer", indicator=True)
    # a complete without its start keeps the complete row's other values
    lonely = paired["_merge"] == "right_only"
    if lonely.any():
        rest = ends.set_index([*key, "_k"])
        idx = pd.MultiIndex.from_frame(paired.loc[lonely, [*key, "_k"]])
        for col in base.columns:
            if col not in (*key, "_start", "_end"):
                paired.loc[lonely, col] = rest.loc[idx, col].to_numpy()
    paired["_end"] = paired["_close"]
    paired.loc[lonely, "_start"] = pd.NaT
    folded = int(len(base) - len(paired))
    return paired.drop(columns=["_k", "_close", "_merge"]), folded


def as_routings(frame: pd.DataFrame, mapping: Mapping[str, str] | None = None, enabled: bool = True
                ) -> tuple[pd.DataFrame, dict[str, str], EventLogReading | None]:
    """The frame to normalise and the mapping to use: a recognised event log read as routings
    (its case the item code, its activity the process code), anything else unchanged."""
    mapping = dict(mapping or {})
    cols = detect_event_log(frame, mapping) if enabled else None
    if cols is None:
        return frame, mapping, None
    out, reading = read_event_log(frame, cols)
    kept = {s: t for s, t in mapping.items() if s in out.columns and s not in (cols.case, cols.activity)}
    return out, {**kept, cols.case: ITEM, cols.activity: PROCESS}, reading
