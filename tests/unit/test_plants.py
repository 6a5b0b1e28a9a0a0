"""The other plants' generators (routing_core.synthetic.plants) and the reference pipeline of the benchmark."""

from __future__ import annotations

import itertools
import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.reference import ReferencePipeline, column_kinds
from routing_core.datasets import load_dataset
from routing_core.mapping.schema import DURATION, ITEM, PROCESS
from routing_core.scoring.evaluation import labelled_items, true_routings
from routing_core.synthetic.plants import PLANTS, generate_pcb, generate_sheetmetal, generate_valves

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
    steps, times = ranked[i][0]
    assert ">".join(steps) == common
    # each step's time is the median of that process's recorded times
    medians = data.ops.groupby(PROCESS)[DURATION].median().dropna()
    assert times == pytest.approx([float(medians[p]) for p in steps])


def test_reference_pipeline_steps_count_repeated_operations():
    """A process the second time in a routing is its own step, with its own probability."""
    ops, _, mapping = generate_pcb(n_items=300, seed=2)
    data = load_dataset(ops.to_csv(index=False).encode("utf-8"), mapping=mapping, name="pcb.csv")
    model = ReferencePipeline(n_estimators=20).fit(data.ops)
    items = labelled_items(data.ops).head(5)
    P = model.step_probabilities(items)
    assert P.shape == (5, len(model.tokens_))
    routings = true_routings(data.ops)
    twice = np.array([routings[code][0].count("AOI") >= 2 for code in items[ITEM]])
    assert twice.any() and not twice.all()
    # AOI#2 is likely exactly for the items (all learned from) whose routing inspects twice
    aoi, aoi2 = model.tokens_.index("AOI"), model.tokens_.index("AOI#2")
    assert (P[:, aoi] > 0.5).all() and ((P[:, aoi2] > 0.5) == twice).all(), P[:, [aoi, aoi2]]


# --------------------------------------------------------------------------- best chances

DECIDING_BLANKS = {  # the cells whose blank hides a fact that decides steps
    "valves": ["MAKTX"], "pcb": ["Layers", "BGA Count", "Lot Size"], "sheetmetal": ["Blechdicke", "Oberfläche"],
}


@pytest.mark.parametrize("name", list(DECIDING_BLANKS))
def test_best_chance_is_one_only_where_the_deciding_cells_show(name, small):
    ops, truth, mapping = small[name]
    items = _item_frame(ops, mapping).loc[truth[ITEM]]
    blank = items[DECIDING_BLANKS[name]].isna().any(axis=1).to_numpy()
    chance = truth["best_chance"].to_numpy()
    clean = ~truth["perturbed"].to_numpy()
    assert (chance[clean & ~blank] == 1).all()
    assert (chance[~clean] == 0).all()  # a plant variant is drawn at random: no model ranks it first
    assert (chance[clean & blank] < 1).mean() > 0.8  # a blank may hide a fact that changes nothing
    assert truth["best_chance"].mean() < 1 - truth["perturbed"].mean()


def test_sheetmetal_blank_surface_by_hand():
    """A blank surface: the other facts known, the chance is the share of the surfaces that give
    the likeliest routing (surfaces: ohne .35, RAL .35 in all, verzinkt .12, eloxiert .08,
    geschliffen .10)."""
    from routing_core.synthetic.plants.sheetmetal import sheet_share

    # plain steel: no finish for ohne, eloxiert and geschliffen; PULVERN for RAL; VERZINKEN for verzinkt
    assert sheet_share("S235JR", 10, True, False, False, 2.0, None) == pytest.approx(0.35 + 0.08 + 0.10)
    assert sheet_share("DX51D+Z", 10, True, False, False, 2.0, None) == pytest.approx(0.35 + 0.12 + 0.08 + 0.10)
    assert sheet_share("1.4301", 10, True, False, True, 2.0, None) == pytest.approx(0.35 + 0.12 + 0.08)
    assert sheet_share("AlMg3", 10, False, False, False, 2.0, None) == pytest.approx(0.35 + 0.12)
    # and in a generated export
    ops, truth, mapping = generate_sheetmetal(n_items=3000)
    items = _item_frame(ops, mapping).loc[truth[ITEM]]
    sel = (items["Oberfläche"].isna() & items["Blechdicke"].notna()).to_numpy() & ~truth["perturbed"].to_numpy()
    expected = items["Werkstoff"].str.upper().map({"S235JR": 0.53, "DC01": 0.53, "DX51D+Z": 0.65, "1.4301": 0.55,
                                                   "ALMG3": 0.47})
    assert sel.sum() > 20
    assert truth.loc[sel, "best_chance"].to_numpy() == pytest.approx(expected[sel].to_numpy())


def test_sheetmetal_blank_thickness_by_hand():
    from statistics import NormalDist

    from routing_core.synthetic.plants.sheetmetal import sheet_share

    # press-in fasteners: 4 mm or less; a small lot is lasered whatever the gauge; not welded: no RICHTEN
    assert sheet_share("1.4301", 10, False, True, False, None, "ohne") == 1.0
    # a lot of 500: punched up to 3 mm, lasered at 4 mm; the gauge nearest to 2 mm times exp(0.7 Z)
    gauges = [0.8, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]  # and more, which press-in fasteners rule out
    below = [NormalDist(math.log(2.0), 0.7).cdf(math.log(a * b) / 2) for a, b in itertools.pairwise(gauges)]
    prior = [b - a for a, b in itertools.pairwise([0.0, *below])]  # 0.8 to 4 mm
    # no bends (0.3 up to 6 mm), press-in fasteners (0.3 up to 4 mm), not welded (0.85 below 3 mm, 0.55 from 3 mm)
    like = [p * 0.3 * 0.3 * (0.85 if g < 3 else 0.55) for g, p in zip(gauges[:7], prior, strict=True)]
    punched = sum(like[:6]) / sum(like)
    assert sheet_share("1.4301", 500, False, True, False, None, "ohne") == pytest.approx(max(punched, 1 - punched))


def test_pcb_blank_cells_by_hand():
    from routing_core.synthetic.plants.pcb import pcb_share

    # lot size blank: ICT only matters from 150 SMD parts; lots of 50 or more are 64 of 100
    assert pcb_share("Industrial", True, 120, 1, 4, False, None) == 1.0
    assert pcb_share("Industrial", True, 220, 1, 4, False, None) == pytest.approx(0.64)
    # BGA count blank: a BGA on 55 % of the boards from 6 layers, on 10 % below
    assert pcb_share("Consumer", False, 90, 0, 8, None, 100) == pytest.approx(0.55)
    assert pcb_share("Consumer", False, 90, 0, 4, None, 100) == pytest.approx(0.9)
    # layers blank: only 8 layers or more change the routing; many parts and two sides point there
    few = pcb_share("Medical", False, 40, 0, None, False, 10)
    many = pcb_share("Medical", True, 900, 0, None, True, 10)
    assert 0.5 <= many < few < 1.0


def test_valves_blank_description_by_hand():
    from routing_core.synthetic.plants.valves import valve_share

    # a body (series 4711), not heavy, no customer steps: grades 1.0619 .4 and EN-GJS-400 .2 are
    # painted, 1.4408 .3 pickled, 1.4469 .1 pickled and ferrite-checked; X-ray .35; PN 40 and more:
    # .15 of ASME classes (4 in 9 from CL300) and .85 of PN ratings (6.5 in 18.5)
    high = 0.15 * 4 / 9 + 0.85 * 6.5 / 18.5
    assert valve_share("BODY", False, 0) == pytest.approx(0.6 * 0.65 * (1 - high))
    # a shaft: 42CrMo4 (3 of 7) quenched and tempered, 1.4021 (3 of 7) pickled: a tie
    assert valve_share("SHAFT", False, 3) == pytest.approx(3 / 7)
    # the general series 4800: the part type hidden too
    assert valve_share(None, False, 0) < valve_share("BODY", False, 0)


def test_jobshop_chances_by_hand():
    from routing_core.synthetic.plants.jobshop import job_share

    assert job_share("SPACER", 0, 0) == 1.0
    # a shaft without words: keyway .5, heat treatment .25 shown half the time, grinding .4 shown 3 in 10
    q_ht, q_grind = 0.25 * 0.5 / (0.25 * 0.5 + 0.75), 0.4 * 0.7 / (0.4 * 0.7 + 0.6)
    assert job_share("SHAFT", 0, 0) == pytest.approx(0.5 * (1 - q_ht) * (1 - q_grind))
    assert job_share("SHAFT", 1 << 3, 0) == pytest.approx(0.5 * (1 - q_grind))  # HARDENED
    # quantity blank: a bracket is neither turned nor milled, so only tumbling (100 pieces and
    # more, 11 in 100) changes its routing; bends are there 6 times in 10
    assert job_share("BRACKET", (1 << 3) | (1 << 4), None) == pytest.approx(0.6 * 0.89)
    # description blank: SAW>LATHE>INSPECT is a spacer's, a bush's without grinding, a pin's
    # without heat treatment and a shaft's with none of its three optional steps
    assert job_share(None, None, 0) == pytest.approx(0.1 + 0.12 * 0.7 + 0.05 * 0.7 + 0.16 * 0.5 * 0.75 * 0.6)
