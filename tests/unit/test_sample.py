"""The sample generator: deterministic, well-formed, and carrying the rules a model must learn."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from routing_core.synthetic.sample import (
    HOLDOUT_CONFIG,
    SampleConfig,
    best_chances,
    generate,
    generate_with_truth,
    items_for_rows,
    sample_csv_bytes,
)

COLUMNS = [
    "item_code", "seq", "process_code", "duration_min", "part_type", "material",
    "outer_diameter_mm", "length_mm", "weight_kg", "tolerance_class", "surface_treatment",
    "heat_treated", "threaded", "work_center", "outsourced",
]
ITEM_ATTRS = COLUMNS[4:13]
OP_ATTRS = ["work_center", "outsourced"]


@pytest.fixture(scope="module")
def big():
    return generate_with_truth(SampleConfig(n_items=5000, seed=11, noise=0.1))


def _routings(ops: pd.DataFrame) -> pd.Series:
    return ops.groupby("item_code", sort=False)["process_code"].agg(">".join)


def _item_values(ops: pd.DataFrame, column: str) -> pd.Series:
    """The item's value of an item attribute (first non-blank; blank if all are)."""
    return ops.groupby("item_code", sort=False)[column].first()


def test_same_seed_same_frame_other_seed_other_frame():
    cfg = SampleConfig(n_items=300, seed=3)
    a, b = generate(cfg), generate(cfg)
    pd.testing.assert_frame_equal(a, b)
    c = generate(SampleConfig(n_items=300, seed=4))
    assert not a.equals(c)
    assert set(a["item_code"]) != set(c["item_code"])


def test_columns_and_dtypes():
    ops = generate(SampleConfig(n_items=400))
    assert list(ops.columns) == COLUMNS
    assert pd.api.types.is_string_dtype(ops["item_code"])
    assert ops["item_code"].map(type).eq(str).all()
    assert ops["item_code"].str.fullmatch(r"[A-Z]{2}-\d{6,}").all()
    assert pd.api.types.is_integer_dtype(ops["seq"])
    assert pd.api.types.is_float_dtype(ops["duration_min"])
    for col in ("outer_diameter_mm", "length_mm", "weight_kg"):
        assert pd.api.types.is_float_dtype(ops[col])
    assert set(ops["heat_treated"].dropna()) == {"Y", "N"}
    assert set(ops["tolerance_class"].dropna()) <= {f"IT{g}" for g in range(6, 12)}


def test_item_codes_carry_family_and_keep_leading_zeros(big):
    ops, truth = big
    prefix = truth["item_code"].str[:2]
    # the prefix names the family, one to one
    assert (truth.groupby(prefix)["family"].nunique() == 1).all()
    assert (truth.groupby("family")["item_code"].agg(lambda s: s.str[:2].nunique()) == 1).all()
    assert 6 <= truth["family"].nunique() <= 10
    assert truth["item_code"].is_unique
    # flanges, pins and bushings are numbered with leading zeros
    padded = truth[truth["family"].isin(["flange", "pin", "bushing"])]["item_code"]
    assert len(padded) > 0 and padded.str.match(r"[A-Z]{2}-00").all()
    # ... and they survive the CSV the app offers
    csv_codes = pd.read_csv(io.BytesIO(sample_csv_bytes(SampleConfig(n_items=300))), dtype=str)
    assert csv_codes["item_code"].str.match(r"(FL|PN|BU)-00").any()


def test_seq_strictly_increasing_and_durations_non_negative(big):
    ops, _ = big
    assert (ops.groupby("item_code")["seq"].diff().dropna() > 0).all()
    assert (ops.groupby("item_code")["seq"].min() == 10).all()
    d = ops["duration_min"]
    assert d.dropna().min() >= 0.1  # no step takes no time: the floor is a tenth of a minute
    assert 0.002 < d.isna().mean() < 0.01
    assert np.allclose(d.dropna(), d.dropna().round(1))


def test_item_attributes_constant_operation_attributes_vary(big):
    ops, _ = big
    per_item = ops.groupby("item_code")[ITEM_ATTRS + OP_ATTRS].nunique(dropna=True)
    assert (per_item[ITEM_ATTRS] <= 1).all().all()
    assert (per_item["work_center"] > 1).mean() > 0.95
    # plating and heat treatment are mostly bought in; machining is not
    out = ops.dropna(subset=["outsourced"]).groupby("process_code")["outsourced"].agg(
        lambda s: (s == "Y").mean()
    )
    assert out["PLATE"] > 0.7 and out["HEAT_TREAT"] > 0.4
    assert out["CNC_LATHE"] < 0.1 and out["INSPECT"] == 0


def test_perturbed_share_and_truth(big):
    ops, truth = big
    assert list(truth.columns) == ["item_code", "family", "perturbed", "clean_routing"]
    assert truth["perturbed"].dtype == bool
    assert abs(truth["perturbed"].mean() - 0.1) <= 0.02
    seen = _routings(ops).reindex(truth["item_code"]).to_numpy()
    same = seen == truth["clean_routing"].to_numpy()
    # clean items show their rule routing; every plant variant differs from it
    assert same[~truth["perturbed"].to_numpy()].all()
    assert not same[truth["perturbed"].to_numpy()].any()


def test_noise_zero_means_no_perturbation():
    ops, truth = generate_with_truth(SampleConfig(n_items=500, noise=0.0))
    assert not truth["perturbed"].any()
    assert (_routings(ops).reindex(truth["item_code"]).to_numpy() == truth["clean_routing"]).all()


def test_missing_rate_of_attributes():
    ops = generate(SampleConfig(n_items=4000, seed=5, missing_rate=0.06))
    assert ops["item_code"].notna().all() and ops["process_code"].notna().all()
    attrs = ops[ITEM_ATTRS + OP_ATTRS]
    assert abs(attrs.isna().to_numpy().mean() - 0.06) < 0.01
    assert (attrs.isna().mean() > 0.03).all()
    clean = generate(SampleConfig(n_items=300, missing_rate=0.0))
    assert not clean.isna().any().any()


def test_options_change_the_routing(big):
    ops, truth = big
    t = truth.set_index("item_code")
    ok = ~t["perturbed"]
    routing = t["clean_routing"].str.split(">")
    seen = _routings(ops).str.split(">")

    heat = _item_values(ops, "heat_treated")
    heat_y = heat[(heat == "Y") & ok.reindex(heat.index)].index
    heat_n = heat[(heat == "N") & ok.reindex(heat.index)].index
    assert len(heat_y) > 100 and len(heat_n) > 100
    assert seen[heat_y].map(lambda r: "HEAT_TREAT" in r).all()
    assert not seen[heat_n].map(lambda r: "HEAT_TREAT" in r).any()

    # tight tolerances are ground; with heat treatment, after it
    tol = _item_values(ops, "tolerance_class")
    tight = tol[tol.isin(["IT6", "IT7"])].index
    assert routing[tight].map(lambda r: any(s.startswith("GRIND") for s in r)).all()
    loose = tol[tol.isin(["IT9", "IT10", "IT11"])].index
    assert not routing[loose].map(lambda r: any(s.startswith("GRIND") for s in r)).any()
    both = tight.intersection(heat[heat == "Y"].index)
    assert len(both) > 20
    assert routing[both].map(lambda r: r.index("GRIND_OD") > r.index("HEAT_TREAT")
                             if "GRIND_OD" in r else True).all()

    # zinc means plating, placed before the final inspection
    surf = _item_values(ops, "surface_treatment")
    zinc = surf[surf == "ZINC"].index
    assert routing[zinc].map(lambda r: "PLATE" in r and r.index("PLATE") < len(r) - 1).all()
    assert not routing[surf[surf == "NONE"].index].map(lambda r: "PLATE" in r).any()


def test_durations_follow_size_and_material(big):
    ops, _ = big
    lathe = ops[(ops["process_code"] == "CNC_LATHE") & (ops["material"] == "C45")].dropna(
        subset=["duration_min", "outer_diameter_mm", "length_mm"]
    )
    corr = np.corrcoef(np.log(lathe["outer_diameter_mm"] * lathe["length_mm"]),
                       np.log(lathe["duration_min"]))[0, 1]
    assert corr > 0.6
    # stainless cuts slower than carbon steel on the same pins
    pins = ops[(ops["part_type"] == "pin") & (ops["process_code"] == "CNC_LATHE")]
    med = pins.groupby("material")["duration_min"].median()
    assert med["SS304"] > 1.2 * med["C45"]


def test_holdout_is_another_export():
    ops, truth = generate_with_truth(HOLDOUT_CONFIG)
    default_ops, default_truth = generate_with_truth(SampleConfig())
    assert HOLDOUT_CONFIG.n_items == 2000 and HOLDOUT_CONFIG.seed == 20261126
    assert len(truth) == 2000
    shared = set(ops["process_code"]) & set(default_ops["process_code"])
    assert len(shared) <= 3
    assert not set(truth["family"]) & set(default_truth["family"])
    assert not set(truth["item_code"].str[:2]) & set(default_truth["item_code"].str[:2])
    assert list(ops.columns[:4]) == ["item_code", "seq", "process_code", "duration_min"]
    assert set(ops.columns) != set(default_ops.columns)
    assert (ops.groupby("item_code")["seq"].diff().dropna() > 0).all()


def test_items_for_rows_and_routing_length():
    n = items_for_rows(100_000)
    ops = generate(SampleConfig(n_items=n, seed=1))
    assert 80_000 <= len(ops) <= 120_000
    assert 5.0 <= len(ops) / n <= 6.0
    assert 150_000 <= items_for_rows(1_000_000) <= 200_000
    assert items_for_rows(1) >= 1


def test_small_exports_and_csv_bytes():
    cfg = SampleConfig(n_items=items_for_rows(100), seed=2)
    data = sample_csv_bytes(cfg)
    assert data.startswith(b"item_code,seq,process_code,duration_min,")
    back = pd.read_csv(io.BytesIO(data), dtype={"item_code": str})
    assert 60 <= len(back) <= 140
    assert len(back) == len(generate(cfg))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SampleConfig(n_items=0), "n_items must be a whole number of at least 1, not 0"),
        (SampleConfig(noise=1.5), "noise must lie between 0 and 1, not 1.5"),
        (SampleConfig(missing_rate=-0.1), r"missing_rate must lie in \[0, 1\), not -0.1"),
        (SampleConfig(variant="other"), "variant must be one of default, holdout, not 'other'"),
    ],
)
def test_bad_config_is_refused(cfg, message):
    with pytest.raises(ValueError, match=message):
        generate(cfg)


def test_best_chances_without_blanks_are_the_unperturbed_items():
    config = SampleConfig(n_items=3000, seed=4, missing_rate=0.0)
    _, truth = generate_with_truth(config)
    chances = best_chances(config)
    expected = (~truth.set_index("item_code")["perturbed"]).astype(float)
    assert chances.reindex(expected.index).tolist() == expected.tolist()


def test_best_chances_of_one_blank_option_by_hand():
    config = SampleConfig(n_items=20000, seed=3, noise=0.0, missing_rate=0.05)
    ops = generate(config)
    chances = best_chances(config)
    items = ops.groupby("item_code", sort=False)[ITEM_ATTRS].first()
    blank = ops.groupby("item_code", sort=False)[ITEM_ATTRS].agg(lambda s: s.isna().all())
    only = {c: blank.index[blank[c] & (blank.sum(axis=1) == 1)] for c in ITEM_ATTRS}

    def chance(column, part_type, material):
        codes = [c for c in only[column]
                 if items.at[c, "part_type"] == part_type and items.at[c, "material"] == material]
        assert codes, (column, part_type, material)
        return set(chances.loc[codes].round(6))

    # C45 is heat-treated with probability 0.35, where the family allows it (shafts do,
    # brackets never are): the better guess, "not heat-treated", is right 65 % of the time.
    assert chance("heat_treated", "shaft", "C45") == {0.65}
    assert chance("heat_treated", "bracket", "C45") == {1.0}
    # 30 % of shafts are threaded; SS304 takes no surface treatment, so a blank one is no guess.
    assert chance("threaded", "shaft", "C45") == {0.7}
    assert chance("surface_treatment", "flange", "SS304") == {1.0}
    # A blank number or material decides no option here (the material counts as known).
    assert set(chances.loc[only["weight_kg"].union(only["material"])]) == {1.0}
    assert set(chances.loc[blank.index[~blank.any(axis=1)]]) == {1.0}
