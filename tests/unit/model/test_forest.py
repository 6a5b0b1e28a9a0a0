"""LeafForest: trees on step presence kept as split structure, leaf votes and leaf mates."""

from __future__ import annotations

import numpy as np
import pytest

from routing_core.model.forest import LeafForest


def two_clusters(n=60, seed=0):
    """Half the items small (steps 0, 1; label 0), half large (steps 0, 2; label 1)."""
    rng = np.random.default_rng(seed)
    large = np.arange(n) >= n // 2
    X = np.column_stack([np.where(large, 10.0, 1.0) + rng.normal(0, 0.1, n), rng.normal(size=n)])
    Y = np.column_stack([np.ones(n), ~large, large]).astype(float)
    return X, Y, large.astype(int)


@pytest.fixture(scope="module")
def forest():
    X, Y, labels = two_clusters()
    return LeafForest(n_estimators=8, random_state=0, n_jobs=1).fit(X, Y, labels, 2), X, labels


def test_apply_gives_one_leaf_per_tree(forest):
    f, X, _ = forest
    leaves = f.apply(X)
    assert leaves.shape == (len(X), 8)
    assert f.is_leaf_[leaves].all()
    # each tree's leaves lie within its own block of nodes
    assert ((leaves >= f.offsets_) & (leaves < np.r_[f.offsets_[1:], f.n_nodes_])).all()
    np.testing.assert_array_equal(leaves, f.train_leaves_)
    assert f.leaf_counts_.sum() == len(X) * 8  # every item counted once per tree


def test_identical_rows_share_every_leaf(forest):
    f, X, _ = forest
    leaves = f.apply(np.vstack([X[3], X[3]]))
    np.testing.assert_array_equal(leaves[0], leaves[1])


def test_votes_sum_to_one_and_follow_the_cluster(forest):
    f, _, _ = forest
    vote, leaves = f.vote(np.array([[1.0, 0.0], [10.0, 0.0], [5.5, 3.0]]))
    dense = vote.toarray()
    assert dense.shape == (3, 2) and leaves.shape == (3, 8)
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, rtol=1e-6)
    assert dense[0].tolist() == pytest.approx([1.0, 0.0])
    assert dense[1].tolist() == pytest.approx([0.0, 1.0])


def test_mates_hold_the_item_itself_once_and_respect_the_window(forest):
    f, X, labels = forest
    leaves = f.apply(X[:5])
    q, items = f.mates(leaves, window=4)
    pairs = set(zip(q.tolist(), items.tolist(), strict=True))
    assert len(pairs) == len(q)  # deduplicated
    assert q.tolist() == sorted(q.tolist())
    for i in range(5):
        mine = items[q == i]
        assert len(mine) <= 4 * 8
        assert (labels[mine] == labels[i]).mean() >= 0.8  # leaf mates mostly need the same steps
    wide_q, wide_items = f.mates(leaves, window=60)
    for i in range(5):
        assert i in wide_items[wide_q == i]  # a training item is its own leaf mate


def test_without_features_every_tree_is_one_leaf():
    labels = np.array([0, 0, 0, 1])
    f = LeafForest(n_estimators=3, n_jobs=1).fit(np.zeros((4, 0)), np.ones((4, 1)), labels, 2)
    vote, _ = f.vote(np.zeros((2, 1)))
    np.testing.assert_allclose(vote.toarray(), [[0.75, 0.25], [0.75, 0.25]], rtol=1e-6)


def test_same_seed_same_forest():
    X, Y, labels = two_clusters(seed=1)
    a = LeafForest(n_estimators=4, random_state=3, n_jobs=1).fit(X, Y, labels, 2)
    b = LeafForest(n_estimators=4, random_state=3, n_jobs=2).fit(X, Y, labels, 2)
    np.testing.assert_array_equal(a.train_leaves_, b.train_leaves_)
    np.testing.assert_array_equal(a.threshold_, b.threshold_)


def test_mates_are_taken_nearest_the_query_order_value():
    n = 20
    order = np.arange(n) / n
    f = LeafForest(n_estimators=2, n_jobs=1).fit(np.zeros((n, 0)), np.ones((n, 1)), np.zeros(n, int), 1,
                                                 order=order)
    leaves = f.apply(np.zeros((2, 1)))
    q, items = f.mates(leaves, order=np.array([0.5, 0.99]), window=4)
    assert sorted(items[q == 0].tolist()) == [8, 9, 10, 11]
    assert sorted(items[q == 1].tolist()) == [16, 17, 18, 19]  # the window stays inside the leaf


def test_rows_with_blanks_reach_the_leaves_scikit_learn_sends_them_to():
    """The forest walks its trees itself; a blank (NaN) goes where scikit-learn's own `apply`
    sends it: the side the tree learned for missing values, else the side with more items."""
    from sklearn.tree import DecisionTreeRegressor

    X, Y, labels = two_clusters(n=80, seed=1)
    rng = np.random.default_rng(3)
    X = np.where(rng.random(X.shape) < 0.2, np.nan, X)  # blanks in training: splits learn a side
    f = LeafForest(n_estimators=6, max_samples=1.0, random_state=5, n_jobs=1).fit(X, Y, labels, 2)
    queries = np.vstack([X[:20], np.full((1, 2), np.nan), [[np.nan, 0.0], [5.0, np.nan]]])
    queries[::3, 0] = np.nan
    ours = f.apply(queries)
    # The same trees grown here: the forest's seeds, every row, the same settings.
    seeds = np.random.default_rng(5).integers(0, 2**31 - 1, size=6)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    for t, seed in enumerate(seeds):
        tree = DecisionTreeRegressor(min_samples_leaf=f.min_samples_leaf, min_impurity_decrease=0.0,
                                     max_features=f.max_features, random_state=int(seed)).fit(X32, Y32)
        np.testing.assert_array_equal(ours[:, t] - f.offsets_[t], tree.apply(queries.astype(np.float32)))
    assert np.isnan(queries).any(axis=1).sum() >= 8  # the blank branch was taken, not only the numbers
