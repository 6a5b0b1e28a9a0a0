"""Item features: code structure, numbers inside text, scaling, unknowns and relevance weights."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from routing_core.model.config import FeatureConfig, TextConfig
from routing_core.model.features import ItemFeaturizer, code_tokens, mutual_information


def test_code_tokens_of_structured_codes():
    codes = pd.Series(["SH-000123", "SH-000456", "FL-0001234", "BR_77", "PL/9"])
    tokens = code_tokens(codes)
    assert tokens["code:prefix"].tolist() == ["SH", "SH", "FL", "BR", "PL"]
    assert tokens["code:alpha"].tolist() == ["SH", "SH", "FL", "BR", "PL"]
    assert "code:length" in tokens


def test_code_tokens_of_all_digit_codes_of_one_length():
    tokens = code_tokens(pd.Series(["00000003", "00000017", "12000004"]))
    assert "code:prefix" not in tokens and "code:alpha" not in tokens
    assert tokens["code:first1"].tolist() == ["0", "0", "1"]
    assert tokens["code:first3"].tolist() == ["000", "000", "120"]


def test_mutual_information_by_hand():
    x = np.array([0, 0, 1, 1])
    assert mutual_information(x, x) == pytest.approx(math.log(2))
    assert mutual_information(x, np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-12)


def _items(n=200, seed=0):
    rng = np.random.default_rng(seed)
    family = rng.choice(["AA", "BB"], size=n)
    return pd.DataFrame({
        "item_code": [f"{f}-{i:05d}" for i, f in enumerate(family)],
        "material": rng.choice(["steel", "alu", "brass"], size=n),
        "length": rng.lognormal(4, 1, size=n),
        "noise": rng.normal(size=n),
    }), family


def test_code_prefix_kept_only_when_it_tells_about_the_target():
    items, family = _items()
    informative = ItemFeaturizer(["material", "length"]).fit(items, family)
    assert "code:prefix" in informative.code_cols_
    random_target = np.random.default_rng(1).choice(["r1", "r2"], size=len(items))
    useless = ItemFeaturizer(["material", "length"]).fit(items, random_target)
    assert "code:prefix" not in useless.code_cols_


def test_scaling_missing_indicator_and_unknown_category():
    items, _ = _items()
    items.loc[3, "length"] = np.nan
    f = ItemFeaturizer(["material", "length"], use_code=False, config=FeatureConfig(weighting=False)).fit(items)
    X = f.transform(items)
    names = list(f.get_feature_names_out())
    col = names.index("length")
    assert abs(X[:, col].mean()) < 1e-5 and X[:, col].std() == pytest.approx(1.0, abs=1e-3)
    assert f.log_["length"]  # skewed and positive: log-scaled
    assert X[3, names.index("length=<missing>")] == 1.0
    new = f.transform(pd.DataFrame({"item_code": ["x"], "material": ["titanium"], "length": [np.nan]}))
    onehot = [i for i, n in enumerate(names) if n.startswith("material=")]
    assert (new[0, onehot] == 0).all()  # an unseen value sets no column
    # a column the query lacks is unknown, not an error
    assert f.transform(pd.DataFrame({"item_code": ["y"]})).shape == (1, len(names))


def test_relevance_weights_favour_attributes_that_decide_the_target():
    items, family = _items()
    target = np.where(items["material"] == "steel", "R1", "R2")
    f = ItemFeaturizer(["material", "noise"], use_code=False).fit(items, target)
    assert f.weights_["material"] == 1.0
    assert f.weights_["noise"] < 0.5


def test_numbers_inside_text_become_features():
    dims = ["300x70", "300x100x200", "250x90", "100x300x100", "500x70", "200x50x150", "400x40",
            "250x50x250", "300x300x150", "200x200x200", "350x70"]
    items = pd.DataFrame({"item_code": [f"{i:08d}" for i in range(len(dims))], "size": dims})
    f = ItemFeaturizer(["size"], use_code=False, config=FeatureConfig(weighting=False)).fit(items)
    assert f.text_number_cols_ == ["size"]
    raw = f.derived(items)
    assert raw["size#count"].tolist()[:2] == [2.0, 3.0]
    assert raw["size#1"].tolist()[:2] == [300.0, 300.0]
    assert np.isnan(raw["size#3"].iloc[0]) and raw["size#3"].iloc[1] == 200.0


def test_tree_view_and_familiarity():
    items, family = _items()
    f = ItemFeaturizer(["material", "length"]).fit(items, family)
    Xo = f.transform_ordinal(items)
    n_num, n_cat = len(f.numeric_), len(f.categorical_)
    assert Xo.shape[1] >= n_num + n_cat
    cat = Xo[:, n_num : n_num + n_cat]  # categories as integer codes of their learned values
    sizes = np.array([len(f.categories_[c]) for c in f.categorical_])
    assert (((cat >= 0) & (cat < sizes) & (cat == np.round(cat))) | np.isnan(cat)).all()
    query = pd.DataFrame({"item_code": ["AA-1", "ZZ-1"], "material": ["alu", "unobtainium"],
                          "length": [50.0, 1e9]})
    familiar = f.familiarity(f.encode(query))
    assert familiar[0] == pytest.approx(1.0) and familiar[1] < 0.5


# ---------------------------------------------------------------- words of free text


def test_words_short_codes_and_keyed_numbers_of_a_description():
    from routing_core.model.text import keyed_numbers, text_terms

    assert text_terms(["VALVE BODY DN50 PN16 1.4408 XRAY", "BRKT SUS304 t2 TAPPED, M6", None]) == [
        ["VALVE", "BODY", "DN50", "PN16", "1.4408", "XRAY"],
        ["BRKT", "SUS304", "T2", "TAPPED", "M6"],
        [],
    ]
    assert keyed_numbers("VALVE BODY DN50 PN16 1.4408 t2,5") == {"DN": 50.0, "PN": 16.0, "T": 2.5}
    assert keyed_numbers("shaft dia 40mm length: 300mm t=2") == {"DIA": 40.0, "LENGTH": 300.0, "T": 2.0}
    assert keyed_numbers("SHAFT Ø40x300") == {"Ø": 40.0, "×1": 40.0, "×2": 300.0}
    assert keyed_numbers("PLATE 10 x 200 x 300 mm") == {"PLATE": 10.0, "×1": 10.0, "×2": 200.0, "×3": 300.0}
    assert keyed_numbers("SHEET 6 mm 2000 x 1700") == {"SHEET": 6.0, "×1": 2000.0, "×2": 1700.0}  # units are no keys
    assert keyed_numbers(None) == {}


def test_keys_are_those_always_followed_by_numbers_that_vary():
    from routing_core.model.text import number_keys

    rng = np.random.default_rng(0)
    grades = ["SCM440", "SUS304", "1.4408"]
    texts = [f"VALVE BODY {rng.choice(grades)} DN{rng.integers(10, 200)} PN {rng.integers(6, 40)}" for _ in range(200)]
    texts += [f"BODY VALVE DN {rng.integers(10, 200)} {rng.integers(1, 9)}x{rng.integers(10, 90)}" for _ in range(200)]
    # SCM440 and SUS304 are grades (one number each); BODY is followed by a number only in some
    # texts ("BODY 1.4408"): neither is a key.
    assert number_keys(texts, 10) == ["DN", "PN", "×1", "×2"]


def test_free_text_is_told_from_a_category():
    from routing_core.model.text import is_free_text

    rng = np.random.default_rng(0)
    descriptions = pd.Series([f"SHAFT D{rng.integers(10, 90)} L{rng.integers(50, 500)} HT" for _ in range(300)])
    materials = pd.Series(rng.choice(["S45C", "SUS304", "AL6061"], 300))
    two_word_category = pd.Series(rng.choice(["VALVE BODY", "PUMP CASING"], 300))
    assert is_free_text(descriptions, 5, 200)
    assert not is_free_text(materials, 5, 200)
    assert not is_free_text(two_word_category, 5, 200)  # few values, each frequent: a category


def description_items(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Items whose description decides a step: 'HT' anywhere in it means heat treatment."""
    rng = np.random.default_rng(seed)
    nouns = rng.choice(["SHAFT", "PIN", "BOLT"], n)
    heat = rng.random(n) < 0.4
    texts = [f"{noun} D{d} L{length}{' HT' if h else ''}{' NEW' if rng.random() < 0.3 else ''}"
             for noun, d, length, h in zip(nouns, rng.integers(8, 80, n), rng.integers(20, 400, n), heat,
                                           strict=True)]
    items = pd.DataFrame({"item_code": [f"X{i:05d}" for i in range(n)], "description": texts})
    return items, heat


def test_words_of_a_text_column_are_learned_when_they_tell_a_step():
    items, heat = description_items()
    routing = heat.astype(int)
    steps = np.column_stack([np.ones(len(items), dtype=bool), heat])
    f = ItemFeaturizer().fit(items, routing, steps=steps)
    assert f.text_cols_ == ["description"]
    assert "HT" in f.text_terms_["description"]
    assert "NEW" not in f.text_terms_["description"]  # a word that tells no step is not kept
    assert f.text_keys_["description"] == ["D", "L"]
    assert "description" not in f.categorical_  # the whole text is not memorised as a category
    assert "description:head" in f.categorical_
    X = f.transform_ordinal(items)
    col = f.numeric_.index("description[HT]")
    assert np.array_equal(X[:, col] > 0, heat)
    from routing_core.model.explain import text_words

    words = text_words(f, items.head(2))
    assert list(words.columns) == ["item_code", "attribute", "words", "numbers"]
    assert words["numbers"].iloc[0].startswith("D ")


def test_what_a_fitted_featurizer_reads_is_said_in_plain_sentences():
    from routing_core.model.text import describe_reading

    items, heat = description_items()
    f = ItemFeaturizer().fit(items, heat.astype(int), steps=np.column_stack([np.ones(len(items), dtype=bool), heat]))
    reading = f.reading()
    assert reading["text_columns"]["description"]["words"][0] == "HT"  # the most telling word first
    assert reading["checks"]["description"]["kept"]
    lines = describe_reading(reading)
    assert lines[0].startswith("'description' is read as free text: its first word, ")
    assert "HT" in lines[0] and "numbers written after D, L" in lines[0]
    assert any(line.startswith("The item code is not used") for line in lines)
    dropped = {"text_columns": {}, "item_code_tokens": [], "checks": {
        "note": {"held_out_items": 300, "top1_gain": -0.02, "items_changed": 9, "kept": False}}}
    assert describe_reading(dropped)[0] == (
        "'note' is left out: read as free text, it did not beat the other attributes (-2.0 points of top-1 "
        "on 300 items held out).")


def test_a_rare_decisive_word_gives_more_evidence_than_a_common_idle_one():
    from scipy import sparse

    from routing_core.model.text import keyed_numbers, step_relevance

    rng = np.random.default_rng(0)
    n = 3000
    rare = np.zeros(n, dtype=bool)
    rare[:30] = True  # in 1 % of the items, and each of them has the step
    idle = rng.random(n) < 0.5  # in half the items, and tells nothing
    step = rare | (rng.random(n) < 0.4)
    g = step_relevance(sparse.csc_matrix(np.column_stack([rare, idle]).astype(np.float32)), step[:, None])
    assert g[0] > TextConfig().min_evidence > g[1]
    assert keyed_numbers("VALVE BODY DN 80 PN 40 RT") == {"DN": 80.0, "PN": 40.0}  # a space after the key
