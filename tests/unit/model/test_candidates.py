"""CandidateBuilder: ranking step sets and routings, and the candidates of one item; fallback groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model.candidates import CandidateBuilder, ItemQuery, fallback_group, group_words
from routing_core.model.config import CandidateConfig, NeighbourConfig
from routing_core.model.durations import StepEvidence
from routing_core.model.forest import LeafForest
from routing_core.model.neighbours import Neighbours
from tests.unit.model.tables import fitted_parts, options_table

FAMILY = {("N", "N"): "plain", ("Y", "N"): "heated", ("N", "Y"): "coated"}


@pytest.fixture(scope="module")
def built():
    ops = options_table(per_combo=20)
    ops["family"] = [FAMILY[(h, c)] for h, c in zip(ops["heat"], ops["coat"], strict=True)]
    # a few coated items of another routing: the group's most frequent one still wins
    odd = ops[ops["item_code"].isin(["P-0040", "P-0041"])].copy()
    odd = odd[odd["process_code"] != "DRILL"]
    ops = pd.concat([ops[~ops["item_code"].isin(["P-0040", "P-0041"])], odd], ignore_index=True)
    parts = fitted_parts(ops, ["heat", "coat", "family", "size"], ["work_center"])
    group, routing_of = fallback_group(parts.featurizer, parts.items, parts.vocab.item_routing_)
    nb = Neighbours(LeafForest(n_estimators=8, n_jobs=1), NeighbourConfig()).fit(
        parts.X, parts.Xo, parts.featurizer, parts.vocab)
    builder = CandidateBuilder(parts.vocab, nb, StepEvidence().fit(parts.vocab), CandidateConfig(),
                               n_neighbors=5, similarity_threshold=0.8, vote_weight=0.1,
                               group_column=group, group_routing=routing_of)
    return parts, nb, builder


def routing_named(v, steps):
    return next(r for r in range(len(v.routings_)) if v.routing_processes(r) == steps)


def test_fallback_group_is_the_column_that_tells_most(built):
    parts, _, builder = built
    v = parts.vocab
    assert builder.group_column == "family"
    coated = routing_named(v, ["CUT", "DRILL", "COAT", "INSPECT"])
    heated = routing_named(v, ["CUT", "HEAT", "DRILL", "INSPECT"])
    assert builder.group_routing["coated"] == (coated, 18)
    assert builder.group_routing["heated"] == (heated, 20)
    assert set(builder.group_routing) == {"plain", "heated", "coated"}


def test_group_words():
    assert group_words("code:prefix", "SH") == "item code prefix SH"
    assert group_words("code:first2", "12") == "item code starting 12"
    assert group_words("material", "C45") == "material C45"


def ask(parts, nb, frame):
    f = parts.featurizer
    enc = f.encode(frame)
    qn, codeless, size = nb.queries(f.dense(enc), enc)
    idx, sim = nb.search(qn, nb.forest_.apply(f.ordinal(enc)), 5, codeless=codeless, size=size)
    return enc, qn, codeless, idx, sim


def test_an_unlike_item_falls_back_to_its_groups_routing_with_a_low_score(built):
    parts, nb, builder = built
    v, f = parts.vocab, parts.featurizer
    frame = pd.DataFrame({"item_code": ["NEW"], "heat": ["?"], "coat": ["?"], "family": ["coated"],
                          "size": [1e7]})
    enc, qn, codeless, idx, sim = ask(parts, nb, frame)
    familiar = float(f.familiarity(enc)[0])
    assert familiar < 0.5 and sim[0, 0] < 0.8
    probs = np.full(len(v.tokens_), 0.5)
    item = ItemQuery(0, "NEW", idx[0], sim[0], "coated", familiar, qn[0], bool(codeless[0]), probs)
    pred = builder.assemble(item, [], builder.evidence.batch(idx), 3, False)
    assert pred.fallback and not pred.known
    [fb] = pred.candidates
    assert fb.kind == "fallback" and fb.rank == 1
    assert fb.score == pytest.approx(0.25 * max(float(sim[0, 0]), 0.0) + 0.05) and fb.score < 0.3
    assert fb.processes == ["CUT", "DRILL", "COAT", "INSPECT"]
    assert "the most frequent routing of items with family coated (18 items)" in fb.note
    assert pred.message == fb.note
    assert len(fb.references) == 3  # the routing's items most like the query
    assert all(v.routing_processes(v.item_routing_[v.item_index_[c]]) == fb.processes for c, _ in fb.references)


def test_a_fallback_without_a_known_group_takes_the_most_frequent_routing(built):
    parts, nb, builder = built
    v = parts.vocab
    q = np.zeros(parts.X.shape[1], dtype=np.float32)
    ev = builder.evidence.batch(np.full((1, 2), -1))
    fb = builder.fallback(0, None, 0.1, q, ev)
    top = int(np.argmax(v.routing_count_))
    assert fb.processes == v.routing_processes(top)
    assert f"the most frequent routing overall ({int(v.routing_count_[top])} items)" in fb.note
    assert fb.note.startswith("No training item is similar enough (best similarity 0.10 < 0.80)")
    assert fb.score == pytest.approx(0.075)


def test_a_known_item_leads_with_its_own_routing(built):
    parts, nb, builder = built
    v = parts.vocab
    code = "P-0025"  # a heated item
    frame = parts.items[parts.items["item_code"] == code]
    enc, qn, codeless, idx, sim = ask(parts, nb, frame)
    own = parts.ops[parts.ops["item_code"] == code]
    scored = builder.rank(np.where(v.presence_[v.item_index_[code]], 0.99, 0.01)[None, :], [{}], np.ones(1), 3)
    item = ItemQuery(0, code, idx[0], sim[0], "heated", 1.0, qn[0], False, None)
    pred = builder.assemble(item, scored, builder.evidence.batch(idx), 3, False)
    assert pred.known and not pred.fallback
    first = pred.candidates[0]
    assert (first.kind, first.score, first.rank) == ("known", 1.0, 1)
    assert first.processes == own["process_code"].tolist()
    assert [s.duration_min for s in first.steps] == own["duration_min"].tolist()
    assert first.total_duration_min == pytest.approx(own["duration_min"].sum())
    assert first.steps[0].attributes == {"work_center": "WC-CUT"}
    # the same routing is not offered twice; the item is no reference of the others
    assert [tuple(c.processes) for c in pred.candidates].count(tuple(first.processes)) == 1
    assert all(code not in [r for r, _ in c.references] for c in pred.candidates[1:])
    assert [c.rank for c in pred.candidates] == list(range(1, len(pred.candidates) + 1))


def test_rank_composes_a_never_seen_set_in_learned_order(built):
    parts, _, builder = built
    v = parts.vocab
    tok = {t: k for k, t in enumerate(v.tokens_)}
    probs = np.full((1, len(v.tokens_)), 0.01)
    probs[0, [tok[t] for t in ("CUT", "HEAT", "DRILL", "COAT", "INSPECT")]] = 0.99
    scored = builder.rank(probs, [{}], np.ones(1), top_k=3)
    score, toks, routing = scored[0]
    assert [v.tokens_[t] for t in toks] == ["CUT", "HEAT", "DRILL", "COAT", "INSPECT"]
    assert routing is None
    n_other = len(v.tokens_) - 5
    assert score == pytest.approx((1 - 0.1) * 0.99 ** 5 * 0.99 ** n_other)
    assert [s for s, _, _ in scored] == sorted((s for s, _, _ in scored), reverse=True)


def test_rank_blends_the_vote_for_a_routing(built):
    parts, _, builder = built
    v = parts.vocab
    plain = routing_named(v, ["CUT", "DRILL", "INSPECT"])
    probs = np.where(v.routing_token_matrix_[plain].toarray() > 0, 0.9, 0.1)
    scored = builder.rank(probs, [{plain: 1.0}], np.ones(1), top_k=2)
    score, toks, routing = scored[0]
    assert routing == plain and toks == v.routing_token_lists_[plain]
    order_p = v.routing_count_[plain] / v.set_count_[plain]
    joint = 0.9 ** 3 * 0.9 ** (len(v.tokens_) - 3) * order_p
    assert score == pytest.approx(0.1 * 1.0 + 0.9 * joint)


def test_references_with_the_routing_else_sharing_most_steps(built):
    parts, _, builder = built
    v = parts.vocab
    plain = routing_named(v, ["CUT", "DRILL", "INSPECT"])
    heated = routing_named(v, ["CUT", "HEAT", "DRILL", "INSPECT"])
    # neighbours as search gives them: most similar first
    idx = np.array([v.item_index_["P-0021"], v.item_index_["P-0002"], v.item_index_["P-0001"]])
    sims = np.array([0.95, 0.9, 0.7])
    nb = (idx, v.item_routing_[idx], sims)
    refs, exact = builder.references(v.routing_token_lists_[plain], plain, nb)
    assert exact and refs == [("P-0002", 0.9), ("P-0001", 0.7)]
    refs, exact = builder.references(v.routing_token_lists_[plain], plain, nb, exclude="P-0002")
    assert refs == [("P-0001", 0.7)]
    tok = {t: k for k, t in enumerate(v.tokens_)}
    composed = [tok[t] for t in ("CUT", "HEAT", "DRILL", "COAT", "INSPECT")]
    refs, exact = builder.references(composed, None, (idx[::-1], v.item_routing_[idx[::-1]], sims[::-1]))
    # plain shares 3 of 5 steps, heated 4 of 5: all overlap >= 0.5; sorted most similar first
    assert not exact and refs == [("P-0021", 0.95), ("P-0002", 0.9), ("P-0001", 0.7)]
    assert v.item_routing_[v.item_index_["P-0021"]] == heated
