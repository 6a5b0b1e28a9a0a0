"""Times and operation attributes of proposed steps.

`DurationModel`: per process, a log-linear ridge model of the time from the item's attributes
(sizes, grades), with the p10 / p50 / p90 of its residuals as the range. `StepEvidence`: per step,
the times and most common operation attributes overall, and over a query's most similar items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from routing_core.model.config import DurationConfig
from routing_core.model.output import Step
from routing_core.model.vocabulary import Vocabulary


def none_if_nan(value: float) -> float | None:
    return None if value != value else value


def small_ridge(Z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of a ridge regression of one target with an unpenalised intercept.

    The same solve as scikit-learn's Ridge, written out because it runs once per process and
    Ridge's input checks cost more than the solve itself (timings: docs/benchmarks.md, 'Measured
    in passing')."""
    zm, ym = Z.mean(axis=0), y.mean()
    Zc = Z - zm
    gram = Zc.T @ Zc
    gram[np.diag_indices_from(gram)] += alpha
    w = np.linalg.solve(gram, Zc.T @ (y - ym))
    return w, float(ym - zm @ w)


class DurationModel:
    """Per process, log(time + offset) as a ridge regression on the attribute design."""

    def __init__(self, config: DurationConfig | None = None, random_state: int = 0) -> None:
        self.config = config or DurationConfig()
        self.random_state = random_state

    def fit(self, Z: np.ndarray, vocab: Vocabulary) -> DurationModel:
        c = self.config
        n_proc, d = len(vocab.processes_), Z.shape[1]
        self.coef_ = np.zeros((n_proc, d), dtype=np.float32)
        self.intercept_ = np.zeros(n_proc)
        self.resid_ = np.zeros((n_proc, len(c.quantiles)))
        self.offset_ = np.ones(n_proc)
        self.modelled_ = np.zeros(n_proc, dtype=bool)
        self.log_range_ = np.zeros((n_proc, 2))
        durations = vocab.row_duration_
        ok = ~np.isnan(durations)
        if not ok.any() or d == 0:
            return self
        row_item = np.repeat(np.arange(vocab.n_items_), np.diff(vocab.item_ptr_))
        rng = np.random.default_rng(self.random_state)
        rows_by_proc = pd.Series(np.flatnonzero(ok)).groupby(vocab.row_process_[ok]).agg(list)
        for proc, rows in rows_by_proc.items():
            rows = np.asarray(rows)
            if len(rows) < max(c.min_rows, d // c.columns_per_row):
                continue
            if len(rows) > c.rows:
                rows = rng.choice(rows, c.rows, replace=False)
            dur = durations[rows]
            positive = dur[dur > 0]
            # Times of 0 exist (a step booked without time): an offset keeps the log finite.
            offset = c.zero_offset * float(np.median(positive)) if len(positive) else 1.0
            y = np.log(dur + offset)
            Zp = Z[row_item[rows]].astype(np.float64)
            w, b = small_ridge(Zp, y, max(c.alpha * len(rows) / 100, c.min_alpha))
            resid = y - (Zp @ w + b)
            self.coef_[proc] = w
            self.intercept_[proc] = b
            self.resid_[proc] = np.quantile(resid, c.quantiles)
            self.offset_[proc] = offset
            self.log_range_[proc] = (y.min() - 1.0, y.max() + 1.0)
            self.modelled_[proc] = True
        return self

    def predict(self, Z: np.ndarray) -> np.ndarray | None:
        """(n, processes, 3): modelled time, low and high for each item and process (NaN where the
        process has no model); None when no process has one."""
        if not self.modelled_.any():
            return None
        pred = Z @ self.coef_.T + self.intercept_  # n x P (log)
        # Far outside the training sizes a log-linear model runs away: stay near seen times.
        pred = np.clip(pred, self.log_range_[:, 0], self.log_range_[:, 1])
        out = np.exp(pred[:, :, None] + self.resid_[None, :, :]) - self.offset_[None, :, None]
        out = np.clip(out, 0.0, None)
        out[:, ~self.modelled_, :] = np.nan
        return out


class StepEvidence:
    """Per step: time statistics and most common operation attributes, overall and over a query's
    most similar items; `step` turns them (and the duration model's estimate) into a Step."""

    config = DurationConfig()  # the class default: evidence saved before it took a config reads with it

    def __init__(self, config: DurationConfig | None = None) -> None:
        self.config = config or DurationConfig()

    def fit(self, vocab: Vocabulary) -> StepEvidence:
        self.vocab = v = vocab
        n_tokens = len(v.tokens_)
        d = v.row_duration_
        ok = ~np.isnan(d)
        qs = self.config.quantiles
        token_duration = np.full((n_tokens, len(qs)), np.nan)
        process_duration = np.full((len(v.processes_), len(qs)), np.nan)
        if ok.any():
            frame = pd.DataFrame({"t": v.row_token_[ok], "p": v.row_process_[ok], "d": d[ok]})
            for key, target in (("t", token_duration), ("p", process_duration)):
                q = frame.groupby(key)["d"].quantile(qs).unstack()
                target[q.index.to_numpy()] = q[qs].to_numpy()
        op_mode: dict[str, np.ndarray] = {}
        for col, codes in v.row_op_.items():
            mode = np.full(n_tokens, -1, dtype=np.int64)
            has = codes >= 0
            if has.any():
                frame = pd.DataFrame({"t": v.row_token_[has], "v": codes[has]})
                top = frame.groupby(["t", "v"]).size().reset_index(name="n")
                top = top.sort_values(["t", "n"], ascending=[True, False]).drop_duplicates("t")
                mode[top["t"].to_numpy()] = top["v"].to_numpy()
            op_mode[col] = mode
        self.defaults_ = []
        for t in range(n_tokens):
            stats = token_duration[t]
            if np.isnan(stats[0]):
                stats = process_duration[v.token_process_[t]]
            attrs = {}
            for col, values in v.op_values_.items():
                code = int(op_mode[col][t])
                attrs[col] = values[code] if code >= 0 else None
            self.defaults_.append(([none_if_nan(float(x)) for x in stats], attrs))
        return self

    def batch(self, nn_idx: np.ndarray) -> dict:
        """Per (query, step): median and p10–p90 time, and most common operation attributes,
        over the query's most similar training items that have the step."""
        v = self.vocab
        B, k = nn_idx.shape
        n_tokens = len(v.tokens_)
        flat = nn_idx.ravel()
        items = flat[flat >= 0]
        starts = v.item_ptr_[items]
        lens = v.item_ptr_[items + 1] - starts
        rows = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        q = np.repeat(np.repeat(np.arange(B), k)[flat >= 0], lens)
        key = q.astype(np.int64) * n_tokens + v.row_token_[rows]
        d = v.row_duration_[rows]
        order = np.lexsort((d, key))  # NaN sorts last within a key
        key_s, d_s = key[order], d[order]
        uniq, first = np.unique(key_s, return_index=True)
        n_valid = np.add.reduceat(~np.isnan(d_s), first) if len(first) else np.array([], dtype=int)
        qs = self.config.quantiles
        stats = np.full((len(uniq), len(qs)), np.nan)
        has = n_valid > 0
        for col, qtl in enumerate(qs):  # quantiles of each key's sorted times
            pos = qtl * (n_valid[has] - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.ceil(pos).astype(np.int64)
            a = d_s[first[has] + lo]
            b = d_s[first[has] + hi]
            stats[has, col] = a + (pos - lo) * (b - a)
        ops: dict[str, np.ndarray] = {}
        for col, codes in v.row_op_.items():
            c = codes[rows].astype(np.int64)
            ok = c >= 0
            mode = np.full(len(uniq), -1, dtype=np.int64)
            if ok.any():
                n_vals = len(v.op_values_[col]) + 1
                pair = key[ok] * n_vals + c[ok]
                pv, pc = np.unique(pair, return_counts=True)
                o = np.lexsort((-pc, pv // n_vals))
                pv, pc = pv[o], pc[o]
                firsts = np.r_[True, (pv[1:] // n_vals) != (pv[:-1] // n_vals)]
                grp = pv[firsts] // n_vals
                mode[np.searchsorted(uniq, grp)] = pv[firsts] % n_vals
            ops[col] = mode
        stats_l = [[None if np.isnan(x) else float(x) for x in row] for row in stats.tolist()]
        cols = list(ops)
        values = [[v.op_values_[c][m] if m >= 0 else None for m in ops[c].tolist()] for c in cols]
        entries = {}
        for j, key_ in enumerate(uniq.tolist()):
            entries[key_] = (stats_l[j], {c: values[m][j] for m, c in enumerate(cols)})
        return {"entries": entries, "n_tokens": n_tokens}

    def step(self, i: int, seq: int, token: int, evidence: dict, probability: float | None = None) -> Step:
        """Step `token` of query i: the duration model's time where it has one, else the similar
        items' (else all items') median and p10-p90; their most common operation attributes."""
        default_stats, default_attrs = self.defaults_[token]
        entry = evidence["entries"].get(i * evidence["n_tokens"] + token)
        if entry is None:
            stats, attrs = default_stats, dict(default_attrs)
        else:
            stats = entry[0] if entry[0][0] is not None else default_stats
            attrs = {c: (v if v is not None else default_attrs[c]) for c, v in entry[1].items()}
        modelled = evidence.get("model")
        proc = int(self.vocab.token_process_[token])
        if modelled is not None and i >= 0 and not np.isnan(modelled[i, proc, 0]):
            mid, low, high = modelled[i, proc].tolist()
            stats = [mid, min(low, mid), max(high, mid)]
        return Step(seq, self.vocab.processes_[proc], stats[0], stats[1], stats[2], attrs, probability)
