"""Similar items: the leaf forest's neighbourhoods, cosine similarity within them, and the votes
for whole routings that the forest's leaves and the most similar items cast."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from routing_core.model.config import DIVISION_GUARD, NeighbourConfig
from routing_core.model.features import Encoded, ItemFeaturizer
from routing_core.model.forest import LeafForest
from routing_core.model.output import probability, shares
from routing_core.model.vocabulary import Vocabulary, varied_tokens


def normalise_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class Neighbours:
    """The leaf forest over step presence and the unit feature vectors of the training items.

    `search` finds a query's most similar training items among those sharing a forest leaf with
    it (a few dozen per query instead of all: no n x n matrix); `vote` gives each routing's share
    of the leaf mates, `near_vote` the most similar items' routings weighted sharply by similarity.
    """

    def __init__(self, forest: LeafForest, config: NeighbourConfig | None = None) -> None:
        self.forest = forest
        self.config = config or NeighbourConfig()

    def fit(self, X: np.ndarray, Xo: np.ndarray, featurizer: ItemFeaturizer, vocab: Vocabulary) -> Neighbours:
        """X: the featurizer's dense rows of the training items; Xo: their tree features."""
        self.featurizer = featurizer
        self.vocab = vocab
        self.X_ = normalise_rows(X)
        # The length of each item's vector without its code tokens: an item asked without a
        # familiar code is compared on its attributes alone (cosine over those columns).
        code = featurizer.code_columns_out_
        self.attr_norm_ = np.sqrt(np.maximum(1.0 - (self.X_[:, code] ** 2).sum(axis=1), 0.0)).astype(np.float32) \
            if len(code) else None
        presence = vocab.presence_
        self.forest_ = self.forest.fit(
            Xo, presence[:, varied_tokens(presence, self.config.forest_max_outputs)], vocab.item_routing_,
            len(vocab.routings_), order=self._fit_size_score())
        return self

    # -- a size score, so that leaf mates are of the query's size ---------------------------
    def _fit_size_score(self) -> np.ndarray:
        """A score in [0, 1) along the main direction of the numeric attributes (mostly size).

        Leaf mates are taken near a query's score, so references and times come from items of a
        similar size even in large leaves. (A principal direction by SVD of a sample, and its
        quantiles.)"""
        f = self.featurizer
        cols = [f.blocks_[c][0] for c in f.numeric_]
        self.size_columns_ = np.asarray(cols, dtype=np.int64)
        self.size_direction_ = np.zeros(len(cols))
        self.size_quantiles_ = np.zeros(1)
        n = len(self.X_)
        if not cols:
            return np.zeros(n)
        Z = self.X_[:, self.size_columns_].astype(np.float64)
        sub = Z[:: max(1, len(Z) // self.config.size_rows)]
        sub = sub - sub.mean(axis=0)
        if np.allclose(sub, 0):
            return np.zeros(n)
        _, _, vt = np.linalg.svd(sub, full_matrices=False)
        self.size_direction_ = vt[0]
        proj = Z @ self.size_direction_
        self.size_quantiles_ = np.quantile(proj, np.linspace(0, 1, self.config.size_quantiles))
        return self.size_score(self.X_)

    def size_score(self, X: np.ndarray) -> np.ndarray:
        if not len(self.size_columns_):
            return np.zeros(len(X))
        proj = X[:, self.size_columns_].astype(np.float64) @ self.size_direction_
        return np.searchsorted(self.size_quantiles_, proj) / (len(self.size_quantiles_) + 1)

    # -- queries --------------------------------------------------------------------------
    def queries(self, X: np.ndarray, enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit rows of X, which rows came without a familiar code, their size scores).

        A codeless row's code columns are zero, so it is normalised over its attributes alone; its
        size score is taken as if its code had the usual weight (training rows are normalised with
        their code), so its leaf mates are of its own size."""
        f = self.featurizer
        qn = normalise_rows(X)
        codeless = f.codeless(enc)
        size_rows = qn
        if codeless.any() and f.code_cols_:
            code_norm2 = sum(float(f.column_weight_[f.blocks_[c][0]]) ** 2 for c in f.code_cols_ if c in f.blocks_)
            norm = np.sqrt((X.astype(np.float64) ** 2).sum(axis=1) + np.where(codeless, code_norm2, 0.0))
            size_rows = np.where(codeless[:, None], X / np.maximum(norm, DIVISION_GUARD)[:, None], qn)
        return qn, codeless, self.size_score(size_rows)

    def search(self, q: np.ndarray, leaves: np.ndarray, k: int, exclude: np.ndarray | None = None,
               codeless: np.ndarray | None = None, size: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, similarities) of the k most similar (cosine) training items sharing a leaf
        with each query, best first (-1 pads). Queries marked `codeless` (no familiar item code)
        are compared on the attributes alone; `exclude` is a training item per query to skip."""
        n = len(q)
        qi, items = self.forest_.mates(leaves, self.size_score(q) if size is None else size,
                                       self.config.mate_window)
        if exclude is not None:
            keep = items != exclude[qi]
            qi, items = qi[keep], items[keep]
        sims = np.empty(len(qi), dtype=np.float32)
        step = self.config.search_chunk
        for a in range(0, len(qi), step):
            sims[a : a + step] = np.einsum("ij,ij->i", q[qi[a : a + step]], self.X_[items[a : a + step]])
        sims = self.attribute_similarity(sims, items, None if codeless is None else codeless[qi])
        order = np.lexsort((-sims, qi))
        qi, items, sims = qi[order], items[order], sims[order]
        first = np.searchsorted(qi, np.arange(n))
        rank = np.arange(len(qi)) - first[qi]
        keep = rank < k
        idx = np.full((n, k), -1, dtype=np.int64)
        sim = np.zeros((n, k), dtype=np.float32)
        idx[qi[keep], rank[keep]] = items[keep]
        sim[qi[keep], rank[keep]] = sims[keep]
        return idx, np.clip(sim, 0.0, 1.0)

    def attribute_similarity(self, sims: np.ndarray, items: np.ndarray, codeless: np.ndarray | bool | None
                             ) -> np.ndarray:
        """Cosine similarities of queries without a familiar code (whose code columns are zero)
        to training `items`, rescaled to the items' attribute columns alone."""
        if self.attr_norm_ is None or codeless is None or not np.any(codeless):
            return sims
        return np.where(codeless, sims / np.maximum(self.attr_norm_[items], self.config.attr_norm_floor), sims).astype(sims.dtype)

    # -- votes ----------------------------------------------------------------------------
    def trust_recurring(self, vote, counts: np.ndarray | None = None):
        """Votes re-weighted by how established each routing is (count / (count + c)): a routing
        seen once may be a one-off plant variant and speaks with less weight."""
        prior = self.config.vote_prior_count
        if prior <= 0:
            return vote
        counts = self.vocab.routing_count_ if counts is None else counts
        w = counts / (counts + prior)
        vote = sparse.csr_matrix(vote.multiply(w[None, :].astype(np.float32)))
        total = np.asarray(vote.sum(axis=1)).ravel()
        return sparse.csr_matrix(sparse.diags(np.where(total > 0, 1.0 / np.maximum(total, DIVISION_GUARD), 0.0)) @ vote)

    def near_vote(self, nn_idx: np.ndarray, nn_sim: np.ndarray) -> dict[int, float]:
        """Routings of the most similar items, weighted sharply by similarity (an identical item
        counts far more than a merely close one); shares sum to 1."""
        ok = nn_idx >= 0
        if not ok.any():
            return {}
        c = self.config
        v = self.vocab
        weights = np.power(np.clip(nn_sim[ok].astype(np.float64), c.knn_min_similarity, 1.0), c.knn_sharpness)
        if c.vote_prior_count > 0:
            counts = v.routing_count_[v.item_routing_[nn_idx[ok]]]
            weights = weights * counts / (counts + c.vote_prior_count)
        total = weights.sum()
        out: dict[int, float] = {}
        for r, w in zip(v.item_routing_[nn_idx[ok]].tolist(), (weights / total).tolist(), strict=True):
            out[r] = out.get(r, 0.0) + w
        # A sum of shares can land a rounding step above 1 (all neighbours on one routing).
        return {r: float(probability(w)) for r, w in out.items()}

    def drop_self_votes(self, vote, exp_leaves: np.ndarray, self_rows: np.ndarray):
        """Votes without the queried item's own (for ignore_history on a training item)."""
        forest = self.forest_
        rows = np.flatnonzero(self_rows >= 0)
        leaves = exp_leaves[rows]
        own = forest.train_leaves_[self_rows[rows]]
        vote = vote.tolil()
        n_trees = leaves.shape[1]
        for k, e in enumerate(rows):
            item = int(self_rows[e])
            r = int(self.vocab.item_routing_[item])
            acc = np.zeros(len(self.vocab.routings_), dtype=np.float64)
            for t in range(n_trees):
                leaf = leaves[k, t]
                a, b = forest.leaf_counts_.indptr[leaf], forest.leaf_counts_.indptr[leaf + 1]
                idx = forest.leaf_counts_.indices[a:b]
                cnt = forest.leaf_counts_.data[a:b].astype(np.float64).copy()
                if leaf == own[k, t]:
                    cnt[idx == r] -= 1.0
                total = cnt.sum()
                if total > 0:
                    acc[idx] += cnt / total
            vote[e, :] = sparse.csr_matrix(shares(acc))
        return vote.tocsr()

    def step_probabilities(self, vote) -> np.ndarray:
        """(n, tokens) presence probability of each step from routing votes."""
        clip = self.config.vote_clip
        return np.clip(np.asarray((vote @ self.vocab.routing_token_matrix_).todense()), clip, 1 - clip)
