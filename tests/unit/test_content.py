"""The mapping checked against the contents: one test per rule, and files whose names would fool a
detector that reads names only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from routing_core.datasets import normalise, read_table
from routing_core.mapping.content import apply_fix, check_mapping, decide_mapping
from routing_core.mapping.schema import detect_mapping
from tests.exports import spanish_export, write


def _routings(n_items=80, codes=12, seed=1, steps=(3, 7)) -> pd.DataFrame:
    """A plain export: item, step number 10, 20 … within each item, a text code from `codes`
    values, a duration that changes from step to step, an item weight."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        weight = float(rng.uniform(1, 9))
        for s in range(int(rng.integers(*steps))):
            rows.append({"a": f"I{i:04d}", "b": 10 * (s + 1), "c": f"K{int(rng.integers(codes)):02d}",
                         "d": round(float(rng.uniform(0.5, 30)), 1), "e": round(weight, 2)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- one test per rule


def test_rising_numbers_are_the_sequence_when_a_text_code_column_is_there():
    frame = _routings()
    problems = check_mapping(frame, {"a": "item_code", "b": "process_code"})
    assert [p.column for p in problems] == ["b"]
    assert problems[0].fix == {"c": "process_code", "b": "seq"}
    assert "'b' holds step numbers 10–" in problems[0].text and "'c' looks like the process code" in problems[0].text


def test_rising_numbers_stay_the_process_code_without_a_text_code_column():
    frame = _routings().drop(columns="c")  # numeric operation codes in routing order: nothing says otherwise
    assert check_mapping(frame, {"a": "item_code", "b": "process_code"}) == []


def test_a_process_code_repeats_across_items():
    frame = _routings()
    frame["f"] = [f"remark {n}" for n in range(len(frame))]  # a new value on every row
    problems = check_mapping(frame, {"a": "item_code", "f": "process_code", "b": "seq"})
    assert [(p.column, p.fix) for p in problems] == [("f", {"c": "process_code", "f": "-"})]
    assert "different value on most rows" in problems[0].text


def test_a_process_code_changes_within_items():
    frame = _routings()
    frame["g"] = frame["a"].str[-1].map(lambda d: f"FAM{int(d) % 4}")  # one value per item
    problems = check_mapping(frame, {"a": "item_code", "g": "process_code", "b": "seq"})
    assert [(p.column, p.fix) for p in problems] == [("g", {"c": "process_code", "g": "-"})]
    assert "same on every row of most items" in problems[0].text


def test_an_item_code_comes_in_blocks_of_rows():
    frame = _routings()
    problems = check_mapping(frame, {"c": "item_code", "a": "process_code", "b": "seq"})
    assert [(p.column, p.fix) for p in problems] == [("c", {"a": "item_code", "c": "process_code"})]
    assert "come back again and again" in problems[0].text
    # the swap is then consistent
    fixed = apply_fix({"c": "item_code", "a": "process_code", "b": "seq"}, problems[0].fix)
    assert fixed == {"a": "item_code", "c": "process_code", "b": "seq"}
    assert check_mapping(frame, fixed) == []


def test_a_duration_changes_within_items():
    frame = _routings()
    problems = check_mapping(frame, {"a": "item_code", "c": "process_code", "e": "duration_h"})
    assert [(p.column, p.fix) for p in problems] == [("e", {"d": "duration_min", "e": "-"})]
    assert apply_fix({"e": "duration_h"}, problems[0].fix) == {"d": "duration_h"}  # the unit stays
    assert check_mapping(frame, {"a": "item_code", "c": "process_code", "d": "duration_min"}) == []


def test_a_work_centre_is_coarser_than_the_process():
    frame = _routings(codes=20)
    frame["w"] = frame["c"].map(lambda c: f"WC{int(c[1:]) % 4}")  # each code runs on one of 4 centres
    problems = check_mapping(frame, {"a": "item_code", "w": "process_code", "b": "seq"})
    assert [(p.column, p.fix) for p in problems] == [("w", {"c": "process_code", "w": "-"})]
    assert "groups operations, as a work centre does" in problems[0].text
    # the finer column chosen: the coarser one is not a problem the other way round
    assert check_mapping(frame, {"a": "item_code", "c": "process_code", "b": "seq"}) == []


def test_few_rows_say_nothing():
    frame = _routings(n_items=4)
    assert len(frame) < 30
    assert check_mapping(frame, {"a": "item_code", "b": "process_code"}) == []


# ---------------------------------------------------------------- names that would fool a name-only detector


def test_spanish_export_is_read_by_content(tmp_path):
    frame = spanish_export(items=200)
    assert detect_mapping(frame.columns)["FASE"] == "process_code"  # what names alone say
    decision = decide_mapping(frame)
    assert decision.resolved == {"ARTICULO": "item_code", "OPERACION": "process_code", "FASE": "seq",
                                 "TIEMPO_H": "duration_h"}
    assert decision.problems == [] and len(decision.changed) == 1
    assert "'FASE' holds step numbers 10–" in decision.changed[0]
    raw = read_table(write(frame, tmp_path / "export.csv"))
    dataset = normalise(raw, decision.mapping)
    assert dataset.ops["process_code"].str.startswith("OP").all()
    # hours read as hours: TIEMPO_H 0.5 is 30 minutes
    first = frame.iloc[0]
    got = dataset.ops[(dataset.ops["item_code"] == first["ARTICULO"]) & (dataset.ops["seq"] == first["FASE"])]
    assert abs(float(got["duration_min"].iloc[0]) - 60 * first["TIEMPO_H"]) < 1e-9


def test_italian_names_the_sequence_as_a_step():
    frame = _routings().rename(columns={"a": "ARTICOLO", "b": "FASE", "c": "CODICE_LAVORAZIONE", "d": "ORE"})
    decision = decide_mapping(frame)
    assert decision.resolved["CODICE_LAVORAZIONE"] == "process_code"
    assert decision.resolved["FASE"] == "seq"


def test_a_column_named_process_holding_step_numbers_is_refused_unless_confirmed():
    frame = _routings().rename(columns={"a": "item", "b": "process", "c": "Tätigkeit", "d": "minutes"})
    decision = decide_mapping(frame)
    assert decision.resolved["process"] == "process_code"  # a clear name is not overruled in silence
    assert [p.column for p in decision.problems] == ["process"]
    refusal = decision.refusal()
    assert "--map 'Tätigkeit'=process_code --map process=seq" in refusal
    assert "--map process=process_code" in refusal
    confirmed = decide_mapping(frame, {"process": "process_code"})
    assert confirmed.problems == [] and confirmed.resolved["process"] == "process_code"


def test_plant_exports_read_right_by_name_are_left_alone():
    from routing_core.synthetic.plants import PLANTS

    for name, generate in PLANTS.items():
        ops, _, mapping = generate(n_items=300, seed=5)
        decision = decide_mapping(ops)
        assert decision.changed == [] and decision.problems == [], name
        assert check_mapping(ops, mapping) == [], name


def test_hour_units_from_names_in_several_languages():
    for name in ("TIEMPO_H", "Zeit_h", "RUN_H", "ciclo_h", "hours", "horas", "Std.", "Std. time (h)"):
        assert detect_mapping(["ITEM", name, "process"]).get(name) == "duration_h", name
    for name in ("minutos", "STD_MIN", "Dauer [min]"):
        assert detect_mapping(["ITEM", name, "process"]).get(name) == "duration_min", name
    assert "OP_H" not in detect_mapping(["ITEM", "OP_H", "process"])  # an operation word is no run time
