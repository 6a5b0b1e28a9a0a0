"""The leaf forest: randomised multi-output trees on step presence, kept as compact arrays.

Its leaves are where items needing the same steps live: the training items sharing a leaf with a
query vote for their routings, and are the candidates searched for its most similar items.
scikit-learn's forests keep every node's output values (one per step and node); keeping only
the split structure is what lets a 100,000-item model with hundreds of steps stay within a few
hundred MB (docs/benchmarks.md), so this part stays hand-written.
"""

from __future__ import annotations

import os

import numpy as np

from routing_core.model.config import ORDER_BELOW_ONE, SEED_LIMIT, NeighbourConfig, ParamDefaults

_P = ParamDefaults()

class LeafForest:
    """Randomised multi-output trees on step presence; what is kept is only their structure.

    Each tree splits items so that the steps they need agree; the training items that share a
    leaf with a query vote for their routings (a supervised neighbourhood). Only split
    structure is stored (compact arrays), not scikit-learn's per-node output values, so the
    model stays small whatever the number of steps.
    """

    def __init__(self, n_estimators: int = _P.n_estimators, min_samples_leaf: int = _P.min_samples_leaf,
                 max_features: float = _P.max_features, max_samples: float = _P.max_samples,
                 min_split_gain: float = _P.min_split_gain, random_state: int = 0,
                 n_jobs: int | None = None, max_rows: int | None = None) -> None:
        self.n_estimators = n_estimators
        self.min_split_gain = min_split_gain
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_samples = max_samples
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.max_rows = max_rows  # rows each tree is grown on at most (every row still gets a leaf)

    def fit(self, X: np.ndarray, Y: np.ndarray, labels: np.ndarray, n_labels: int,
            order: np.ndarray | None = None) -> LeafForest:
        """Grow the trees on (X, Y) and keep, per leaf, the counts of `labels` of the items in it.

        `order` (values in [0, 1), one per row) sorts the items inside each leaf, so that the
        leaf mates of a query can be taken near its own value (e.g. a size score).
        """
        from joblib import Parallel, delayed
        from sklearn.tree import DecisionTreeRegressor

        X = np.ascontiguousarray(X, dtype=np.float32)
        Y = np.ascontiguousarray(Y, dtype=np.float32)
        n = len(X)
        if X.shape[1] == 0:  # no usable feature: every tree is one leaf holding every item
            X = np.zeros((n, 1), dtype=np.float32)
        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, SEED_LIMIT, size=self.n_estimators)
        size = max(2, int(round(self.max_samples * n))) if n > 2 else n
        if self.max_rows:
            size = min(size, self.max_rows)

        def grow(seed: int):
            r = np.random.default_rng(seed)
            rows = np.sort(r.choice(n, size=size, replace=False)) if size < n else np.arange(n)
            tree = DecisionTreeRegressor(
                min_samples_leaf=self.min_samples_leaf,
                # In items' worth of one output's variance: a split must explain more than
                # min_split_gain items whose single step disagrees (keeps lone noise out).
                min_impurity_decrease=self.min_split_gain / (len(rows) * max(Y.shape[1], 1)),
                max_features=self.max_features if X.shape[1] > 1 else None,
                random_state=int(seed),
            ).fit(X[rows], Y[rows])
            t = tree.tree_
            return (t.children_left.astype(np.int32), t.children_right.astype(np.int32),
                    t.feature.astype(np.int32), t.threshold.astype(np.float64),
                    np.asarray(t.missing_go_to_left, dtype=bool), tree.apply(X).astype(np.int64))

        jobs = self.n_jobs if self.n_jobs is not None else min(2, os.cpu_count() or 1)
        parts = Parallel(n_jobs=jobs, prefer="threads")(delayed(grow)(int(s)) for s in seeds)
        sizes = np.array([len(p[0]) for p in parts])
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        offsets = self.offsets_
        self.left_ = np.concatenate([np.where(p[0] >= 0, p[0] + o, -1) for p, o in zip(parts, offsets, strict=True)])
        self.right_ = np.concatenate([np.where(p[1] >= 0, p[1] + o, -1) for p, o in zip(parts, offsets, strict=True)])
        self.feature_ = np.concatenate([np.maximum(p[2], 0) for p in parts]).astype(np.int32)
        self.threshold_ = np.concatenate([p[3] for p in parts])
        self.missing_left_ = np.concatenate([p[4] for p in parts])
        self.is_leaf_ = self.left_ < 0
        self.n_nodes_ = int(sizes.sum())
        leaves = np.column_stack([p[5] + o for p, o in zip(parts, offsets, strict=True)])
        del parts
        self.train_leaves_ = leaves.astype(np.int32)
        from scipy import sparse

        flat = leaves.ravel()
        cols = np.repeat(labels.astype(np.int64), leaves.shape[1])
        counts = sparse.csr_matrix(
            (np.ones(len(flat), dtype=np.float32), (flat, cols)), shape=(self.n_nodes_, n_labels)
        )
        counts.sum_duplicates()
        self.leaf_counts_ = counts
        size_per_leaf = np.asarray(counts.sum(axis=1)).ravel()
        inv = np.where(size_per_leaf > 0, 1.0 / np.maximum(size_per_leaf, 1), 0.0)
        self.leaf_dist_ = sparse.csr_matrix(sparse.diags(inv.astype(np.float32)) @ counts)
        # The training items of each leaf sorted by `order`, for finding an item's leaf mates.
        u = np.zeros(n) if order is None else np.clip(np.asarray(order, dtype=np.float64), 0, ORDER_BELOW_ONE)
        key = flat.astype(np.float64) + np.repeat(u, leaves.shape[1])
        sort = np.argsort(key, kind="stable")
        self.leaf_key_ = key[sort]
        self.leaf_items_ = (sort // leaves.shape[1]).astype(np.int32)
        self.leaf_ptr_ = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=self.n_nodes_))])
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Global leaf id of each row in each tree (n x n_estimators)."""
        X = np.asarray(X, dtype=np.float32)
        n, t = len(X), len(self.offsets_)
        node = np.tile(self.offsets_, n)
        active = np.flatnonzero(~self.is_leaf_[node])
        while len(active):
            nd = node[active]
            v = X[active // t, self.feature_[nd]]
            go_left = np.where(np.isnan(v), self.missing_left_[nd], v <= self.threshold_[nd])
            nxt = np.where(go_left, self.left_[nd], self.right_[nd])
            node[active] = nxt
            active = active[~self.is_leaf_[nxt]]
        return node.reshape(n, t)

    def mates(self, leaves: np.ndarray, order: np.ndarray | None = None, window: int = NeighbourConfig.mate_window
              ) -> tuple[np.ndarray, np.ndarray]:
        """(query, training item) pairs sharing a leaf, deduplicated: per leaf at most `window`
        items, those nearest the query's `order` value."""
        n, t = leaves.shape
        flat = leaves.ravel()
        u = np.zeros(n) if order is None else np.clip(np.asarray(order, dtype=np.float64), 0, ORDER_BELOW_ONE)
        lo_b, hi_b = self.leaf_ptr_[flat], self.leaf_ptr_[flat + 1]
        at = np.searchsorted(self.leaf_key_, flat + np.repeat(u, t))
        start = np.clip(at - window // 2, lo_b, np.maximum(hi_b - window, lo_b))
        stop = np.minimum(start + window, hi_b)
        lens = stop - start
        pos = np.repeat(start - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        items = self.leaf_items_[pos].astype(np.int64)
        width = int(items.max(initial=0)) + 1
        key = np.unique(np.repeat(np.repeat(np.arange(n), t), lens).astype(np.int64) * width + items)
        return key // width, key % width

    def vote(self, X: np.ndarray):
        """(votes, leaves): share of the trees' leaf mates per label (sparse n x n_labels, rows sum
        to 1), and the leaf of each row in each tree."""
        from scipy import sparse

        leaves = self.apply(X)
        n, t = leaves.shape
        q = sparse.csr_matrix(
            (np.full(n * t, 1.0 / t, dtype=np.float32), leaves.ravel(), np.arange(0, n * t + 1, t)),
            shape=(n, self.n_nodes_),
        )
        return (q @ self.leaf_dist_).tocsr(), leaves
