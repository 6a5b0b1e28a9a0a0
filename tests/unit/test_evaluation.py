"""Evaluation: every metric pinned on hand-computed cases, the split, the baselines, the whole run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model import RoutingModel
from routing_core.model.similarity import levenshtein, sequence_similarity
from routing_core.platform.errors import UserError
from routing_core.scoring.evaluation import (
    PAD,
    BestAttributeBaseline,
    MostFrequentBaseline,
    NeighbourVoteBaseline,
    aligned_steps,
    evaluate_model,
    routing_metrics,
    score_routings,
    split_items,
    top_k_cosine,
    training_view,
    true_routings,
)
from routing_core.synthetic.sample import SampleConfig, generate

# ---------------------------------------------------------------- metric pieces


def test_levenshtein_by_hand():
    assert levenshtein("ABC", "ABC") == 0
    assert levenshtein(["A", "B", "C"], ["A", "C"]) == 1  # one deletion
    assert levenshtein(["A", "B"], ["B", "A"]) == 2  # a swap is two edits
    assert levenshtein([], ["A", "B"]) == 2
    assert levenshtein("kitten", "sitting") == 3


def _edit_distance(a, b) -> int:
    """The textbook dynamic programme, as a reference for the library's distance."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_levenshtein_equals_the_textbook_programme_on_random_routings():
    rng = np.random.default_rng(8)
    codes = ["SAW", "MILL", "DRILL", "PAINT", "QC", "saw", "Säge", "=1+2", "1", "1.0"]
    for _ in range(2_000):
        a = [codes[i] for i in rng.integers(0, len(codes), rng.integers(0, 12))]
        b = [codes[i] for i in rng.integers(0, len(codes), rng.integers(0, 12))]
        assert levenshtein(a, b) == _edit_distance(a, b), (a, b)
        assert levenshtein(tuple(a), b) == levenshtein(b, a)


def test_sequence_similarity_by_hand():
    assert sequence_similarity(["A", "B", "C"], ["A", "B", "C"]) == 1.0
    assert sequence_similarity(["A", "C"], ["A", "B", "C"]) == pytest.approx(1 - 1 / 3)
    assert sequence_similarity(["X"], ["A", "B"]) == 0.0
    assert sequence_similarity([], []) == 1.0


def test_aligned_steps_pad_the_shorter_side():
    assert aligned_steps(["A"], ["A", "B", "C"]) == (["A", "B", "C"], ["A", PAD, PAD])
    assert aligned_steps(["A", "B"], ["C"]) == (["C", PAD], ["A", "B"])


def _hand_case():
    truth = [
        (["A", "B", "C"], [10.0, 20.0, 30.0]),
        (["A", "B"], [5.0, 8.0]),
        (["D"], [1.0]),
    ]
    ranked = [
        [(["A", "B", "C"], [12.0, 20.0, None])],
        [(["A", "C"], [4.0, 9.0]), (["A", "B"], [5.0, 8.0])],
        [(["A"], [1.0]), (["B"], [1.0]), (["C"], [1.0]), (["D"], [1.0])],
    ]
    return truth, ranked


def test_score_routings_every_metric_by_hand():
    truth, ranked = _hand_case()
    m = score_routings(truth, ranked, covered=[True, False, True])
    assert m["routing_accuracy"] == pytest.approx(1 / 3)
    assert m["top_1_accuracy"] == pytest.approx(1 / 3)
    assert m["top_3_accuracy"] == pytest.approx(2 / 3)  # item 2 at rank 2; item 3 only at rank 4
    assert m["top_5_accuracy"] == pytest.approx(1.0)
    # 1, 1 - 1/2, 1 - 1/1
    assert m["sequence_similarity"] == pytest.approx(0.5)
    # aligned (true, pred): (A,A) (B,B) (C,C) | (A,A) (B,C) | (D,A): 4 of 6 right
    assert m["sample_count"] == 6
    assert m["step_accuracy"] == pytest.approx(4 / 6)
    # per label (support): A (2) p=2/3 r=1 f=0.8; B (2) p=1 r=1/2 f=2/3; C (1) p=1/2 r=1 f=2/3;
    # D (1) never predicted: p=r=f=0 (zero_division=0)
    assert m["precision_weighted"] == pytest.approx((2 * 2 / 3 + 2 * 1 + 1 * 0.5 + 0) / 6)
    assert m["recall_weighted"] == pytest.approx(4 / 6)
    assert m["f1_weighted"] == pytest.approx((2 * 0.8 + 2 * 2 / 3 + 2 / 3 + 0) / 6)
    # matched steps with both times: item 1 A (12 vs 10), B (20 vs 20); item 2 A (4 vs 5)
    assert m["duration_steps"] == 3
    assert m["duration_mae_min"] == pytest.approx((2 + 0 + 1) / 3)
    assert m["duration_mape"] == pytest.approx((0.2 + 0 + 0.2) / 3)
    assert m["duration_mdape"] == pytest.approx(0.2)
    assert m["coverage"] == pytest.approx(2 / 3)
    assert m["test_items"] == 3


def test_score_routings_without_times_or_candidates():
    m = score_routings([(["A"], [None])], [[]])
    assert m["routing_accuracy"] == 0.0
    assert m["duration_mae_min"] is None and m["duration_mape"] is None
    assert "coverage" not in m
    with pytest.raises(UserError, match="no items to evaluate"):
        score_routings([], [])


def test_true_routings_follow_seq_not_file_order():
    ops = pd.DataFrame({
        "item_code": ["B", "A", "B", "A"],
        "seq": [20, 10, 10, 20],
        "process_code": ["x", "y", "z", "w"],
        "duration_min": [1.0, np.nan, 3.0, 4.0],
    })
    assert true_routings(ops) == {"B": (["z", "x"], [3.0, 1.0]), "A": (["y", "w"], [None, 4.0])}


# ---------------------------------------------------------------- split


def test_split_is_by_item_seeded_and_complete():
    ops = generate(SampleConfig(n_items=300, seed=1))
    train, test = split_items(ops, test_size=0.25, seed=42)
    assert set(train["item_code"]).isdisjoint(set(test["item_code"]))
    assert len(train) + len(test) == len(ops)
    assert test["item_code"].nunique() == 75
    again_train, again_test = split_items(ops, test_size=0.25, seed=42)
    assert again_test["item_code"].tolist() == test["item_code"].tolist()
    other = split_items(ops, test_size=0.25, seed=7)[1]
    assert set(other["item_code"]) != set(test["item_code"])


def test_split_refuses_what_cannot_be_split():
    one = pd.DataFrame({"item_code": ["A", "A"], "process_code": ["x", "y"]})
    with pytest.raises(UserError, match="At least two items are needed"):
        split_items(one)
    with pytest.raises(UserError, match=r"test_size must lie between 0 and 1 \(exclusive\), not 1.5"):
        split_items(generate(SampleConfig(n_items=20)), test_size=1.5)


# ---------------------------------------------------------------- baselines


def _table(rows):
    """Long-form ops from (item, material, size, [processes])."""
    out = []
    for item, material, size, procs in rows:
        for j, p in enumerate(procs):
            out.append({"item_code": item, "seq": j + 1, "process_code": p, "duration_min": 10.0 * (j + 1),
                        "material": material, "size": size})
    return pd.DataFrame(out)


TRAIN = _table(
    [(f"S{i}", "steel", 10.0 + i, ["SAW", "MILL", "INSPECT"]) for i in range(6)]
    + [(f"A{i}", "alu", 50.0 + i, ["SAW", "ANODIZE", "INSPECT"]) for i in range(4)]
)


def test_most_frequent_baseline():
    base = MostFrequentBaseline().fit(training_view(TRAIN, ["material", "size"]))
    preds = base.predict(pd.DataFrame({"item_code": ["x", "y"]}))
    assert [c[0] for c in preds[0]] == [["SAW", "MILL", "INSPECT"], ["SAW", "ANODIZE", "INSPECT"]]
    assert preds[0][0][1] == [10.0, 20.0, 30.0]  # process medians


def test_best_attribute_baseline_picks_the_informative_attribute():
    train = TRAIN.assign(colour=np.where(TRAIN["item_code"].str.len() > 0, "grey", "grey"))
    base = BestAttributeBaseline().fit(training_view(train, ["colour", "material"]))
    assert base.attribute_ == "material"
    preds = base.predict(pd.DataFrame({"item_code": ["x", "y", "z"], "material": ["alu", "steel", "gold"]}))
    assert preds[0][0][0] == ["SAW", "ANODIZE", "INSPECT"]
    assert preds[1][0][0] == ["SAW", "MILL", "INSPECT"]
    assert preds[2][0][0] == ["SAW", "MILL", "INSPECT"]  # unseen value: overall most frequent


def test_neighbour_vote_baseline_votes_and_respects_its_threshold():
    base = NeighbourVoteBaseline(n_neighbors=3, threshold=0.8).fit(training_view(TRAIN, ["material", "size"]))
    items = pd.DataFrame({"item_code": ["q1", "q2"], "material": ["alu", np.nan], "size": [51.0, np.nan]})
    preds = base.predict(items)
    assert preds[0][0][0] == ["SAW", "ANODIZE", "INSPECT"]
    assert preds[0][0][1] == [10.0, 20.0, 30.0]  # mean over the voters
    # an item with nothing known is similar to nothing: most frequent routings
    assert preds[1][0][0] == ["SAW", "MILL", "INSPECT"]


def test_top_k_cosine_matches_brute_force():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    q = X[:50] + 0.05 * rng.normal(size=(50, 8)).astype(np.float32)
    idx, sim = top_k_cosine(q, X, 5, block_cells=20_000)
    full = q @ X.T
    expected = np.argsort(-full, axis=1)[:, :5]
    assert (idx == expected).all()
    assert np.allclose(sim, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    idx_f, _ = top_k_cosine(q, X, 5, floor=0.99)
    above = np.take_along_axis(full, expected, axis=1) >= 0.99  # only scores above the floor
    assert ((idx_f >= 0) == above).all() and above.any() and not above.all()


# ---------------------------------------------------------------- model evaluation


@pytest.fixture(scope="module")
def sample_split():
    return split_items(generate(SampleConfig(n_items=600, seed=3)), seed=1)


def test_routing_metrics_on_a_labelled_table(sample_split):
    train, test = sample_split
    model = RoutingModel().fit(train)
    m = routing_metrics(model, test)
    assert m["test_items"] == test["item_code"].nunique()
    assert 0.5 < m["routing_accuracy"] <= m["top_3_accuracy"] <= m["top_5_accuracy"] <= 1.0
    # on its training items with history, candidate 1 is the known routing: always right
    seen = train[train["item_code"].isin(train["item_code"].unique()[:60])]
    known = routing_metrics(model, seen, ignore_history=False)
    assert known["routing_accuracy"] == 1.0 and known["coverage"] == 1.0


def test_evaluate_model_fits_scores_and_compares(sample_split):
    train, test = sample_split
    steps = []
    m = evaluate_model(RoutingModel(), train, test, progress=lambda f, msg: steps.append(f))
    for key in ("routing_accuracy", "top_1_accuracy", "top_3_accuracy", "top_5_accuracy",
                "sequence_similarity", "step_accuracy", "precision_weighted", "recall_weighted",
                "f1_weighted", "sample_count", "duration_mae_min", "duration_mape", "coverage",
                "training_duration_sec", "training_samples"):
        assert key in m, key
    assert set(m["baselines"]) == {"most_frequent", "best_attribute", "neighbour_vote"}
    assert m["baselines"]["best_attribute"]["attribute"] in train.columns
    for name, b in m["baselines"].items():
        assert m["lift"][name] == pytest.approx(m["routing_accuracy"] - b["routing_accuracy"], abs=1e-6)
    assert m["best_baseline"] == "neighbour_vote"
    assert m["beats_baseline"] is True
    assert steps[-1] == 1.0 and steps == sorted(steps)


def test_evaluate_model_scores_baselines_on_a_sample_when_asked(sample_split):
    train, test = sample_split
    model = RoutingModel().fit(train)
    m = evaluate_model(model, train, test, baseline_items=40)
    assert m["baseline_items"] == 40
    assert m["baselines"]["most_frequent"]["test_items"] == 40
    sub = m["model_on_baseline_items"]["routing_accuracy"]
    assert m["lift"]["most_frequent"] == pytest.approx(sub - m["baselines"]["most_frequent"]["routing_accuracy"])
    assert "training_duration_sec" not in m  # the model came fitted


def test_holdout_warning_says_how_few_items_the_metrics_rest_on():
    from routing_core.scoring.evaluation import MIN_TEST_ITEMS, holdout_warning

    assert holdout_warning(MIN_TEST_ITEMS) is None and holdout_warning(None) is None
    said = holdout_warning(1)
    assert "only 1 held-out item (fewer than 20)" in said and "by 100 points" in said
    assert "only 5 held-out items" in holdout_warning(5) and "by 20 points" in holdout_warning(5)
