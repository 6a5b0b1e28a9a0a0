"""Blank attributes: what a blank cell most likely stands for, so an item with one is asked once
per likely value (weighted), instead of as an item with no value at all.

Per categorical attribute, two parts multiplied: a multinomial logistic model of its value from
the other attributes (scikit-learn), and, where items have positive measurements (sizes,
weights), how well the item's logs of them fit each value: a Student t of the log measurements
per value, with the spread within the item's fallback group. Within a group, a weight far from
what the sizes and a material would give rules that material out, which a linear model on the
same numbers cannot do as sharply. The second part is used for an attribute only where it scores
better on items held out of the fit (`_size_trial`); `trials_` records the figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from routing_core.model.config import COVARIANCE_JITTER, LOG_GUARD, ImputationConfig
from routing_core.model.features import BLANK, Encoded, ItemFeaturizer
from routing_core.model.output import probability, shares


class BlankImputer:
    """Likely values of blank categorical attributes, from the attribute models or, for an
    attribute without one, from the item's most similar training items (else overall shares)."""

    def __init__(self, config: ImputationConfig | None = None, random_state: int = 0) -> None:
        self.config = config or ImputationConfig()
        self.random_state = random_state

    def fit(self, featurizer: ItemFeaturizer, Xo: np.ndarray, Z: np.ndarray, enc: Encoded,
            group_column: str | None) -> BlankImputer:
        """Xo: the tree features of the training items (their categorical codes are read);
        Z: the imputation design; group_column: the fallback group (the sizes' spread is per group)."""
        f = self.featurizer = featurizer
        c = self.config
        n_num = len(f.numeric_)
        cat = Xo[:, n_num : n_num + len(f.categorical_)]
        self.train_cat_ = np.where(np.isnan(cat), -1, cat).astype(np.int16)
        self.cat_values_, self.cat_share_ = [], []
        for j in range(cat.shape[1]):
            v, n = np.unique(self.train_cat_[:, j][self.train_cat_[:, j] >= 0], return_counts=True)
            self.cat_values_.append(v.astype(np.float64))
            self.cat_share_.append(shares(n))
        blocks = {j: np.asarray(f.blocks_[col]) for j, col in enumerate(f.categorical_)}
        logs = self.log_sizes(enc)
        size_cols = self._size_columns(Z) if logs.shape[1] else np.array([], dtype=np.int64)
        every = np.arange(Z.shape[1])
        rng = np.random.default_rng(self.random_state)
        self.imputers_: dict[int, tuple] = {}
        self.size_evidence_: dict[int, tuple] = {}
        self.trials_: dict[str, dict] = {}
        for j, col in enumerate(f.categorical_):
            y = self.train_cat_[:, j]
            rows = np.flatnonzero(y >= 0)
            n_classes = len(np.unique(y[rows]))
            # Only attributes of the data (not code tokens: a blank code is not imputed), with few
            # values: a model per attribute stays cheap.
            if col not in f.attributes_ or not 2 <= n_classes <= c.max_classes:
                continue
            if len(rows) > c.rows:
                rows = np.sort(rng.choice(rows, size=c.rows, replace=False))
            classes = np.unique(y[rows]).astype(np.float64)
            plain = np.setdiff1d(every, blocks[j])
            if plain.size == 0:  # no other feature to tell its value from
                continue
            imputer, sizes = logistic_imputer(Z, y, rows, plain, classes, c), None
            if logs.shape[1]:
                group = group_column if group_column != col else None
                groups = enc.cat[group] if group is not None else np.zeros(len(Z), dtype=np.int64)
                without = np.setdiff1d(plain, size_cols)
                if self._size_trial(col, Z, logs, groups, y, rows, classes, plain, without, rng):
                    imputer = logistic_imputer(Z, y, rows, without, classes, c)
                    sizes = (group, *size_evidence(logs, y, groups, rows, classes, c))
            self.imputers_[j] = imputer
            if sizes is not None:
                self.size_evidence_[j] = sizes
        return self

    def _size_trial(self, col, Z, logs, groups, y, rows, classes, plain, without_sizes, rng) -> bool:
        """Whether the item's sizes tell the value better as a Student t per group and value than
        as numbers in the logistic model: both are fitted on two thirds of the items and scored on
        the rest (mean log-probability of the true value)."""
        c = self.config
        order = rng.permutation(rows)
        cut = (2 * len(order)) // c.size_trial_parts
        fit, held = np.sort(order[:cut]), np.sort(order[cut:])
        if len(held) < c.size_min_rows or len(np.unique(y[fit])) < 2:
            return False
        base = logistic_imputer(Z, y, fit, plain, classes, c)
        other = logistic_imputer(Z, y, fit, without_sizes, classes, c)
        evidence = size_evidence(logs, y, groups, fit, classes, c)
        pos = {v: k for k, v in enumerate(classes.astype(int).tolist())}
        truth = np.array([pos[int(v)] for v in y[held]])
        loss = {}
        for name, imp, ev in (("plain", base, None), ("sizes", other, evidence)):
            total = 0.0
            for r, k in zip(held.tolist(), truth.tolist(), strict=True):
                p = imputed(imp, ev, Z[r], logs[r], int(groups[r]), c)
                total -= math.log(max(float(p[k]), LOG_GUARD))
            loss[name] = total / len(held)
        self.trials_[col] = {"held_out_items": int(len(held)), "log_loss_without_sizes": round(loss["plain"], 4),
                             "log_loss_with_sizes": round(loss["sizes"], 4)}
        return loss["sizes"] < loss["plain"]

    def log_sizes(self, enc: Encoded) -> np.ndarray:
        """Logs of the numeric attributes that are positive throughout training (NaN: blank, or not
        positive in the item asked about)."""
        f = self.featurizer
        cols = [c for c in f.numeric_ if f.log_positive_.get(c, False)]
        if not cols:
            return np.zeros((enc.n, 0))
        out = np.column_stack([np.asarray(enc.num[c], dtype=np.float64) for c in cols])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(out > 0, np.log(np.where(out > 0, out, 1.0)), np.nan)

    def _size_columns(self, Z: np.ndarray) -> np.ndarray:
        """Columns of the imputation design that carry the positive measurements (their values,
        missing flags and logs)."""
        f = self.featurizer
        cols = [c for c in f.numeric_ if f.log_positive_.get(c, False)]
        dense = [i for c in cols for i in f.blocks_[c]]
        logs = list(range(Z.shape[1] - len(cols), Z.shape[1]))  # imputation_design puts them last
        return np.asarray(dense + logs, dtype=np.int64)

    def predict_proba(self, z: np.ndarray, j: int, logs_i: np.ndarray | None = None,
                      group_code: int = -1) -> tuple[np.ndarray, np.ndarray] | None:
        """(values, probabilities) of blank categorical j for one item's design row z; None when
        the attribute has no model."""
        model = self.imputers_.get(j)
        if model is None:
            return None
        sizes = self.size_evidence_.get(j)
        return model[3], imputed(model, None if sizes is None else sizes[1:], z, logs_i, group_code, self.config)

    def value_shares(self, i: int, j: int, Z: np.ndarray, enc: Encoded, logs: np.ndarray | None,
                     nn_row: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, shares) that blank categorical j of item i may stand for: the attribute's
        model, else the values of the most similar training items, else the overall shares."""
        group = self.size_evidence_[j][0] if logs is not None and j in self.size_evidence_ else None
        code = int(enc.cat[group][i]) if group is not None and group in enc.cat else -1
        learned = self.predict_proba(Z[i], j, None if logs is None else logs[i], code)
        if learned is not None:
            return learned
        values = np.zeros(0, dtype=np.int16)
        if nn_row is not None:
            values = self.train_cat_[nn_row[nn_row >= 0], j]
            values = values[values >= 0]
        if len(values):
            v, n = np.unique(values, return_counts=True)
            return v.astype(np.float64), shares(n)
        return self.cat_values_[j], self.cat_share_[j]

    def blanks(self, enc: Encoded) -> np.ndarray:
        """(items, categorical attributes): which cells are blank and may be imputed (a blank code
        is not: the trees learned where an item without one goes)."""
        f = self.featurizer
        if not f.categorical_:
            return np.zeros((enc.n, 0), dtype=bool)
        return np.column_stack([(enc.cat[c] == BLANK) & (c not in f.code_cols_) for c in f.categorical_])

    def expand(self, Xo: np.ndarray, nn_idx: np.ndarray, Z: np.ndarray, enc: Encoded
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item of each row, rows, weights): an item with a blank category is asked once per
        likely value (value_shares), so a blank option counts as what it most likely is. At most
        max_values values of at least min_share per attribute, and max_rows rows per item; the
        kept weights of an item sum to 1."""
        c, f = self.config, self.featurizer
        n = len(Xo)
        blank = self.blanks(enc)
        if not blank.any():
            return np.arange(n), Xo, np.ones(n)
        logs = self.log_sizes(enc) if self.size_evidence_ else None
        rows, xs, ws = [], [], []
        for i in range(n):
            missing = np.flatnonzero(blank[i])
            if len(missing) == 0:
                rows.append(i)
                xs.append(Xo[i])
                ws.append(1.0)
                continue
            combos: list[tuple[dict[int, float], float]] = [({}, 1.0)]
            for j in missing:
                v, share = self.value_shares(i, j, Z, enc, logs, nn_idx[i])
                keep = np.argsort(-share)[: c.max_values]
                keep = keep[share[keep] >= c.min_share] if (share[keep] >= c.min_share).any() else keep[:1]
                total = share[keep].sum()
                combos = [
                    ({**assign, int(j): float(v[k])}, w * float(share[k] / total))
                    for assign, w in combos
                    for k in keep
                ]
                combos = sorted(combos, key=lambda aw: -aw[1])[: c.max_rows]
            weights = shares([w for _, w in combos])
            for (assign, _), w in zip(combos, weights, strict=True):
                x = Xo[i].copy()
                for j, value in assign.items():
                    f.set_category(x, j, value)
                rows.append(i)
                xs.append(x)
                ws.append(w)
        return np.asarray(rows), np.vstack(xs), np.asarray(ws)

    def likely_values(self, codes: list, rows: np.ndarray, xs: np.ndarray, ws: np.ndarray, enc: Encoded,
                      limit: int) -> list[tuple]:
        """(item, attribute, value, weight) of the `limit` likeliest values of each blank cell, from
        the rows `expand` made."""
        f = self.featurizer
        blank = self.blanks(enc)
        n_num = len(f.numeric_)
        out = []
        for j, col in enumerate(f.categorical_):
            if col not in f.attributes_:
                continue
            names = f.categories_[col]
            for i in np.flatnonzero(blank[:, j]):
                mine = rows == i
                weight = pd.Series(ws[mine]).groupby(xs[mine, n_num + j].astype(int)).sum()
                for code, w in weight.sort_values(ascending=False).head(limit).items():
                    out.append((codes[i], col, names[int(code)], float(probability(w))))
        return out


def logistic_imputer(Z: np.ndarray, y: np.ndarray, rows: np.ndarray, keep: np.ndarray,
                     classes: np.ndarray, config: ImputationConfig | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keep, coef, intercept, classes): a multinomial logistic model of y from Z[:, keep] on rows;
    a class absent from rows gets a very low intercept."""
    config = config or ImputationConfig()
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((len(classes), len(keep)))
    intercept = np.full(len(classes), config.absent_logit)
    present = np.unique(y[rows])
    at = np.searchsorted(classes, present)
    if len(present) == 1 or len(keep) == 0:
        share = np.array([(y[rows] == c).mean() for c in present])
        intercept[at] = np.log(share)
    else:
        # Newton steps cost (features x classes)^2 per item: past a size (words of a text add
        # many features), quasi-Newton steps get there far sooner.
        width = len(keep) * len(present)
        solver = "newton-cholesky" if width <= config.newton_max_size else "lbfgs"
        if solver == "newton-cholesky" and len(rows) * width**2 > config.newton_cells:
            # A Newton step costs items x width^2: a wide design learns from fewer items (an even
            # stride through `rows`, which are a random sample already).
            n = max(config.newton_min_rows, int(config.newton_cells / width**2))
            rows = rows[np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(np.int64)]
        clf = LogisticRegression(C=1.0, solver=solver, max_iter=config.newton_max_iter if solver == "newton-cholesky" else config.lbfgs_max_iter)
        clf.fit(Z[np.ix_(rows, keep)], y[rows])
        c, b = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # binary: one row of coefficients for class 1
            c, b = np.vstack([-c[0] / 2, c[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
        coef[at], intercept[at] = c, b
    return keep, coef.astype(np.float32), intercept.astype(np.float32), classes


def size_evidence(logs: np.ndarray, y: np.ndarray, groups: np.ndarray, rows: np.ndarray,
                  classes: np.ndarray, config: ImputationConfig) -> tuple[dict, tuple | None]:
    """({group code: stats}, stats over all rows or None) of the log measurements per value of y.

    stats = (columns used, means per value (NaN: value not seen), covariance around those means).
    A group uses the measurements most of its items have (a diameter for round parts, a width
    for flat ones), and learns from the items that have all of those."""
    K, p = len(classes), logs.shape[1]

    def stats(sel: np.ndarray) -> tuple | None:
        filled = ~np.isnan(logs[sel])
        cols = filled.mean(axis=0) >= config.size_filled
        sel = sel[filled[:, cols].all(axis=1)] if cols.any() else sel[:0]
        if len(sel) < config.size_min_rows:
            return None
        L, at = logs[np.ix_(sel, np.flatnonzero(cols))], np.searchsorted(classes, y[sel])
        n = np.bincount(at, minlength=K).astype(np.float64)
        sums = np.zeros((K, L.shape[1]))
        np.add.at(sums, at, L)
        # Plain means of real items keep the exact relation of sizes and weight (a shrunk or
        # pooled mean would blur it).
        used = np.where(n[:, None] > 0, sums / np.maximum(n, 1)[:, None], np.nan)
        resid = L - used[at]
        cov_used = resid.T @ resid / max(len(L) - int((n > 0).sum()), 1)
        jitter, relative = COVARIANCE_JITTER
        cov_used += np.eye(L.shape[1]) * (jitter + relative * np.trace(cov_used) / L.shape[1])
        means, cov = np.full((K, p), np.nan), np.zeros((p, p))
        means[:, cols] = used
        cov[np.ix_(cols, cols)] = cov_used
        return cols, means, cov

    per_group = {}
    for code in np.unique(groups[rows]).tolist():
        if code >= 0:
            found = stats(rows[groups[rows] == code])
            if found is not None:
                per_group[int(code)] = found
    return per_group, stats(rows)


def size_log_likelihood(evidence: tuple, logs_i: np.ndarray, group_code: int, dof: float) -> np.ndarray | None:
    """Log-likelihood of an item's log measurements under each value, up to a constant (a value
    not seen gets the lowest of the others); None when the item has none of them.

    Student's t rather than a Gaussian: an item that fits no value well (a weight far from any
    material's) tips the balance a little, not all the way to the least bad value."""
    per_group, pooled = evidence
    found = per_group.get(int(group_code), pooled)
    if found is None:
        return None
    cols, means, cov = found
    present = cols & ~np.isnan(logs_i)
    seen = ~np.isnan(means[:, np.flatnonzero(cols)[0]])
    if not present.any() or not seen.any():
        return None
    d = logs_i[present][None, :] - means[np.ix_(seen, present)]
    sol = np.linalg.solve(cov[np.ix_(present, present)], d.T)
    ll = np.empty(len(means))
    ll[seen] = -(dof + present.sum()) / 2 * np.log1p(np.einsum("kp,pk->k", d, sol) / dof)
    ll[~seen] = ll[seen].min()
    return ll


def imputed(imputer: tuple, evidence: tuple | None, z: np.ndarray, logs_i: np.ndarray | None,
            group_code: int, config: ImputationConfig) -> np.ndarray:
    """Probabilities of each value of a blank attribute (the imputer's classes)."""
    keep, coef, intercept, _ = imputer
    logit = (coef @ z[keep] if len(keep) else 0.0) + intercept
    if evidence is not None and logs_i is not None:
        ll = size_log_likelihood(evidence, logs_i, group_code, config.size_t_dof)
        if ll is not None:
            logit = logit + np.clip(ll - ll.max(), -config.size_max_nats, 0.0)
    return shares(np.exp(logit - logit.max()))
