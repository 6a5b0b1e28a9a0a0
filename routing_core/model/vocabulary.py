"""Steps, routings and step order: what a routing is, learned from the operations table.

A routing is a set of steps ("INSPECT#2" for a second inspection) in an order. The vocabulary
numbers the processes, the steps and the distinct routings, keeps each item's operation rows
(times, operation attributes) in compact arrays, and learns how steps are ordered, so that a
set of steps never seen whole can still be put in a plausible order.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from scipy import sparse

from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.model.config import VocabularyConfig
from routing_core.platform.errors import UserError

CANONICAL = (ITEM, PROCESS, SEQ, DURATION)


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


class Vocabulary:
    """Processes, steps and routings of a training table, and the order of steps."""

    def __init__(self, config: VocabularyConfig | None = None) -> None:
        self.config = config or VocabularyConfig()

    def fit(self, ops: pd.DataFrame, operation_attributes: list[str]) -> Vocabulary:
        """Learn from a checked operations table (check_ops, pool_rare_processes)."""
        occurrences = self.config.occurrences
        item_idx, items = pd.factorize(ops[ITEM], sort=False)
        self.items_ = np.asarray(items, dtype=object)
        n_items = len(self.items_)
        self.n_items_ = n_items
        self.n_rows_ = len(ops)
        self.item_index_ = {code: i for i, code in enumerate(self.items_)}

        proc_idx, processes = pd.factorize(ops[PROCESS], sort=True)
        self.processes_ = [str(p) for p in processes]
        # Tokens: a process the n-th time in one routing is its own step ("INSPECT#2").
        occ = ops.groupby([item_idx, proc_idx], sort=False).cumcount().to_numpy()
        token_key = proc_idx.astype(np.int64) * occurrences + np.minimum(occ, occurrences - 1)
        tok_idx, tok_keys = pd.factorize(token_key, sort=True)
        self.token_process_ = (tok_keys // occurrences).astype(np.int64)
        self.token_occurrence_ = (tok_keys % occurrences).astype(np.int64)
        self.tokens_ = [
            self.processes_[p] + (f"#{o + 1}" if o else "")
            for p, o in zip(self.token_process_, self.token_occurrence_, strict=True)
        ]
        counts = np.bincount(item_idx, minlength=n_items)
        self.item_ptr_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.row_token_ = tok_idx.astype(np.int32)
        self.row_process_ = proc_idx.astype(np.int32)
        self.row_duration_ = ops[DURATION].to_numpy(dtype="float64", na_value=np.nan) if DURATION in ops \
            else np.full(len(ops), np.nan)
        # ops are sorted by item then seq, so rows of an item are contiguous; factorize keeps
        # first-appearance order, which is the row order.
        self.op_values_: dict[str, list[object]] = {}
        self.row_op_: dict[str, np.ndarray] = {}
        for col in operation_attributes:
            codes, uniques = pd.factorize(ops[col], sort=False)
            self.op_values_[col] = [_plain(v) for v in uniques]
            self.row_op_[col] = codes.astype(np.int32)

        max_len = int(counts.max())
        pos = np.arange(len(ops)) - self.item_ptr_[item_idx]
        padded = np.full((n_items, max_len), -1, dtype=np.int32)
        padded[item_idx, pos] = self.row_process_
        routings, rid = np.unique(padded, axis=0, return_inverse=True)
        rid = rid.ravel()
        self.item_routing_ = rid.astype(np.int32)
        self.routings_ = [tuple(int(p) for p in r if p >= 0) for r in routings]
        self.routing_count_ = np.bincount(rid, minlength=len(self.routings_))
        self._fit_order(item_idx, tok_idx, counts)

        self.presence_ = np.zeros((n_items, len(self.tokens_)), dtype=bool)
        self.presence_[item_idx, tok_idx] = True
        self.token_prior_ = self.presence_.mean(axis=0)
        self.token_prior_c_ = np.clip(self.token_prior_, self.config.prior_clip, 1 - self.config.prior_clip)
        rows = np.repeat(np.arange(len(self.routings_)), [len(t) for t in self.routing_token_lists_])
        cols = np.concatenate([np.asarray(t, dtype=np.int64) for t in self.routing_token_lists_])
        self.routing_token_matrix_ = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(self.routings_), len(self.tokens_)),
        )
        return self

    def _routing_token_list(self, routing: tuple[int, ...]) -> list[int]:
        last = self.config.occurrences - 1
        seen: Counter = Counter()
        toks = []
        for p in routing:
            toks.append(self.token_lookup_[(p, min(seen[p], last))])
            seen[p] += 1
        return toks

    def _fit_order(self, item_idx: np.ndarray, tok_idx: np.ndarray, counts: np.ndarray) -> None:
        """Mean relative position of each step, and how often step a comes before step b."""
        n_tokens = len(self.tokens_)
        self.token_lookup_ = {
            (int(p), int(o)): t
            for t, (p, o) in enumerate(zip(self.token_process_, self.token_occurrence_, strict=True))
        }
        self.routing_token_lists_ = [self._routing_token_list(r) for r in self.routings_]
        self.routing_tokens_ = [frozenset(t) for t in self.routing_token_lists_]
        # The most frequent order of each set of steps.
        by_set: dict[frozenset, int] = {}
        for r in np.argsort(-self.routing_count_, kind="stable"):
            by_set.setdefault(self.routing_tokens_[r], int(r))
        self.routing_by_set_ = by_set
        set_total: Counter = Counter()
        for r, toks in enumerate(self.routing_tokens_):
            set_total[toks] += int(self.routing_count_[r])
        self.set_count_ = np.array([set_total[t] for t in self.routing_tokens_], dtype=np.float64)
        pos = np.arange(len(tok_idx)) - self.item_ptr_[item_idx]
        length = counts[item_idx]
        rel = np.where(length > 1, pos / np.maximum(length - 1, 1), 0.5)
        self.token_position_ = np.bincount(tok_idx, weights=rel, minlength=n_tokens) / np.maximum(
            np.bincount(tok_idx, minlength=n_tokens), 1
        )
        # Pairwise "before" counts, computed per distinct routing (weighted by its count).
        before = np.zeros((n_tokens, n_tokens), dtype=np.float64)
        for r, toks in enumerate(self.routing_token_lists_):
            t = np.asarray(toks)
            i, j = np.triu_indices(len(t), k=1)
            np.add.at(before, (t[i], t[j]), self.routing_count_[r])
        self.before_ = before

    def consistent(self, tokens: frozenset) -> bool:
        """A step's n-th occurrence needs its (n-1)-th."""
        for t in tokens:
            o = self.token_occurrence_[t]
            if o and self.token_lookup_.get((int(self.token_process_[t]), int(o) - 1)) not in tokens:
                return False
        return True

    def order(self, tokens: frozenset, routing: int | None, cache: dict | None = None) -> list[int]:
        """The steps in order: as trained for a known set of steps, else by learned precedence
        (how often each step came before each other one; their mean position where two never met)."""
        if routing is not None:
            return list(self.routing_token_lists_[routing])
        if cache is not None and tokens in cache:
            return cache[tokens]
        toks = np.fromiter(tokens, dtype=np.int64)
        before = self.before_[np.ix_(toks, toks)]
        met = before + before.T
        pos = self.token_position_[toks]
        earlier = (pos[:, None] < pos[None, :]).astype(np.float64)
        share = np.where(met > 0, before / np.where(met > 0, met, 1.0), earlier)
        np.fill_diagonal(share, 0.0)
        ordered = toks[np.lexsort((pos, -share.sum(axis=1)))].tolist()
        # Repeated processes keep their occurrence order.
        by_proc: dict[int, list[int]] = {}
        for t in ordered:
            by_proc.setdefault(int(self.token_process_[t]), []).append(t)
        for p, lst in by_proc.items():
            by_proc[p] = sorted(lst, key=lambda t: self.token_occurrence_[t])
        cursor = dict.fromkeys(by_proc, 0)
        out = []
        for t in ordered:
            p = int(self.token_process_[t])
            out.append(by_proc[p][cursor[p]])
            cursor[p] += 1
        if cache is not None:
            cache[tokens] = out
        return out

    def routing_processes(self, routing: int) -> list[str]:
        return [self.processes_[p] for p in self.routings_[routing]]

    def token_processes(self, toks) -> tuple[str, ...]:
        return tuple(self.processes_[self.token_process_[t]] for t in toks)


def check_ops(ops: pd.DataFrame) -> pd.DataFrame:
    """The operations table with codes as stripped text, a seq and a time column, rows of one item
    together in seq order; a clear error when it cannot be a training table."""
    if not isinstance(ops, pd.DataFrame):
        raise UserError("Training data must be an operations table.")
    missing = [c for c in (ITEM, PROCESS) if c not in ops]
    if missing:
        raise UserError(f"The training table lacks column(s) {', '.join(missing)}.")
    ops = ops[ops[ITEM].notna() & ops[PROCESS].notna()]
    if ops.empty:
        raise UserError("The training table has no rows with both item_code and process_code.")
    ops = ops.copy()
    ops[ITEM] = ops[ITEM].astype("str").str.strip()  # as items asked about are
    ops[PROCESS] = ops[PROCESS].astype("str").str.strip()
    if SEQ not in ops:
        ops[SEQ] = ops.groupby(ITEM, sort=False).cumcount().astype("float64") + 1
    if DURATION not in ops:
        ops[DURATION] = np.nan
    ops[DURATION] = pd.to_numeric(ops[DURATION], errors="coerce")
    # Rows of one item together, in seq order; items in first-appearance order.
    first = pd.factorize(ops[ITEM], sort=False)[0]
    ops["_item"] = first
    ops = ops.sort_values(["_item", SEQ], kind="stable").drop(columns="_item").reset_index(drop=True)
    return ops


def pool_rare_processes(ops: pd.DataFrame, limit: int, name: str = "OTHER_PROCESS"
                        ) -> tuple[pd.DataFrame, list[str], str | None]:
    """Process codes beyond the `limit` most widespread (by items) pooled into one, `name`.

    Each process code is a column of the step models and of every prediction (and step order is
    learned between pairs of them), so memory grows with their number, and a code on one item or
    two cannot be learned anyway. Returns the table, the pooled codes and the name they share."""
    codes = ops[PROCESS]
    items_per_code = ops.drop_duplicates([ITEM, PROCESS])[PROCESS].value_counts(sort=True)
    if len(items_per_code) <= limit:
        return ops, [], None
    pooled = items_per_code.index[limit - 1 :]
    while name in items_per_code.index[: limit - 1]:
        name = f"{name}_"
    ops = ops.assign(**{PROCESS: codes.where(~codes.isin(pooled), name)})
    return ops, [str(c) for c in pooled], name


def split_attributes(ops, item_attributes, operation_attributes) -> tuple[list[str], list[str]]:
    """Item and operation attributes: as given, else as the data suggests (classify_attributes)."""
    others = [c for c in ops.columns if c not in CANONICAL]
    if item_attributes is None or operation_attributes is None:
        from routing_core.datasets.profiling import classify_attributes

        auto_item, auto_op, _ = classify_attributes(ops, others)
        item_attributes = auto_item if item_attributes is None else item_attributes
        operation_attributes = auto_op if operation_attributes is None else operation_attributes
    item_attributes = [c for c in item_attributes if c in ops and c not in CANONICAL]
    operation_attributes = [c for c in operation_attributes if c in ops and c not in CANONICAL]
    return list(item_attributes), list(operation_attributes)


def item_frame(ops: pd.DataFrame, items: np.ndarray, item_attributes: list[str]) -> pd.DataFrame:
    """One row per training item (in vocabulary order) with its item attributes."""
    cols = [c for c in item_attributes if c in ops]
    frame = ops.groupby(ITEM, sort=False)[cols].first()
    frame = frame.reindex(items)
    frame.index.name = ITEM
    return frame.reset_index()


def varied_tokens(presence: np.ndarray, limit: int) -> np.ndarray:
    """The steps whose presence varies most between items (at most `limit`): what the trees learn
    from. Leaf votes still cover every step, so exports with hundreds of operation codes train in
    bounded time."""
    p = presence.mean(axis=0)
    order = np.argsort(-(p * (1 - p)), kind="stable")[:limit]
    return np.sort(order)


def query_frame(items: pd.DataFrame) -> pd.DataFrame:
    """Items asked about, one row each: rows of one code are one item (long form: the first filled
    value of each column); a row without a code is an item of its own (a new item often has none)."""
    if not isinstance(items, pd.DataFrame):
        raise UserError("Items to predict must be a table with an item_code column.")
    if ITEM not in items:
        raise UserError(f"The items to predict have no '{ITEM}' column.")
    frame = items.copy()
    frame[ITEM] = frame[ITEM].astype("str").str.strip().fillna("")
    coded = frame[ITEM] != ""
    if frame.loc[coded, ITEM].duplicated().any():
        key = frame[ITEM].where(coded, "\0" + pd.Series(np.arange(len(frame)), index=frame.index).astype("str"))
        frame = frame.assign(_key=key).groupby("_key", sort=False).first().reset_index(drop=True)
    return frame.reset_index(drop=True)
