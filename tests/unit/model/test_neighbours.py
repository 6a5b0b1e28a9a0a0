"""Neighbours: similar items within the forest's leaves, and the votes for whole routings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from routing_core.model.config import NeighbourConfig
from routing_core.model.forest import LeafForest
from routing_core.model.neighbours import Neighbours, normalise_rows
from tests.unit.model.tables import fitted_parts, options_table


@pytest.fixture(scope="module")
def fitted():
    ops = options_table(per_combo=20)
    # a twin of P-0000: the same attributes, another code
    twin = ops[ops["item_code"] == "P-0000"].assign(item_code="TWIN")
    parts = fitted_parts(pd.concat([ops, twin], ignore_index=True), ["heat", "coat", "size"])
    nb = Neighbours(LeafForest(n_estimators=8, random_state=0, n_jobs=1), NeighbourConfig()).fit(
        parts.X, parts.Xo, parts.featurizer, parts.vocab)
    return parts, nb


def test_normalise_rows():
    out = normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_identical_items_have_similarity_one_and_come_first(fitted):
    parts, nb = fitted
    v = parts.vocab
    i, twin = v.item_index_["P-0000"], v.item_index_["TWIN"]
    q = normalise_rows(parts.X[[i]])
    idx, sim = nb.search(q, nb.forest_.apply(parts.Xo[[i]]), k=5)
    assert set(idx[0, :2].tolist()) == {i, twin}
    assert sim[0, :2].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert (np.diff(sim[0]) <= 1e-7).all()  # best first
    assert sim[0, 2] < 1.0 - 1e-4
    # the similarities are the cosines of the feature rows
    Xn = normalise_rows(parts.X)
    for j, s in zip(idx[0], sim[0], strict=True):
        if j >= 0:
            assert s == pytest.approx(float(np.clip(Xn[j] @ q[0], 0, 1)), abs=1e-5)


def test_exclude_removes_the_item_itself(fitted):
    parts, nb = fitted
    v = parts.vocab
    rows = np.array([v.item_index_["P-0000"], v.item_index_["P-0030"]])
    idx, sim = nb.search(normalise_rows(parts.X[rows]), nb.forest_.apply(parts.Xo[rows]), k=5, exclude=rows)
    assert rows[0] not in idx[0] and rows[1] not in idx[1]
    assert idx[0, 0] == v.item_index_["TWIN"] and sim[0, 0] == pytest.approx(1.0, abs=1e-5)
    # neighbours share the item's routing (the forest's leaves group by steps)
    assert (v.item_routing_[idx[1][idx[1] >= 0]] == v.item_routing_[rows[1]]).all()


def test_search_pads_with_minus_one_when_fewer_mates(fitted):
    parts, nb = fitted
    i = parts.vocab.item_index_["P-0000"]
    idx, sim = nb.search(normalise_rows(parts.X[[i]]), nb.forest_.apply(parts.Xo[[i]]), k=200)
    found = idx[0] >= 0
    assert not found.all() and (idx[0][found.sum():] == -1).all() and (sim[0][~found] == 0).all()


def test_trust_recurring_weighs_routings_by_n_over_n_plus_c(fitted):
    _, nb = fitted
    counts = np.array([1.0, 10.0, 4.0])
    vote = sparse.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8], [0.0, 0.0, 0.0]]))
    out = nb.trust_recurring(vote, counts).toarray()
    c = NeighbourConfig().vote_prior_count
    w = counts / (counts + c)
    assert out[0, 0] / out[0, 1] == pytest.approx(w[0] / w[1])  # (1/3) / (10/12) = 0.4
    assert out[0, 0] / out[0, 1] == pytest.approx(0.4)
    assert out[1].tolist() == pytest.approx([0.2 * w[0] / (0.2 * w[0] + 0.8 * w[2]), 0.0,
                                             0.8 * w[2] / (0.2 * w[0] + 0.8 * w[2])])
    np.testing.assert_allclose(out[:2].sum(axis=1), 1.0, rtol=1e-6)
    assert out[2].tolist() == [0.0, 0.0, 0.0]  # no votes stay none


def test_trust_recurring_off_leaves_votes_alone(fitted):
    parts, nb = fitted
    plain = Neighbours(nb.forest_, NeighbourConfig(vote_prior_count=0))
    vote = sparse.csr_matrix(np.array([[0.5, 0.5]]))
    assert plain.trust_recurring(vote) is vote


def test_forest_votes_sum_to_one_and_give_step_probabilities(fitted):
    parts, nb = fitted
    vote, _ = nb.forest_.vote(parts.Xo[:6])
    trusted = nb.trust_recurring(vote)
    np.testing.assert_allclose(np.asarray(trusted.sum(axis=1)).ravel(), 1.0, rtol=1e-5)
    probs = nb.step_probabilities(trusted)
    assert probs.shape == (6, len(parts.vocab.tokens_))
    # Each step's probability is the share of the vote for routings holding it, worked out here
    # routing by routing (kept off 0 and 1 by 1e-4, so that its log-odds stay finite).
    # (the training items' own votes are nearly pure: a mixed vote of two routings is added)
    r1, r2 = sorted({int(r) for r in parts.vocab.item_routing_})[:2]
    mixed = sparse.csr_matrix(([0.3, 0.7], ([0, 0], [r1, r2])), shape=(1, len(parts.vocab.routings_)))
    trusted = sparse.vstack([trusted, mixed]).tocsr()
    probs = nb.step_probabilities(trusted)
    dense = trusted.toarray()
    assert ((probs[6] > 0.2) & (probs[6] < 0.8)).any()  # a step of one routing only: 0.3 or 0.7
    for i in range(7):
        for k in range(len(parts.vocab.tokens_)):
            share = sum(w for r, w in enumerate(dense[i]) if k in parts.vocab.routing_tokens_[r])
            assert probs[i, k] == pytest.approx(min(max(share, 1e-4), 1 - 1e-4), abs=1e-6)
    # a vote wholly for one routing: its steps are (nearly) sure, the others (nearly) ruled out
    r = int(parts.vocab.item_routing_[0])
    one = sparse.csr_matrix(([1.0], ([0], [r])), shape=(1, len(parts.vocab.routings_)))
    p = nb.step_probabilities(one)[0]
    has = parts.vocab.routing_token_matrix_[r].toarray()[0] > 0
    assert p[has].tolist() == pytest.approx([1 - 1e-4] * has.sum())
    assert p[~has].tolist() == pytest.approx([1e-4] * (~has).sum())


def test_near_vote_shares_sum_to_one_and_favour_the_identical(fitted):
    parts, nb = fitted
    v = parts.vocab
    a, b = v.item_index_["P-0000"], v.item_index_["P-0030"]
    assert v.item_routing_[a] != v.item_routing_[b]
    shares = nb.near_vote(np.array([a, b, -1]), np.array([1.0, 0.9, 0.0]))
    assert sum(shares.values()) == pytest.approx(1.0)
    ra, rb = int(v.item_routing_[a]), int(v.item_routing_[b])
    ca, cb = v.routing_count_[ra], v.routing_count_[rb]
    c = NeighbourConfig()
    wa = 1.0 * ca / (ca + c.vote_prior_count)
    wb = 0.9 ** c.knn_sharpness * cb / (cb + c.vote_prior_count)
    assert shares[ra] == pytest.approx(wa / (wa + wb))
    assert nb.near_vote(np.array([-1, -1]), np.array([0.0, 0.0])) == {}


def test_drop_self_votes_removes_the_items_own_vote(fitted):
    parts, nb = fitted
    v = parts.vocab
    i = v.item_index_["P-0000"]
    vote, leaves = nb.forest_.vote(parts.Xo[[i]])
    dropped = nb.drop_self_votes(vote, leaves, np.array([i])).toarray()[0]
    assert dropped.sum() == pytest.approx(1.0)
    # by hand: per tree, the leaf's counts without this item, as shares, averaged
    expected = np.zeros(len(v.routings_))
    for t in range(leaves.shape[1]):
        counts = nb.forest_.leaf_counts_[leaves[0, t]].toarray()[0].astype(float)
        counts[v.item_routing_[i]] -= 1
        if counts.sum() > 0:
            expected += counts / counts.sum()
    np.testing.assert_allclose(dropped, expected / expected.sum(), rtol=1e-5)


def test_an_item_asked_without_its_code_is_compared_on_its_attributes():
    rng = np.random.default_rng(0)
    n = 120
    family = rng.choice(["SH", "FL"], size=n)
    rows = []
    for i, fam in enumerate(family):
        steps = ["CUT", "TURN", "INSPECT"] if fam == "SH" else ["CUT", "MILL", "INSPECT"]
        material = rng.choice(["steel", "alu"])
        for j, s in enumerate(steps):
            rows.append({"item_code": f"{fam}-{i:04d}", "seq": j, "process_code": s,
                         "material": material, "size": float(rng.uniform(1, 10))})
    ops = pd.DataFrame(rows)
    ops["size"] = ops.groupby("item_code")["size"].transform("first")
    parts = fitted_parts(ops, ["material", "size"], use_code=True, code_check=False)
    f = parts.featurizer
    assert f.code_cols_  # the prefix tells the routing
    nb = Neighbours(LeafForest(n_estimators=8, n_jobs=1), NeighbourConfig()).fit(parts.X, parts.Xo, f, parts.vocab)
    i = 5
    query = parts.items.iloc[[i]].assign(item_code=None)
    enc = f.encode(query)
    qn, codeless, size = nb.queries(f.dense(enc), enc)
    assert codeless.tolist() == [True]
    idx, sim = nb.search(qn, nb.forest_.apply(f.ordinal(enc)), 10, codeless=codeless, size=size)
    found = idx[0] >= 0
    assert found.any()
    # its own attributes: similarity 1 to itself wherever found, and every similarity in [0, 1]
    if i in idx[0]:
        assert sim[0][idx[0] == i][0] == pytest.approx(1.0, abs=1e-4)
    assert sim[0, 0] == pytest.approx(1.0, abs=1e-3)  # an item with the same attributes
    # by hand: the cosine over the attribute columns only
    X = normalise_rows(parts.X)
    attr = np.setdiff1d(np.arange(X.shape[1]), f.code_columns_out_)
    for j, s in zip(idx[0][found], sim[0][found], strict=True):
        a, b = X[j, attr], qn[0, attr]
        assert s == pytest.approx(float(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), 0, 1)), abs=1e-4)
