"""Head-to-head comparison: the paired bootstrap pinned by hand, the per-item table, real models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.mapping.schema import ITEM
from routing_core.model import RoutingModel
from routing_core.platform.errors import UserError
from routing_core.scoring.compare import (
    bootstrap_indices,
    compare_models,
    compare_rankings,
    paired_difference,
    per_item_scores,
    training_items,
    unseen_ops,
)
from routing_core.scoring.evaluation import predict_rankings, split_items
from routing_core.synthetic.sample import SampleConfig, generate

# ---------------------------------------------------------------- the paired bootstrap


def test_paired_difference_by_hand():
    # Version b gets item 3 right where a does not; the other three items score the same.
    # Per-item differences d = [0, 0, 1, 0]: the difference is 1/4 = +25 points. A resample of
    # four items picks item 3 k ~ Binomial(4, 1/4) times, its mean difference is k/4:
    # P(k=0) = 0.316 > 2.5 %, so the low end is 0; P(k<=2) = 0.949 < 97.5 % <= P(k<=3) = 0.996,
    # so the high end is 3/4.
    a = [1, 1, 0, 0]
    b = [1, 1, 1, 0]
    diff, low, high = paired_difference(a, b, n_boot=20000, seed=5)
    assert diff == pytest.approx(0.25)
    assert low == pytest.approx(0.0)
    assert high == pytest.approx(0.75)


def test_paired_difference_matches_an_independent_loop():
    rng = np.random.default_rng(11)
    a = rng.random(7)
    b = a + rng.normal(0.1, 0.2, 7)
    diff, low, high = paired_difference(a, b, n_boot=500, seed=3)
    idx = bootstrap_indices(7, 500, 3)
    boots = []
    for row in idx.tolist():  # the same draws, resampled and averaged item by item
        total = 0.0
        for i in row:
            total += b[i] - a[i]
        boots.append(total / 7)
    boots.sort()

    def percentile(p):  # linear interpolation between order statistics (numpy's default)
        pos = p / 100 * (len(boots) - 1)
        lo = int(pos)
        return boots[lo] + (pos - lo) * (boots[min(lo + 1, len(boots) - 1)] - boots[lo])

    assert diff == pytest.approx(float(np.mean(b - a)))
    assert low == pytest.approx(percentile(2.5))
    assert high == pytest.approx(percentile(97.5))
    assert low < diff < high


def test_paired_difference_of_equal_scores_is_exactly_zero():
    assert paired_difference([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)


def test_paired_difference_is_seeded():
    a, b = [1, 0, 1, 0, 1], [0, 1, 1, 1, 1]
    d = np.array(b, dtype=float) - np.array(a, dtype=float)

    def by_hand(seed: int) -> list[float]:  # the interval of the seed's own draws
        draws = np.random.default_rng(seed).integers(0, len(d), size=(200, len(d)))
        return np.percentile(d[draws].mean(axis=1), [2.5, 97.5]).tolist()

    one, again, other = (paired_difference(a, b, n_boot=200, seed=s) for s in (1, 1, 2))
    assert one == pytest.approx(again)  # the same seed, the same interval
    assert list(one[1:]) == pytest.approx(by_hand(1)) and list(other[1:]) == pytest.approx(by_hand(2))
    assert by_hand(1) != pytest.approx(by_hand(2)) and list(one[1:]) != pytest.approx(list(other[1:]))


# ---------------------------------------------------------------- the per-item comparison

TRUTH = {
    "i1": (["A", "B"], [1.0, 2.0]),
    "i2": (["A", "C"], [1.0, 2.0]),
    "i3": (["D"], [3.0]),
    "i4": (["A", "B"], [1.0, 2.0]),
}
ITEMS = ["i1", "i2", "i3", "i4"]
RANKED = {
    "old": [
        [(["A", "B"], [1.0, 2.0])],  # right
        [(["A", "B"], [1.0, 2.0]), (["A", "C"], [1.0, 2.0])],  # wrong, right second
        [(["A", "B"], [1.0, 2.0])],  # wrong
        [(["A", "B"], [1.0, 2.0])],  # right
    ],
    "new": [
        [(["A", "B"], [1.0, 2.0])],  # right
        [(["A", "C"], [1.0, 2.0])],  # right
        [(["D", "E"], [3.0, 1.0])],  # wrong, half similar
        [(["A", "C"], [1.0, 2.0])],  # wrong
    ],
}


def test_per_item_scores_by_hand():
    s = per_item_scores([TRUTH[i] for i in ITEMS], RANKED["new"])
    assert s["routing_accuracy"].tolist() == [1, 1, 0, 0]
    assert s["top_3_accuracy"].tolist() == [1, 1, 0, 0]
    assert s["sequence_similarity"].tolist() == pytest.approx([1, 1, 0.5, 0.5])


def test_compare_rankings_table_and_differences():
    c = compare_rankings(TRUTH, ITEMS, RANKED, source="hand")
    m = c.metrics.set_index("metric")
    assert m.loc["routing accuracy", "old"] == pytest.approx(0.5)
    assert m.loc["routing accuracy", "new"] == pytest.approx(0.5)
    assert m.loc["routing accuracy", "new − old (pts)"] == pytest.approx(0.0)
    assert m.loc["top-3 accuracy", "old"] == pytest.approx(0.75)
    assert m.loc["top-3 accuracy", "new − old (pts)"] == pytest.approx(-25.0)
    # similarity: old [1, 0.5, 0, 1] → 0.625; new [1, 1, 0.5, 0.5] → 0.75
    assert m.loc["sequence similarity", "new − old (pts)"] == pytest.approx(12.5)
    low, high = m.loc["sequence similarity", "new − old 95% low"], m.loc["sequence similarity", "new − old 95% high"]
    assert low <= 12.5 <= high and low < high
    d = c.disagreements
    assert d["item"].tolist() == ["i2", "i3", "i4"]
    assert d["who was right"].tolist() == ["new only", "neither", "old only"]
    assert d["old: first candidate"].tolist() == ["A → B", "A → B", "A → B"]
    assert d["new: first candidate"].tolist() == ["A → C", "D → E", "A → C"]
    assert d["recorded routing"].tolist() == ["A → C", "D", "A → B"]
    assert c.per_item.loc[0, "who was right"] == "both"


def test_compare_rankings_needs_two_versions_and_items():
    with pytest.raises(UserError, match="two or more"):
        compare_rankings(TRUTH, ITEMS, {"old": RANKED["old"]})
    with pytest.raises(UserError, match="no labelled items"):
        compare_rankings(TRUTH, [], {"a": [], "b": []})


# ---------------------------------------------------------------- unseen items and real models


def test_training_items_follow_the_recorded_split():
    ops = generate(SampleConfig(n_items=100, seed=2))
    train, test = split_items(ops, test_size=0.25, seed=9)
    assert training_items(ops, 0.25, 9, refit=False) == set(train[ITEM].astype("str"))
    assert training_items(ops, 0.25, 9, refit=True) == set(ops[ITEM].astype("str"))
    kept, note = unseen_ops(ops, {"v": training_items(ops, 0.25, 9, refit=False)})
    assert set(kept[ITEM].astype("str")) == set(test[ITEM].astype("str"))
    assert "25 of the dataset's 100 items" in note
    with pytest.raises(UserError, match="nothing fair left"):
        unseen_ops(ops, {"v": training_items(ops, 0.25, 9, refit=True)})


def test_compare_models_on_a_labelled_file_agrees_with_the_models_predictions():
    ops_a = generate(SampleConfig(n_items=300, seed=1))
    ops_b = generate(SampleConfig(n_items=150, seed=2))
    labelled = generate(SampleConfig(n_items=60, seed=3))
    models = {"a": RoutingModel().fit(ops_a), "b": RoutingModel().fit(ops_b)}
    c = compare_models(models, labelled, source="file")
    assert c.n_items == 60
    items = pd.DataFrame({ITEM: c.per_item["item"]}).merge(
        labelled.groupby(ITEM, sort=False).first().reset_index(), on=ITEM)
    for name, model in models.items():
        ranked, _ = predict_rankings(model, items.drop(columns=["process_code", "seq", "duration_min"]))
        firsts = [" → ".join(r[0][0]) for r in ranked]
        assert c.per_item[f"{name}: first candidate"].tolist() == firsts
        acc = float(np.mean(c.per_item[f"{name} right"]))
        assert c.metrics.set_index("metric").loc["routing accuracy", name] == pytest.approx(acc)


def test_split_differences_name_what_is_not_like_for_like():
    from types import SimpleNamespace

    from routing_core.scoring.compare import split_differences

    def info(name, dataset, sha, test_size, seed):
        return SimpleNamespace(name=name, dataset={"name": dataset, "sha256": sha},
                               params={"test_size": test_size, "seed": seed}, metrics={})

    same = [info("a", "d", "x", 0.2, 1), info("b", "d", "x", 0.2, 1)]
    assert split_differences(same) == []
    seeds = [info("a", "d", "x", 0.2, 1), info("b", "d", "x", 0.2, 2)]
    assert split_differences(seeds) == ["They held out different test items (test share / seed: a 0.2 / 1; b 0.2 / 2)."]
    data = [info("a", "d", "x", 0.2, 1), info("b", "e", "y", 0.2, 1)]
    assert split_differences(data) == ["They were trained on different datasets: a on d; b on e."]
    changed = [info("a", "d", "x", 0.2, 1), info("b", "d", "z", 0.2, 1)]  # same name, other content
    assert split_differences(changed)[0].startswith("They were trained on different datasets")


def test_verdict_says_who_is_better_or_that_the_items_cannot_tell():
    from routing_core.scoring.compare import verdict

    assert verdict("A", "B", 1.6, 0.4, 2.8) == (
        "B is better than A by 1.6 points of routing accuracy, 95 % interval 0.4–2.8.")
    # B worse: A is better, the interval turned round
    assert verdict("A", "B", -2.0, -3.5, -0.5) == (
        "A is better than B by 2.0 points of routing accuracy, 95 % interval 0.5–3.5.")
    assert verdict("A", "B", -0.2, -1.0, 0.5) == (
        "No difference the items can show in routing accuracy between B and A "
        "(-0.2 points, 95 % interval -1.0 to +0.5).")
    assert verdict("A", "B", 0.0, 0.0, 0.0).startswith("No difference the items can show")


def test_the_bootstrap_in_blocks_equals_one_draw_and_holds_no_resample_matrix(monkeypatch):
    import tracemalloc

    from routing_core.scoring import compare

    d = np.random.default_rng(4).normal(0.01, 0.3, 5_003)
    whole = d[bootstrap_indices(len(d), 400, 9)].mean(axis=1)
    monkeypatch.setattr(compare, "BOOT_BLOCK_CELLS", 7 * 5_003)  # blocks of 7 resamples, the last one short
    np.testing.assert_array_equal(compare.bootstrap_means(d, 400, 9), whole)
    tracemalloc.start()
    compare.bootstrap_means(d, 400, 9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 400 * 5_003 * 8 / 10  # a tenth of the (n_boot, n) matrix of one draw
