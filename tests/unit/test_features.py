"""Item features: code structure, numbers inside text, scaling, unknowns and relevance weights."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from routing_core.features import ItemFeaturizer, code_tokens, mutual_information


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
    f = ItemFeaturizer(["material", "length"], use_code=False, weighting=False).fit(items)
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
    f = ItemFeaturizer(["size"], use_code=False, weighting=False).fit(items)
    assert f.text_number_cols_ == ["size"]
    raw = f._derived(items)
    assert raw["size#count"].tolist()[:2] == [2.0, 3.0]
    assert raw["size#1"].tolist()[:2] == [300.0, 300.0]
    assert np.isnan(raw["size#3"].iloc[0]) and raw["size#3"].iloc[1] == 200.0


def test_tree_view_and_familiarity():
    items, family = _items()
    f = ItemFeaturizer(["material", "length"]).fit(items, family)
    Xo = f.transform_ordinal(items)
    n_num, n_cat = len(f.numeric_), len(f.categorical_)
    assert Xo.shape[1] >= n_num + n_cat
    assert f.ordinal_is_categorical_.tolist() == [False] * n_num + [True] * n_cat
    query = pd.DataFrame({"item_code": ["AA-1", "ZZ-1"], "material": ["alu", "unobtainium"],
                          "length": [50.0, 1e9]})
    familiar = f.familiarity(f.encode(query))
    assert familiar[0] == pytest.approx(1.0) and familiar[1] < 0.5
