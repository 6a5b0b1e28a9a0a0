"""The other plants' generators (routing_core.plants) and the reference pipeline of the benchmark."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.reference import ReferencePipeline, column_kinds
from routing_core.datasets import load_dataset
from routing_core.evaluation import labelled_items, true_routings
from routing_core.plants import PLANTS, generate_pcb, generate_valves
from routing_core.schema import ITEM

CANONICAL_TARGETS = {"item_code", "process_code", "seq"}
DURATION_TARGETS = {"duration_min", "duration_h", "duration_s"}


def _source(mapping: dict[str, str], target: str) -> str:
    return next(s for s, t in mapping.items() if t == target)


def _recorded(ops: pd.DataFrame, mapping: dict[str, str]) -> pd.Series:
    """item code -> the recorded routing, steps joined by '>' (rows are in order within an item)."""
    item, proc = _source(mapping, "item_code"), _source(mapping, "process_code")
    return ops.groupby(ops[item], sort=False)[proc].agg(">".join)


def _clean(truth: pd.DataFrame) -> pd.DataFrame:
    return truth[~truth["perturbed"]]


def _item_frame(ops: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """One row per item, indexed by item code."""
    item = _source(mapping, "item_code")
    return ops.drop_duplicates(item).set_index(item)


@pytest.fixture(scope="module")
def small():
    return {name: gen(n_items=800) for name, gen in PLANTS.items()}


@pytest.mark.parametrize("name", list(PLANTS))
def test_deterministic_for_a_seed(name):
    gen = PLANTS[name]
    a_ops, a_truth, a_map = gen(n_items=200, seed=3)
    b_ops, b_truth, b_map = gen(n_items=200, seed=3)
    pd.testing.assert_frame_equal(a_ops, b_ops)
    pd.testing.assert_frame_equal(a_truth, b_truth)
    assert a_map == b_map
    c_ops = gen(n_items=200, seed=4)[0]
    assert not a_ops.equals(c_ops)


@pytest.mark.parametrize("name", list(PLANTS))
def test_mapping_sources_exist_and_cover_the_contract(name, small):
    ops, _, mapping = small[name]
    assert set(mapping) <= set(ops.columns)
    targets = list(mapping.values())
    assert CANONICAL_TARGETS <= set(targets) and len(targets) == len(set(targets)) == 4
    assert len(DURATION_TARGETS & set(targets)) == 1
    assert not set(ops.columns) & {"item_code", "process_code", "seq", "duration_min"}  # own names


@pytest.mark.parametrize("name", list(PLANTS))
def test_every_item_has_a_routing_and_only_plant_variants_differ(name, small):
    ops, truth, mapping = small[name]
    recorded = _recorded(ops, mapping)
    assert truth[ITEM].is_unique and len(truth) == 800
    assert set(recorded.index) == set(truth[ITEM])
    assert (recorded.str.len() > 0).all() and (truth["clean_routing"].str.len() > 0).all()
    differs = recorded.loc[truth[ITEM]].to_numpy() != truth["clean_routing"].to_numpy()
    assert (differs == truth["perturbed"].to_numpy()).all()
    # the rows of an item are together and numbered in order
    item, seq = _source(mapping, "item_code"), _source(mapping, "seq")
    assert ops[item].ne(ops[item].shift()).sum() == len(truth)
    numbers = pd.to_numeric(ops[seq])
    assert (numbers.groupby(ops[item]).diff().dropna() > 0).all()


@pytest.mark.parametrize("name", list(PLANTS))
@pytest.mark.parametrize("noise", [0.05, 0.2])
def test_perturbed_share_follows_noise(name, noise):
    _, truth, _ = PLANTS[name](n_items=1000, noise=noise)
    assert truth["perturbed"].mean() == pytest.approx(noise, abs=0.005)
    assert (truth.loc[truth["perturbed"], "best_chance"] == 0).all()
    assert PLANTS[name](n_items=300, noise=0.0)[1]["perturbed"].sum() == 0


@pytest.mark.parametrize("name", list(PLANTS))
def test_fast_and_read_back_by_the_loader(name):
    t0 = time.perf_counter()
    ops, truth, mapping = PLANTS[name](n_items=3000)
    assert time.perf_counter() - t0 < 2.0  # well under a second on an idle machine
    data = load_dataset(ops.to_csv(index=False).encode("utf-8"), mapping=mapping, name=f"{name}.csv")
    assert data.ops[ITEM].nunique() == 3000
    assert data.ops["duration_min"].notna().mean() > 0.95 and (data.ops["duration_min"].dropna() >= 0).all()
    routings = true_routings(data.ops)
    clean = _clean(truth).set_index(ITEM)["clean_routing"]
    assert all(">".join(routings[c][0]) == r for c, r in clean.items())


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="n_items"):
        generate_valves(n_items=0)
    with pytest.raises(ValueError, match="noise"):
        generate_pcb(noise=1.5)


def test_valves_facts_in_the_description_decide_steps(small):
    ops, truth, mapping = small["valves"]
    items = _item_frame(ops, mapping)
    t = _clean(truth).set_index(ITEM)
    desc = items.loc[t.index, "MAKTX"]
    known = desc.notna()
    t, desc = t[known], desc[known].str.upper()
    steps = t["clean_routing"].str.split(">")
    xray = desc.str.contains(r"\b(?:XRAY|X-RAY|RT)\b", regex=True)
    radiography = steps.map(lambda s: "RADIOGRAPHY" in s)
    assert xray.any() and (xray == radiography).all()
    pn = desc.str.extract(r"\bPN ?(\d+)")[0].astype(float)
    cl = desc.str.extract(r"\bCL(\d+)")[0].astype(float)
    high = (pn >= 40) | (cl >= 300)
    hydro = steps.map(lambda s: "HYDRO_TEST" in s)
    assert hydro.any() and not (hydro & ~high).any()
    pressure_part = desc.str.contains(r"BODY|CASING|CSG|BONNET", regex=True)
    assert (hydro == (high & pressure_part)).all()
    stainless = desc.str.contains(r"\b(?:1\.44\d\d|1\.4571|1\.4021|CF8M|316L|316TI|X20CR13|DUPLEX|GX2CRNIMON)", regex=True)
    pickle = steps.map(lambda s: "PICKLE" in s)
    assert (stainless == pickle).all()
    # the customer's own steps: only a handful of the customers ask for them
    special = steps.map(lambda s: "CUST_MARKING" in s or "WITNESS_INSPECT" in s)
    customers = items.loc[t.index, "KUNNR"]
    assert 0 < customers[special].nunique() <= 8 < customers.nunique()


def test_pcb_repeats_operations_and_thresholds_decide_steps(small):
    ops, truth, mapping = small["pcb"]
    items = _item_frame(ops, mapping)
    t = _clean(truth).set_index(ITEM)
    steps = t["clean_routing"].str.split(">")
    aoi = steps.map(lambda s: s.count("AOI"))
    assert (aoi >= 1).all() and (aoi >= 2).mean() > 0.3 and (aoi == 3).any()
    assert steps.map(lambda s: s.count("FCT") == 2).any()
    it = items.loc[t.index]
    assert ((it["Sides"] == "2") == steps.map(lambda s: "SMT_BOT" in s)).all()
    lot_known = it["Lot Size"].notna()
    ict = (it["SMD Count"] >= 150) & (it["Lot Size"] >= 50)
    assert (ict[lot_known] == steps[lot_known].map(lambda s: "ICT" in s)).all()
    # times per lot grow with the lot size
    seconds = ops["Lot time [s]"].groupby(ops["Part Number"]).sum()
    assert np.corrcoef(np.log(seconds.loc[it.index] + 1), np.log(it["Lot Size"].fillna(50)))[0, 1] > 0.5


def test_sheetmetal_surface_text_and_sizes_decide_steps(small):
    ops, truth, mapping = small["sheetmetal"]
    items = _item_frame(ops, mapping)
    t = _clean(truth).set_index(ITEM)
    steps = t["clean_routing"].str.split(">")
    it = items.loc[t.index]
    surface = it["Oberfläche"]
    ral = surface.str.contains("RAL", na=False)
    assert (steps[ral].map(lambda s: "PULVERN" in s)).all()
    assert not steps[surface.notna() & ~ral].map(lambda s: "PULVERN" in s).any()
    thick = it["Blechdicke"]
    assert steps[thick > 12].map(lambda s: s[0] == "PLASMA").all()
    assert ops["Vorgabezeit (h)"].dropna().str.fullmatch(r"\d+,\d{3}").all()  # decimal comma


def test_jobshop_is_decided_only_in_part(small):
    ops, truth, mapping = small["jobshop"]
    items = _item_frame(ops, mapping)
    t = _clean(truth).set_index(ITEM)
    steps = t["clean_routing"].str.split(">")
    it = items.loc[t.index]
    hardened = it["PART_DESC"].str.contains(r"\b(?:HARDENED|HT)\b", regex=True, na=False)
    assert hardened.any() and steps[hardened].map(lambda s: "HEAT_TREAT" in s).all()
    big = it["QTY"] >= 25
    assert not steps[big].map(lambda s: "LATHE" in s or "MILL" in s).any()
    assert steps[big].map(lambda s: "CNC_LATHE" in s or "CNC_MILL" in s).any()
    # the same description and quantity do not always give the same routing
    key = it["PART_DESC"].fillna("") + "|" + it["QTY"].astype(str)
    assert (t["clean_routing"].groupby(key).nunique() > 1).any()
    assert 0.2 < t["best_chance"].mean() < 0.9
    assert re.fullmatch(r"JS/\d\d/\d{4}", truth[ITEM].iloc[0])


def test_reference_pipeline_fits_and_ranks_a_training_item_first():
    ops, truth, mapping = generate_valves(n_items=300, seed=5)
    data = load_dataset(ops.to_csv(index=False).encode("utf-8"), mapping=mapping, name="valves.csv")
    kinds = column_kinds(data.ops)
    assert kinds["MAKTX"] == "text" and kinds["KUNNR"] == "categorical" and kinds["BRGEW"] == "numeric"
    assert "ARBPL" not in kinds  # varies within items: an operation attribute
    model = ReferencePipeline(n_estimators=30).fit(data.ops)
    items = labelled_items(data.ops)
    routings = true_routings(data.ops)
    ranked = model.rank(items, top_k=3)
    assert all(1 <= len(r) <= 3 for r in ranked)
    first = [">".join(r[0][0]) for r in ranked]
    own = [">".join(routings[c][0]) for c in items[ITEM]]
    assert np.mean([a == b for a, b in zip(first, own, strict=True)]) > 0.9
    common = truth.loc[~truth["perturbed"], "clean_routing"].value_counts().index[0]
    code = truth.loc[truth["clean_routing"] == common, ITEM].iloc[0]
    i = items.index[items[ITEM] == code][0]
    assert ">".join(ranked[i][0][0]) == common
    assert all(t is None or t >= 0 for t in ranked[i][0][1])


def test_reference_pipeline_steps_count_repeated_operations():
    """A process the second time in a routing is its own step, with its own probability."""
    ops, _, mapping = generate_pcb(n_items=300, seed=2)
    data = load_dataset(ops.to_csv(index=False).encode("utf-8"), mapping=mapping, name="pcb.csv")
    model = ReferencePipeline(n_estimators=20).fit(data.ops)
    P = model.step_probabilities(labelled_items(data.ops).head(5))
    assert P.shape == (5, len(model.tokens_)) and ((P > 0) & (P < 1)).all()
    assert "AOI#2" in model.tokens_
