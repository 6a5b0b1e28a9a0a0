"""The routing model on small tables whose answers are known, and on the real FabriCAD file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from routing_core.datasets import load_dataset
from routing_core.model import (
    Candidate,
    ItemPrediction,
    ModelConfig,
    RoutingModel,
    Step,
    batch_warnings,
)
from routing_core.model.vocabulary import query_frame
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, generate
from tests.conftest import FABRICAD, FABRICAD_MAP
from tests.unit.model.tables import options_table as _options_table


def options_table(per_combo: int = 30, seed: int = 0) -> pd.DataFrame:
    """The options table of tests/unit/model/tables.py, 30 items per combination by default."""
    return _options_table(per_combo, seed)


@pytest.fixture(scope="module")
def toy():
    ops = options_table()
    return ops, RoutingModel().fit(ops)


def test_learned_state_and_attribute_classes(toy):
    ops, model = toy
    assert model.item_attributes_ == ["heat", "coat", "size"]
    assert model.operation_attributes_ == ["work_center"]
    assert model.n_items_ == ops["item_code"].nunique()
    assert set(model.processes_) == {"CUT", "HEAT", "DRILL", "COAT", "INSPECT"}
    assert RoutingModel().get_params()["top_k"] == 5
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "n_items_")  # __init__ stores parameters only


def test_known_item_gets_its_own_routing_first(toy):
    ops, model = toy
    own = ops[ops["item_code"] == "P-0031"]
    [pred] = model.predict(own)  # long form accepted: first row per item
    assert pred.known and not pred.fallback
    first = pred.candidates[0]
    assert first.kind == "known" and first.score == 1.0 and first.rank == 1
    assert first.processes == own["process_code"].tolist() == ["CUT", "HEAT", "DRILL", "INSPECT"]
    assert [s.duration_min for s in first.steps] == own["duration_min"].tolist()
    assert first.steps[1].attributes == {"work_center": "WC-HEAT"}
    assert [s.seq for s in first.steps] == [10, 20, 30, 40]
    [ignored] = model.predict(own, ignore_history=True)
    assert not ignored.known and ignored.candidates[0].kind == "model"
    assert ignored.candidates[0].processes == first.processes  # and the model agrees
    assert "P-0031" not in [code for code, _ in ignored.candidates[0].references]


def test_unseen_combination_of_options_is_composed_in_order(toy):
    _, model = toy
    [pred] = model.predict(pd.DataFrame({"item_code": ["NEW-1"], "heat": ["Y"], "coat": ["Y"],
                                         "size": [50.0]}))
    assert not pred.known and not pred.fallback
    top = pred.candidates[0]
    assert top.kind == "model"
    assert top.processes == ["CUT", "HEAT", "DRILL", "COAT", "INSPECT"]  # never seen whole
    assert top.score > pred.candidates[1].score
    heat = top.steps[1]
    assert heat.process_code == "HEAT" and heat.attributes["work_center"] == "WC-HEAT"
    assert heat.duration_low <= heat.duration_min <= heat.duration_high
    assert top.total_duration_min == pytest.approx(sum(s.duration_min for s in top.steps))
    assert top.references
    sims = [s for _, s in top.references]
    assert sims == sorted(sims, reverse=True)
    # no training item has this routing: the card says its references only share most steps
    assert top.note == "No similar item has exactly this routing: the reference items share most of its steps."


def test_references_have_the_routing_and_leave_out_the_item_asked_about(toy):
    ops, model = toy
    routing = ops.groupby("item_code", sort=False)["process_code"].agg(tuple)
    own = ops[ops["item_code"] == "P-0031"]
    [pred] = model.predict(own, top_k=3)
    assert pred.candidates[0].kind == "known"
    for c in pred.candidates[1:]:
        codes = [code for code, _ in c.references]
        assert "P-0031" not in codes  # its own routing is candidate 1, not a witness for another
        if not c.note:  # references with exactly this routing, most similar first
            assert codes and all(routing[code] == tuple(c.processes) for code in codes)
        sims = [s for _, s in c.references]
        assert sims == sorted(sims, reverse=True)


def test_batch_warnings_name_missing_attributes_and_mass_fallback(toy):
    ops, model = toy
    good = ops.drop_duplicates("item_code").head(5)
    assert batch_warnings(model, good, model.predict_frame(good)) == []
    partial = good.drop(columns=["coat"])
    assert batch_warnings(model, partial, model.predict_frame(partial)) == [
        "The file lacks 1 of the 3 attributes this version learned from (coat): they count as blank for every item."
    ]
    foreign = pd.DataFrame({"item_code": ["X1", "X2", "X3"], "Werkstoff": ["St", "Al", "St"]})
    said = batch_warnings(model, foreign, model.predict_frame(foreign))
    assert said[0] == ("The file holds none of the attributes this version learned from (heat, coat, size): "
                       "the predictions rest on the item codes alone.")
    assert said[1].startswith("3 of 3 items are unlike every training item")


def test_seen_combination_is_predicted_with_times_of_similar_items(toy):
    _, model = toy
    [pred] = model.predict(pd.DataFrame({"item_code": ["NEW-2"], "heat": ["N"], "coat": ["Y"],
                                         "size": [90.0]}))
    top = pred.candidates[0]
    assert top.processes == ["CUT", "DRILL", "COAT", "INSPECT"]
    assert top.score > 0.8
    # CUT takes size / 10 minutes: similar (large) items, not the overall median (~5.5)
    assert top.steps[0].duration_min == pytest.approx(9.0, abs=1.0)


def test_all_new_item_falls_back_with_a_reason(toy):
    _, model = toy
    [pred] = model.predict(pd.DataFrame({"item_code": ["ZZZ"], "heat": ["maybe"], "coat": ["?"],
                                         "size": [1e6]}))
    assert pred.fallback and not pred.known
    fb = pred.candidates[0]
    assert fb.kind == "fallback" and fb.rank == 1
    assert "similar" in fb.note and fb.note == pred.message
    assert fb.score < 0.3
    assert fb.processes  # never an empty answer
    scores = [c.score for c in pred.candidates]
    assert scores == sorted(scores, reverse=True)


def test_item_without_any_attribute_still_gets_an_answer(toy):
    _, model = toy
    [pred] = model.predict(pd.DataFrame({"item_code": ["BLANK"]}))
    assert pred.candidates and pred.candidates[0].processes
    assert pred.fallback or pred.candidates[0].score > 0


def test_predict_frame_long_form(toy):
    _, model = toy
    items = pd.DataFrame({"item_code": ["NEW-1", "P-0001"], "heat": ["Y", "N"], "coat": ["Y", "N"],
                          "size": [50.0, 20.0]})
    frame = model.predict_frame(items, top_k=2)
    assert list(frame.columns[:9]) == ["item_code", "rank", "score", "kind", "seq", "process_code",
                                        "duration_min", "duration_low", "duration_high"]
    assert "work_center" in frame and "references" in frame
    assert set(frame["rank"]) == {1, 2}
    first = frame[(frame["item_code"] == "NEW-1") & (frame["rank"] == 1)]
    assert first["process_code"].tolist() == ["CUT", "HEAT", "DRILL", "COAT", "INSPECT"]
    assert frame.loc[frame["item_code"] == "P-0001", "kind"].iloc[0] == "known"
    assert "(" in first["references"].iloc[0]
    times = frame[["duration_min", "duration_low", "duration_high"]].stack()
    assert len(times) and (times == times.round(3)).all()  # to the thousandth of a minute in tables


def test_top_k_and_types(toy):
    _, model = toy
    preds = model.predict(pd.DataFrame({"item_code": ["A", "B"], "heat": ["Y", "N"]}), top_k=2)
    assert len(preds) == 2 and all(isinstance(p, ItemPrediction) for p in preds)
    for p in preds:
        assert 1 <= len(p.candidates) <= 2
        assert all(isinstance(c, Candidate) for c in p.candidates)
        assert [c.score for c in p.candidates] == sorted((c.score for c in p.candidates), reverse=True)
        assert all(isinstance(s, Step) for c in p.candidates for s in c.steps)
        assert [c.rank for c in p.candidates] == list(range(1, len(p.candidates) + 1))
    assert model.predict(pd.DataFrame({"item_code": []})) == []


def test_save_and_load_round_trip(toy, tmp_path):
    _, model = toy
    path = tmp_path / "model.joblib"
    model.save(path)
    loaded = RoutingModel.load(path)
    items = pd.DataFrame({"item_code": ["NEW-1"], "heat": ["Y"], "coat": ["Y"], "size": [50.0]})
    assert loaded.predict_frame(items).equals(model.predict_frame(items))
    (tmp_path / "other.joblib").write_bytes(b"not a model")
    with pytest.raises(UserError, match="does not hold a routing model"):
        RoutingModel.load(tmp_path / "other.joblib")


def test_repeated_process_keeps_its_place():
    rows = []
    for i in range(40):
        for j, p in enumerate(["SAW", "INSPECT", "MILL", "INSPECT", "PACK"]):
            rows.append({"item_code": f"R{i}", "seq": j + 1, "process_code": p, "kind": "a"})
    model = RoutingModel().fit(pd.DataFrame(rows))
    assert "INSPECT#2" in model.tokens_
    [pred] = model.predict(pd.DataFrame({"item_code": ["NEW"], "kind": ["a"]}))
    assert pred.candidates[0].processes == ["SAW", "INSPECT", "MILL", "INSPECT", "PACK"]


def test_a_one_off_step_of_a_close_item_is_not_proposed():
    """Each step model sees a one-off extra step faintly; their combination must not make it
    likely (counting the same evidence thrice did). Weights of the step models are learned."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        heat, coat = ["N", "Y"][i % 2], ["N", "Y"][(i // 2) % 2]
        steps = ["CUT", *(["HEAT"] if heat == "Y" else []), "DRILL", *(["COAT"] if coat == "Y" else []), "INSPECT"]
        if i % 40 == 7:  # a plant variant: an extra MARK step on six items
            steps.insert(2, "MARK")
        size = float(rng.uniform(10, 100))
        for j, s in enumerate(steps):
            rows.append({"item_code": f"P-{i:04d}", "seq": 10 * (j + 1), "process_code": s,
                         "duration_min": size / 10, "heat": heat, "coat": coat, "size": size})
    ops = pd.DataFrame(rows)
    model = RoutingModel().fit(ops)
    assert model.stacker_.weights_.shape == (5,) and (model.stacker_.weights_[1:4] >= 0).all()
    odd = ops[ops["item_code"].isin(ops.loc[ops["process_code"] == "MARK", "item_code"])]
    items = odd.groupby("item_code").first().reset_index()[["item_code", "heat", "coat", "size"]]
    items["item_code"] += "-NEW"
    items["size"] += 0.01  # nearly the same item as the one with the extra step
    preds = model.predict(items)
    assert len(preds) == 6
    assert not any("MARK" in p.candidates[0].processes for p in preds)
    assert all(p.candidates[0].processes[:2] == ["CUT", "HEAT"] for p in preds)


def test_no_durations_no_attributes_no_seq():
    ops = pd.DataFrame({"item_code": ["A", "A", "B", "B", "C"], "process_code": ["X", "Y", "X", "Y", "X"]})
    model = RoutingModel().fit(ops)
    [pred] = model.predict(pd.DataFrame({"item_code": ["D"]}))
    top = pred.candidates[0]
    assert top.processes in (["X", "Y"], ["X"])
    assert top.total_duration_min is None and top.steps[0].duration_min is None


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match=r"^The training table lacks column\(s\) process_code\.$"):
        RoutingModel().fit(pd.DataFrame({"item_code": ["A"]}))
    with pytest.raises(UserError, match="^The training table has no rows with both item_code and process_code"):
        RoutingModel().fit(pd.DataFrame({"item_code": [None], "process_code": [None]}))
    model = RoutingModel().fit(options_table(per_combo=5))
    with pytest.raises(UserError, match="^The items to predict have no 'item_code' column"):
        model.predict(pd.DataFrame({"code": ["x"]}))


def test_progress_is_reported_from_0_to_1():
    seen = []
    RoutingModel().fit(generate(SampleConfig(n_items=150, seed=2)), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert all(isinstance(m, str) and m for _, m in seen)


def test_sample_data_generalises_to_held_out_items():
    ops = generate(SampleConfig(n_items=1500, seed=5))
    codes = ops["item_code"].unique()
    test_codes = set(codes[::5])
    train = ops[~ops["item_code"].isin(test_codes)]
    test = ops[ops["item_code"].isin(test_codes)]
    model = RoutingModel().fit(train)
    items = test.groupby("item_code", sort=False).first().reset_index()
    preds = model.predict(items)
    truth = test.groupby("item_code", sort=False)["process_code"].agg(list)
    top1 = np.mean([p.candidates[0].processes == truth[p.item_code] for p in preds])
    top3 = np.mean([any(c.processes == truth[p.item_code] for c in p.candidates[:3]) for p in preds])
    assert top1 > 0.8 and top3 > 0.88
    assert not any(p.known for p in preds)


def test_fabricad_file_trains_and_predicts():
    ds = load_dataset(FABRICAD, mapping=FABRICAD_MAP)
    model = RoutingModel().fit(ds.ops, ds.item_attributes, ds.operation_attributes)
    assert model.item_attributes_ == ["Material", "Abmaße"]
    frame = model.predict_frame(pd.DataFrame({"item_code": ["99999999"], "Material": ["Baustahl"],
                                              "Abmaße": ["300x70"]}))
    assert not frame.empty and frame["process_code"].iloc[0] == "liefern"
    assert "Arbeitsplatz" in frame
    known = model.predict(ds.ops[ds.ops["item_code"] == "00000002"])[0]
    assert known.known and known.candidates[0].processes == ["liefern", "fräsen", "schweißen", "prüfen", "bohren"]


def test_operation_attributes_named_like_output_fields_keep_their_own_columns():
    """An export whose step attribute is called 'rank' or 'note' must not overwrite the ranks."""
    import io

    from routing_core.datasets import load_dataset

    rows = ["item_code,seq,process_code,duration_min,material,rank,note"]
    for i in range(30):
        mat = "steel" if i % 2 else "alu"
        steps = ["SAW", "MILL", "INSPECT"] if mat == "steel" else ["SAW", "LATHE", "INSPECT"]
        rows += [f"I{i:03d},{s + 1},{p},{2 + s},{mat},{9 - s},op-{s}" for s, p in enumerate(steps)]
    ds = load_dataset(io.BytesIO("\n".join(rows).encode()))
    assert {"rank", "note"} <= set(ds.operation_attributes)
    model = RoutingModel().fit(ds.ops)
    frame = model.predict_frame(pd.DataFrame({"item_code": ["NEW-1"], "material": ["steel"]}), top_k=2)
    assert frame.columns.is_unique
    assert {"rank (attribute)", "note (attribute)"} <= set(frame.columns)
    assert frame["rank"].min() == 1 and frame["rank"].max() <= 2
    assert set(frame["rank (attribute)"].dropna()) <= {9, 8, 7}


def density_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Round bars of aluminium or steel: diameter and length vary independently over a wide
    range, the weight is density x volume. Aluminium is anodized, steel zinc plated."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        material, density = [("ALU", 2.7), ("STEEL", 7.85)][i % 2]
        dia, length = np.exp(rng.uniform(np.log(5), np.log(200))), np.exp(rng.uniform(np.log(10), np.log(2000)))
        weight = round(density * np.pi / 4 * dia**2 * length * 1e-6, 4)
        for j, s in enumerate(["SAW", "ANODIZE" if material == "ALU" else "ZINC"]):
            rows.append({"item_code": f"B-{i:04d}", "seq": 10 * (j + 1), "process_code": s,
                         "material": material, "dia_mm": round(dia, 1), "length_mm": round(length, 1),
                         "weight_kg": weight})
    return pd.DataFrame(rows)


def _likeliest(model: RoutingModel, query: pd.DataFrame, attribute: str) -> pd.Series:
    """The value the model takes a blank attribute to hold, per item code of the query."""
    guesses = model.likely_values(query, limit=1)
    return guesses[guesses["attribute"] == attribute].set_index("item_code")["value"]


def test_blank_category_recovered_from_a_ratio_of_measurements():
    """Neither the weight nor the size alone tells the material; weight per volume does."""
    model = RoutingModel().fit(density_table())
    query = density_table(n=200, seed=1).groupby("item_code").first().reset_index()
    query["item_code"] = "Q" + query["item_code"]
    truth = query.set_index("item_code")["material"]
    query["material"] = None
    guessed = _likeliest(model, query, "material")
    assert len(guessed) == len(truth)
    assert (guessed.reindex(truth.index) == truth).mean() >= 0.95


def shapes_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Bars and plates of steel (7.85), stainless steel (8.0) or brass (8.5): the weight is
    density x volume, with another volume formula per shape. Stainless steel is passivated."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        shape = ("BAR", "PLATE")[i % 2]
        material, density = [("STEEL", 7.85), ("STAINLESS", 8.0), ("BRASS", 8.5)][int(rng.integers(3))]
        width, length = np.exp(rng.uniform(np.log(50), np.log(300), size=2))
        volume = np.pi / 4 * width**2 * length if shape == "BAR" else width * length * 0.2 * width
        steps = ["SAW", "LATHE" if shape == "BAR" else "MILL"] + (["PASSIVATE"] if material == "STAINLESS" else [])
        for j, s in enumerate(steps + ["INSPECT"]):
            rows.append({"item_code": f"{shape[:2]}-{i:04d}", "seq": 10 * (j + 1), "process_code": s,
                         "shape": shape, "material": material, "width_mm": round(width, 1),
                         "length_mm": round(length, 1), "weight_kg": round(density * volume * 1e-6, 4)})
    return pd.DataFrame(rows)


def test_blank_material_told_by_weight_for_the_size_within_its_shape():
    """A 2 % denser material hides in a wide spread of sizes; within one shape the weight for the
    size gives it away, and the prediction weighs the routings by it."""
    model = RoutingModel().fit(shapes_table())
    assert model.featurizer_.categorical_.index("material") in model.imputer_.size_evidence_
    query = shapes_table(n=300, seed=1).groupby("item_code").first().reset_index()
    query["item_code"] = "Q" + query["item_code"]
    truth = query.set_index("item_code")["material"]
    query["material"] = None
    guessed = _likeliest(model, query, "material").reindex(truth.index)
    assert (guessed == truth).mean() >= 0.95
    stainless = (truth == "STAINLESS").to_numpy()
    passivated = np.array([any("PASSIVATE" in c.processes for c in p.candidates[:2])
                           for p in model.predict(query, top_k=2, ignore_history=True)])
    assert passivated[stainless].mean() >= 0.95


def test_likely_values_of_blank_cells_only():
    model = RoutingModel().fit(shapes_table())
    query = shapes_table(n=20, seed=2).groupby("item_code").first().reset_index()
    query.loc[:4, "material"] = None
    query.loc[3:6, "shape"] = None
    guesses = model.likely_values(query, limit=2)
    assert set(guesses["attribute"]) == {"material", "shape"}
    assert set(guesses.loc[guesses["attribute"] == "material", "item_code"]) == set(query["item_code"][:5])
    assert set(guesses.loc[guesses["attribute"] == "shape", "item_code"]) == set(query["item_code"][3:7])
    assert guesses.groupby(["item_code", "attribute"]).size().max() <= 2
    assert guesses["probability"].between(0, 1).all()
    # the code prefix gives the shape away
    top = guesses.drop_duplicates(["item_code", "attribute"])
    shape = top[top["attribute"] == "shape"].set_index("item_code")["value"]
    assert (shape == shape.index.str[:2].map({"BA": "BAR", "PL": "PLATE"})).all()


def test_step_tree_leaf_that_never_held_the_group_defers_to_the_additive_model():
    """Group A items are all large and all get X; among group B only large items do. The step
    tree for X splits on size alone, so a small A item lands in a leaf of B items only: its
    answer there is the fallback given, not the leaf's."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        group = "AB"[i % 2]
        size = rng.uniform(60, 100) if group == "A" else rng.uniform(10, 100)
        steps = ["CUT"] + (["X"] if size > 50 else []) + ["CHECK"]
        rows += [{"item_code": f"{group}-{i:04d}", "seq": 10 * (k + 1), "process_code": s,
                  "kind": group, "size": round(size, 1)} for k, s in enumerate(steps)]
    model = RoutingModel().fit(pd.DataFrame(rows))
    x = model.tokens_.index("X")
    assert x in model.step_trees_.trees_
    query = pd.DataFrame({"item_code": ["A-NEW", "B-NEW"], "kind": ["A", "B"], "size": [20.0, 20.0]})
    Xo = model.featurizer_.ordinal(model.featurizer_.encode(query_frame(query)))
    fallback = np.full((2, len(model.tokens_)), 0.4242)
    p = model.step_trees_.predict_proba(Xo, fallback=fallback)
    assert p[0, x] == pytest.approx(0.4242)  # no small A item was ever seen
    assert p[1, x] < 0.1  # small B items never get X
    assert model.step_trees_.predict_proba(Xo)[0, x] > 0.9  # without a fallback: X's rate in group A


# ---------------------------------------------------------------- words of text, items without a code


def test_a_word_in_the_description_decides_a_step():
    rng = np.random.default_rng(1)
    rows = []
    for i in range(240):
        heat, noun = bool(rng.random() < 0.4), str(rng.choice(["SHAFT", "PIN", "AXLE"]))
        text = f"{noun} D{rng.integers(8, 80)} L{rng.integers(20, 400)}" + (" HT" if heat else "") + \
            str(rng.choice(["", " REV2", " SPARE"]))
        steps = ["SAW", "LATHE", *(["HEAT"] if heat else []), "INSPECT"]
        rows += [{"item_code": f"{i:06d}", "seq": 10 * (j + 1), "process_code": s, "description": text}
                 for j, s in enumerate(steps)]
    model = RoutingModel().fit(pd.DataFrame(rows))
    query = pd.DataFrame({"item_code": ["Q1", "Q2"], "description": ["PIN D30 L120 HT", "PIN D30 L120"]})
    with_ht, without = (p.candidates[0].processes for p in model.predict(query, top_k=1))
    assert with_ht == ["SAW", "LATHE", "HEAT", "INSPECT"]
    assert without == ["SAW", "LATHE", "INSPECT"]


def coded_families_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """The family is in the code's prefix and in an attribute that is blank for a third of the
    items (there only the code tells it); a coating option adds a step."""
    rng = np.random.default_rng(seed)
    base = {"SH": ["SAW", "LATHE", "GRIND", "INSPECT"], "BR": ["LASER", "BEND", "INSPECT"],
            "HO": ["CAST", "MILL", "DRILL", "INSPECT"]}
    rows = []
    for i in range(n):
        family, coat = str(rng.choice(list(base))), bool(rng.random() < 0.5)
        steps = base[family][:-1] + (["COAT"] if coat else []) + ["INSPECT"]
        item = {"item_code": f"{family}-{rng.integers(10_000, 99_999)}-{i}",
                "family": family if rng.random() > 0.33 else None, "coat": "Y" if coat else "N",
                "size": float(rng.uniform(10, 100))}
        rows += [{**item, "seq": 10 * (j + 1), "process_code": s} for j, s in enumerate(steps)]
    return pd.DataFrame(rows)


def test_item_without_a_familiar_code_gets_the_same_first_candidate():
    ops = coded_families_table()
    model = RoutingModel().fit(ops)
    assert model.featurizer_.code_cols_, "the code tells the family of items whose family is blank"
    new = coded_families_table(n=60, seed=1).groupby("item_code", sort=False).first().reset_index()
    new = new[new["family"].notna()].reset_index(drop=True)  # the attributes decide the routing
    first = lambda items: [p.candidates[0].processes for p in model.predict(items, top_k=1)]  # noqa: E731
    familiar = first(new)
    renumbered = first(new.assign(item_code=[f"N{900_000 + i}" for i in range(len(new))]))
    assert renumbered == familiar
    for i in range(5):  # no code at all, one item at a time
        assert first(new.iloc[[i]].assign(item_code="")) == familiar[i : i + 1]
    kinds = [p.candidates[0].kind for p in model.predict(new.iloc[:5].assign(item_code=""), top_k=1)]
    assert "fallback" not in kinds


def test_most_frequent_routing_leads_when_the_attributes_say_nothing():
    rng = np.random.default_rng(3)
    steps = ["WELD", "GRIND", "DRILL", "PAINT", "MILL"]
    rows = []
    for i in range(600):  # routings drawn at random: the part word and quantity tell nothing
        route = ["CUT", *rng.choice(steps, size=int(rng.integers(1, 4)), replace=False), "INSPECT"]
        item = {"item_code": f"JS-{i:04d}", "description": f"{rng.choice(['PLATE', 'ARM', 'FRAME'])} "
                f"{rng.integers(1, 999)}", "qty": int(rng.integers(1, 100))}
        rows += [{**item, "seq": j + 1, "process_code": p} for j, p in enumerate(route)]
    model = RoutingModel().fit(pd.DataFrame(rows))
    trial = model.baseline_trial_
    assert model.baseline_leads_ and not trial["model_wins"]
    assert trial["model_similarity"] <= trial["most_frequent_similarity"]
    pred = model.predict(pd.DataFrame({"item_code": ["NEW"], "description": ["PLATE 12"], "qty": [5]}))[0]
    first = pred.candidates[0]
    common = model.routings_[model.candidates_.top_routing]
    assert first.kind == "baseline" and first.processes == [model.processes_[p] for p in common]
    assert "most frequent routing leads" in pred.message
    assert any(c.kind == "model" for c in pred.candidates[1:])
    # Where the attributes decide the routing, the model wins its trial and leads.
    model = RoutingModel().fit(options_table(per_combo=150))
    assert model.baseline_trial_["model_wins"] and not model.baseline_leads_


def test_process_codes_beyond_the_limit_are_pooled_and_memory_stays_bounded():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):  # 15 common codes, and 200 codes each on a single item
        route = ["CUT", *rng.choice([f"C{k}" for k in range(13)], size=3, replace=False), "INSPECT"]
        if i < 200:
            route.insert(2, f"ONE_OFF_{i}")
        rows += [{"item_code": f"I{i:03d}", "seq": j + 1, "process_code": p, "kind": "A" if i % 2 else "B"}
                 for j, p in enumerate(route)]
    config = ModelConfig().replace(vocabulary={"max_process_codes": 20})
    model = RoutingModel(config=config).fit(pd.DataFrame(rows))
    assert len(model.processes_) == 20 and model.pooled_as_ == "OTHER_PROCESS"
    assert len(model.pooled_processes_) == 215 - 19  # 15 common + 200 one-off codes, 19 kept
    assert {"CUT", "INSPECT", "OTHER_PROCESS"} <= set(model.processes_)
    reading = model.reading()
    assert reading["pooled_process_codes"] == 196
    from routing_core.model.text import describe_reading

    assert "196 process codes found on the fewest items are pooled as 'OTHER_PROCESS'" in describe_reading(reading)[-1]
    pred = model.predict(pd.DataFrame({"item_code": ["Q"], "kind": ["A"]}))[0]
    assert pred.candidates


def test_a_process_repeated_sixty_five_times_in_one_routing():
    steps = ["CUT", *["TEST"] * 65, "PACK"]
    rows = [{"item_code": f"I{i}", "seq": j + 1, "process_code": p, "size": float(i)}
            for i in range(4) for j, p in enumerate(steps)]
    model = RoutingModel().fit(pd.DataFrame(rows))
    first = model.predict(pd.DataFrame({"item_code": ["I0"], "size": [0.0]}))[0].candidates[0]
    assert first.processes == steps  # the known item's own routing, all 65 tests in place
    assert model.tokens_[-1] == "TEST#64"  # later repeats share the 64th step's column


def test_items_without_a_code_in_one_batch_stay_apart():
    ops = coded_families_table(n=300)
    model = RoutingModel().fit(ops)
    new = coded_families_table(n=40, seed=2).groupby("item_code", sort=False).first().reset_index().head(4)
    for blank in ("", None, np.nan):
        preds = model.predict(new.assign(item_code=blank))
        assert len(preds) == 4
        assert [p.candidates[0].processes for p in preds] == [
            p.candidates[0].processes for p in model.predict(new.assign(item_code=[f"N{i}" for i in range(4)]))]
    frame = model.predict_frame(new.assign(item_code=None))
    assert (frame["rank"].eq(1) & frame["seq"].eq(10)).sum() == 4  # each item's first candidate


def test_a_code_with_one_unfamiliar_token_counts_as_no_code():
    ops = coded_families_table()
    model = RoutingModel().fit(ops)
    f = model.featurizer_
    assert f.code_cols_
    item = ops.groupby("item_code", sort=False).first().reset_index().head(1)
    family = item["item_code"].iloc[0].split("-")[0]
    odd = item.assign(item_code=f"{family}7-12345-1")  # its leading letters are known, its prefix is not
    enc = f.encode(odd)
    assert f.codeless(enc).all()
    assert all(enc.cat[c][0] == -2 for c in f.code_cols_)  # every code token blank, none half-kept
    _, sims = model.neighbors(odd)
    assert sims[0, -1] < 1.0  # not every neighbour inflated to 1


def test_the_configuration_is_a_parameter_clone_sees_and_the_model_uses():
    from sklearn.base import clone

    config = ModelConfig().replace(candidates={"max_voted": 3}, trial={"code_dropout": 0.0})
    model = RoutingModel(config=config)
    assert clone(model).get_params()["config"] == config
    assert config.to_dict()["candidates"]["max_voted"] == 3
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown setting"):
        ModelConfig.from_dict({"candidates": {"max_votes": 3}})
    fitted = model.fit(options_table())
    assert fitted.config_ is config and fitted.candidates_.config.max_voted == 3
    assert RoutingModel().fit(options_table()).config_ == ModelConfig()  # defaults when none given
