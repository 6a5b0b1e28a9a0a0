"""The routing store: the routings analysts accepted, one per item, in `<data home>/accepted/`.

Every page and command reads the same file, `routings.json`; each change (accept, a batch
accepted at once, correct, withdraw) reads it under a lock, checks, and writes it whole with a
rename, so a reader sees the old store or the new one and a batch is stored whole or not at
all. Changes need the analyst role and are written to the activity log. A routing keeps where
it started (the model version and the candidate's rank, kind, score and steps) and the changes
against that candidate, so the acceptance figures per version come from here.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from routing_core.accepted.diff import routing_diff
from routing_core.platform.atomic import atomic_write_json
from routing_core.platform.errors import UserError
from routing_core.platform.sharing import share_dir, share_file
from routing_core.platform.statefile import BrokenState, read_json
from routing_core.users.access import User, require
from routing_core.users.activity import (
    ACCEPT_ROUTING,
    CORRECT_ROUTING,
    WITHDRAW_ROUTING,
    ActivityLog,
    data_root,
)

FOLDER = "accepted"
FILE = "routings.json"
FORMAT = 1
MAX_STORE_BYTES = 256 << 20
MAX_STEPS = 500
MAX_TEXT = 200
ACCEPTED, WITHDRAWN = "accepted", "withdrawn"
# How an accepted routing relates to the candidates it was picked from.
UNCHANGED, CHANGED, OTHER, TYPED = "first unchanged", "first changed", "another picked", "typed"


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise UserError(f"{what} is blank.")
    text = str(value).strip()
    if not text:
        raise UserError(f"{what} is blank.")
    if len(text) > limit:
        raise UserError(f"{what} is too long ({len(text)} characters, at most {limit}).")
    return text


def _scalar(value: object) -> object:
    """A JSON value for an attribute: text, number, true/false or None (NaN and pandas' NA: None)."""
    if value is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    if isinstance(value, bool | str):
        return value[:MAX_TEXT * 5] if isinstance(value, str) else value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, int | float):
        return value
    return str(value)[:MAX_TEXT * 5]


def _minutes(value: object, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: the time {str(value)[:40]!r} is not a number.") from None
    if math.isnan(minutes):
        return None
    if not math.isfinite(minutes) or minutes < 0:
        raise UserError(f"{where}: the time must be a number of minutes of 0 or more (got {value}).")
    return minutes


def clean_steps(steps: Iterable[Mapping], item: str = "") -> list[dict]:
    """Steps as stored: in the order of their `seq` (ties keep their order; a blank seq goes last),
    numbered 1, 2, … again; each with a process code, a time in minutes (or none) and its operation
    attributes. UserError naming the step when one cannot be used."""
    where = f"Routing of {item}" if item else "Routing"
    rows = []
    for n, step in enumerate(steps):
        if not isinstance(step, Mapping):
            raise UserError(f"{where}: step {n + 1} is not a set of fields.")
        seq = step.get("seq")
        try:
            order = float(seq) if seq is not None and seq != "" else math.inf
        except (TypeError, ValueError):
            raise UserError(f"{where}: step {n + 1} has the sequence number {str(seq)[:40]!r}, not a number.") from None
        if math.isnan(order):
            order = math.inf
        code = step.get("process_code")
        if code is None or (isinstance(code, float) and math.isnan(code)) or not str(code).strip():
            raise UserError(f"{where}: step {n + 1} has no process code.")
        attributes = step.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise UserError(f"{where}: step {n + 1}'s attributes are not a set of fields.")
        rows.append((order, n, {
            "process_code": _text(code, f"{where}: step {n + 1}'s process code"),
            "duration_min": _minutes(step.get("duration_min"), f"{where}, step {n + 1}"),
            "attributes": {str(k)[:MAX_TEXT]: _scalar(v) for k, v in attributes.items()},
        }))
    if not rows:
        raise UserError(f"{where} has no steps.")
    if len(rows) > MAX_STEPS:
        raise UserError(f"{where} has {len(rows)} steps, more than {MAX_STEPS}.")
    rows.sort(key=lambda r: (r[0], r[1]))
    return [{"seq": i, **r[2]} for i, r in enumerate(rows, start=1)]


@dataclass
class Draft:
    """A routing to accept: the item, its steps and, when it came from a prediction, where from."""

    item_code: str
    steps: list[dict]
    attributes: dict = field(default_factory=dict)
    version: str | None = None
    candidate_rank: int | None = None
    candidate_kind: str | None = None
    candidate_score: float | None = None
    candidate_steps: list[dict] = field(default_factory=list)


@dataclass
class AcceptedRouting:
    """One item's accepted routing as stored."""

    item_code: str
    steps: list[dict]
    attributes: dict
    version: str | None
    candidate_rank: int | None
    candidate_kind: str | None
    candidate_score: float | None
    candidate_steps: list[dict]
    changes: list[dict]
    accepted_by: str
    accepted_at: str
    status: str = ACCEPTED
    revision: int = 1
    history: list[dict] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """first unchanged / first changed / another picked (or typed: no candidate behind it)."""
        if self.version is None or self.candidate_rank is None:
            return TYPED
        if self.candidate_rank != 1:
            return OTHER
        return CHANGED if self.changes else UNCHANGED

    @property
    def total_min(self) -> float | None:
        times = [s["duration_min"] for s in self.steps if s.get("duration_min") is not None]
        return float(sum(times)) if times else None

    @property
    def routing(self) -> str:
        return " → ".join(s["process_code"] for s in self.steps)

    def to_json(self) -> dict:
        return asdict(self)


_FIELDS = {f.name for f in fields(AcceptedRouting)}


def _from_json(data: object, where: str) -> AcceptedRouting:
    if not isinstance(data, dict) or not {"item_code", "steps", "accepted_by", "accepted_at"} <= set(data):
        raise BrokenState(f"{where}: a stored routing lacks its item, steps or who accepted it.")
    try:
        steps = clean_steps(data["steps"], str(data["item_code"]))
        candidate = clean_steps(data["candidate_steps"]) if data.get("candidate_steps") else []
        record = AcceptedRouting(**{"attributes": {}, "version": None, "candidate_rank": None,
                                    "candidate_kind": None, "candidate_score": None, "candidate_steps": [],
                                    "changes": [], **{k: v for k, v in data.items() if k in _FIELDS}})
    except (UserError, TypeError) as exc:
        raise BrokenState(f"{where}: the routing of {str(data.get('item_code'))[:60]!r} cannot be used ({exc}).") from None
    record.steps, record.candidate_steps = steps, candidate
    if record.status not in (ACCEPTED, WITHDRAWN) or not isinstance(record.attributes, dict) \
            or not isinstance(record.changes, list) or not isinstance(record.history, list):
        raise BrokenState(f"{where}: the routing of {record.item_code[:60]!r} has fields of the wrong kind.")
    if record.candidate_rank is not None and (isinstance(record.candidate_rank, bool)
                                              or not isinstance(record.candidate_rank, int)):
        raise BrokenState(f"{where}: the routing of {record.item_code[:60]!r} has a candidate rank that is not a number.")
    return record


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AcceptedStore:
    """The accepted routings of one data home."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = data_root(root)
        self.folder = self.root / FOLDER
        self.path = self.folder / FILE
        self.activity = ActivityLog(self.root)

    # ------------------------------------------------------------ reading
    def _load(self) -> dict[str, AcceptedRouting]:
        where = "The routing store"
        try:
            data = read_json(self.path, where, max_bytes=MAX_STORE_BYTES)
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("routings"), list):
            raise BrokenState(f"{where}: {FILE} is not a routing store of format {FORMAT}.")
        out: dict[str, AcceptedRouting] = {}
        for entry in data["routings"]:
            record = _from_json(entry, where)
            out[record.item_code] = record
        return out

    def all(self, include_withdrawn: bool = False) -> list[AcceptedRouting]:
        """The accepted routings, newest first (withdrawn ones too when asked)."""
        found = [r for r in self._load().values() if include_withdrawn or r.status == ACCEPTED]
        return sorted(found, key=lambda r: r.accepted_at, reverse=True)

    def get(self, item_code: str) -> AcceptedRouting | None:
        return self._load().get(str(item_code))

    def frame(self, search: str = "", include_withdrawn: bool = False) -> pd.DataFrame:
        """One row per routing (item, routing, steps, total time, version, rank, outcome, who, when),
        those whose item, routing, version or accepter contain `search` (any case)."""
        rows = [{"item_code": r.item_code, "routing": r.routing, "steps": len(r.steps), "total (min)": r.total_min,
                 "version": r.version, "candidate": r.candidate_rank, "outcome": r.outcome,
                 "changes": len(r.changes), "accepted by": r.accepted_by, "accepted at": r.accepted_at,
                 "status": r.status, "revision": r.revision}
                for r in self.all(include_withdrawn)]
        table = pd.DataFrame(rows, columns=["item_code", "routing", "steps", "total (min)", "version", "candidate",
                                            "outcome", "changes", "accepted by", "accepted at", "status", "revision"])
        needle = str(search or "").strip().lower()
        if needle:
            hay = table[["item_code", "routing", "version", "accepted by"]].astype("string").fillna("")
            table = table[hay.apply(lambda c: c.str.lower().str.contains(needle, regex=False)).any(axis=1)]
        return table.reset_index(drop=True)

    # ------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, AcceptedRouting]]:
        """The store read under the folder's lock; what the block leaves in it is written back whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        share_dir(self.folder)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            share_file(self.folder / ".lock", fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            routings = self._load()
            yield routings
            atomic_write_json(self.path, {"format": FORMAT,
                                          "routings": [r.to_json() for r in routings.values()]})
        finally:
            os.close(fd)

    def _record(self, draft: Draft, who: User, now: str, previous: AcceptedRouting | None) -> AcceptedRouting:
        item = _text(draft.item_code, "The item code")
        steps = clean_steps(draft.steps, item)
        candidate = clean_steps(draft.candidate_steps, item) if draft.candidate_steps else []
        rank = draft.candidate_rank
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise UserError(f"Routing of {item}: the candidate rank must be a whole number of 1 or more.")
        if draft.version is not None and rank is None:
            raise UserError(f"Routing of {item}: a routing from version {draft.version} needs the candidate's rank.")
        history = list(previous.history) if previous is not None else []
        history.append({"action": "accept", "user": who.name, "at": now})
        return AcceptedRouting(
            item_code=item, steps=steps, attributes={str(k): _scalar(v) for k, v in (draft.attributes or {}).items()},
            version=None if draft.version is None else str(draft.version), candidate_rank=rank,
            candidate_kind=draft.candidate_kind,
            candidate_score=None if draft.candidate_score is None else float(draft.candidate_score),
            candidate_steps=candidate, changes=routing_diff(candidate, steps) if candidate else [],
            accepted_by=who.name, accepted_at=now, revision=(previous.revision + 1) if previous else 1,
            history=history,
        )

    def accept(self, draft: Draft, *, user: User) -> AcceptedRouting:
        """Store the item's routing (replacing one accepted before: the revision counts up)."""
        return self.accept_many([draft], user=user)[0]

    def accept_many(self, drafts: Sequence[Draft], *, user: User) -> list[AcceptedRouting]:
        """Store several items' routings as one change: all of them, or (one bad) none; one entry
        in the activity log."""
        require(user, "accept")
        if not drafts:
            raise UserError("There is no routing to accept.")
        codes = [str(d.item_code).strip() for d in drafts]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise UserError(f"Item(s) {', '.join(twice[:5])} come more than once; accept one routing per item.")
        now = _now()
        with self._locked() as routings:
            made = [self._record(d, user, now, routings.get(str(d.item_code).strip())) for d in drafts]
            for record in made:
                routings[record.item_code] = record
        obj = made[0].item_code if len(made) == 1 else f"{len(made)} routings"
        self.activity.record(user, ACCEPT_ROUTING, obj, items=len(made),
                             first=[r.item_code for r in made[:10]],
                             versions=sorted({r.version for r in made if r.version}))
        return made

    def correct(self, item_code: str, steps: Sequence[Mapping], *, user: User,
                attributes: Mapping | None = None) -> AcceptedRouting:
        """New steps for an accepted routing: what changed is measured against the same candidate."""
        require(user, "accept")
        now = _now()
        with self._locked() as routings:
            old = routings.get(str(item_code))
            if old is None or old.status != ACCEPTED:
                raise UserError(f"No accepted routing for item {item_code}.")
            new_steps = clean_steps(steps, old.item_code)
            old.steps = new_steps
            if attributes is not None:
                old.attributes = {str(k): _scalar(v) for k, v in attributes.items()}
            old.changes = routing_diff(old.candidate_steps, new_steps) if old.candidate_steps else []
            old.revision += 1
            old.history.append({"action": "correct", "user": user.name, "at": now})
            record = old
        self.activity.record(user, CORRECT_ROUTING, record.item_code, revision=record.revision,
                             changes=len(record.changes))
        return record

    def withdraw(self, item_code: str, *, user: User, reason: str = "") -> AcceptedRouting:
        """Take an accepted routing back: kept with its history, no longer exported or learned from."""
        require(user, "accept")
        now = _now()
        with self._locked() as routings:
            old = routings.get(str(item_code))
            if old is None or old.status != ACCEPTED:
                raise UserError(f"No accepted routing for item {item_code}.")
            old.status = WITHDRAWN
            old.history.append({"action": "withdraw", "user": user.name, "at": now, "reason": str(reason)[:500]})
            record = old
        self.activity.record(user, WITHDRAW_ROUTING, record.item_code, reason=str(reason)[:200] or None)
        return record


def ops_frame(routings: Iterable[AcceptedRouting]) -> pd.DataFrame:
    """The routings as an operations table (item_code, seq, process_code, duration_min, item and
    operation attributes), the form datasets and exports start from."""
    rows = []
    for r in routings:
        for s in r.steps:
            rows.append({"item_code": r.item_code, "seq": s["seq"], "process_code": s["process_code"],
                         "duration_min": s["duration_min"], **r.attributes, **s["attributes"]})
    return pd.DataFrame(rows)


def store_path(root: str | os.PathLike | None = None) -> Path:
    return data_root(root) / FOLDER / FILE
