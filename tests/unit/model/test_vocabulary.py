"""Vocabulary: steps, routings and step order; the checks and shaping of the tables it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing_core.model.config import VocabularyConfig
from routing_core.model.vocabulary import (
    Vocabulary,
    check_ops,
    item_frame,
    pool_rare_processes,
    query_frame,
    varied_tokens,
)
from routing_core.platform.errors import UserError
from tests.unit.model.tables import long_table


def fit(routings, config=None):
    return Vocabulary(config).fit(check_ops(long_table(routings)), [])


def test_a_second_occurrence_is_its_own_step():
    v = fit([("A", ["CUT", "INSPECT", "DRILL", "INSPECT"]), ("B", ["CUT", "INSPECT"])])
    assert v.processes_ == ["CUT", "DRILL", "INSPECT"]
    assert v.tokens_ == ["CUT", "DRILL", "INSPECT", "INSPECT#2"]
    tok = {t: k for k, t in enumerate(v.tokens_)}
    assert v.presence_[v.item_index_["A"]].tolist() == [True, True, True, True]
    assert v.presence_[v.item_index_["B"]].tolist() == [True, False, True, False]
    assert v.token_prior_.tolist() == [1.0, 0.5, 1.0, 0.5]
    a = v.item_routing_[v.item_index_["A"]]
    assert v.routing_token_lists_[a] == [tok["CUT"], tok["INSPECT"], tok["DRILL"], tok["INSPECT#2"]]
    assert v.routing_processes(a) == ["CUT", "INSPECT", "DRILL", "INSPECT"]


def test_occurrences_beyond_the_limit_share_the_last_step():
    v = fit([("A", ["X", "X", "X", "X"])], VocabularyConfig(occurrences=2))
    assert v.tokens_ == ["X", "X#2"]
    assert v.routing_processes(0) == ["X", "X", "X", "X"]


def test_routing_counts_and_items():
    v = fit([("A", ["CUT", "DRILL"]), ("B", ["CUT", "DRILL"]), ("C", ["DRILL", "CUT"]),
             ("D", ["CUT", "DRILL"]), ("E", ["CUT"])])
    counts = {tuple(v.routing_processes(r)): int(n) for r, n in enumerate(v.routing_count_)}
    assert counts == {("CUT", "DRILL"): 3, ("DRILL", "CUT"): 1, ("CUT",): 1}
    assert v.n_items_ == 5 and v.n_rows_ == 9
    assert list(v.items_) == ["A", "B", "C", "D", "E"]
    # the same set of steps in two orders: 4 items, and the more frequent order represents it
    r = v.item_routing_[v.item_index_["A"]]
    assert v.set_count_[r] == 4
    assert v.routing_by_set_[v.routing_tokens_[r]] == r
    assert v.set_count_[v.item_routing_[v.item_index_["C"]]] == 4


def test_order_of_a_never_seen_set_follows_learned_precedence():
    v = fit([(f"H{i}", ["CUT", "HEAT", "DRILL"]) for i in range(3)]
            + [(f"C{i}", ["CUT", "DRILL", "COAT"]) for i in range(3)])
    tok = {t: k for k, t in enumerate(v.tokens_)}
    steps = frozenset(tok[t] for t in ("COAT", "DRILL", "HEAT", "CUT"))
    assert steps not in v.routing_by_set_
    ordered = v.order(steps, None)
    # HEAT and COAT never met: HEAT's mean position (0.5) is before COAT's (1.0)
    assert [v.tokens_[t] for t in ordered] == ["CUT", "HEAT", "DRILL", "COAT"]
    cache: dict = {}
    assert v.order(steps, None, cache) == ordered and cache[steps] == ordered
    # a known routing keeps its trained order
    r = v.item_routing_[v.item_index_["H0"]]
    assert v.order(v.routing_tokens_[r], r) == [tok["CUT"], tok["HEAT"], tok["DRILL"]]


def test_order_keeps_occurrences_of_a_repeated_process_in_turn():
    v = fit([("A", ["INSPECT", "CUT", "INSPECT"]), ("B", ["INSPECT", "CUT", "INSPECT"])])
    tok = {t: k for k, t in enumerate(v.tokens_)}
    ordered = v.order(frozenset(tok.values()), None)
    assert [v.tokens_[t] for t in ordered] == ["INSPECT", "CUT", "INSPECT#2"]


def test_consistent_needs_the_earlier_occurrence():
    v = fit([("A", ["X", "Y", "X"])])
    tok = {t: k for k, t in enumerate(v.tokens_)}
    assert not v.consistent(frozenset({tok["X#2"]}))
    assert not v.consistent(frozenset({tok["Y"], tok["X#2"]}))
    assert v.consistent(frozenset({tok["X"], tok["X#2"]}))
    assert v.consistent(frozenset({tok["Y"]}))


def test_check_ops_orders_rows_and_fills_seq_and_time():
    raw = pd.DataFrame({"item_code": [" B ", "A", "B", "A", None],
                        "process_code": ["DRILL", "CUT", "CUT", "DRILL", "X"],
                        "seq": [20, 10, 10, 20, 5]})
    ops = check_ops(raw)
    assert ops["item_code"].tolist() == ["B", "B", "A", "A"]  # stripped, first-appearance order
    assert ops["process_code"].tolist() == ["CUT", "DRILL", "CUT", "DRILL"]  # seq order
    assert ops["duration_min"].isna().all()
    assert raw["item_code"].tolist()[0] == " B "  # the caller's table is untouched
    no_seq = check_ops(pd.DataFrame({"item_code": ["A", "A", "B"], "process_code": ["P", "Q", "P"],
                                     "duration_min": ["1.5", "x", "2"]}))
    assert no_seq["seq"].tolist() == [1.0, 2.0, 1.0]
    assert no_seq["duration_min"].tolist()[0] == 1.5 and np.isnan(no_seq["duration_min"].tolist()[1])


def test_check_ops_errors():
    with pytest.raises(UserError) as e:
        check_ops([("A", "CUT")])
    assert str(e.value) == "Training data must be an operations table."
    with pytest.raises(UserError) as e:
        check_ops(pd.DataFrame({"part": ["A"], "op": ["CUT"]}))
    assert str(e.value) == "The training table lacks column(s) item_code, process_code."
    with pytest.raises(UserError) as e:
        check_ops(pd.DataFrame({"item_code": ["A"], "op": ["CUT"]}))
    assert str(e.value) == "The training table lacks column(s) process_code."
    with pytest.raises(UserError) as e:
        check_ops(pd.DataFrame({"item_code": ["A", None], "process_code": [None, "CUT"]}))
    assert str(e.value) == "The training table has no rows with both item_code and process_code."


def test_pool_rare_processes_keeps_the_most_widespread_codes():
    routings = [(f"I{i}", ["A", "B"] if i < 4 else ["A"]) for i in range(5)]
    routings += [("I0", ["C"]), ("I1", ["C"])]
    routings += [("I2", ["D"] * 10)]  # many rows, one item: not widespread
    ops = check_ops(long_table(routings))
    pooled_ops, pooled, name = pool_rare_processes(ops, limit=3)
    assert pooled == ["C", "D"] and name == "OTHER_PROCESS"
    assert set(pooled_ops["process_code"]) == {"A", "B", "OTHER_PROCESS"}
    assert len(pooled_ops) == len(ops)
    assert (pooled_ops["process_code"] == "OTHER_PROCESS").sum() == 12
    same, none_pooled, no_name = pool_rare_processes(ops, limit=4)
    assert same is ops and none_pooled == [] and no_name is None


def test_pool_name_never_takes_a_kept_code():
    routings = [(f"I{i}", ["OTHER_PROCESS", "B"]) for i in range(3)] + [("I0", ["C"]), ("I1", ["D"])]
    _, pooled, name = pool_rare_processes(check_ops(long_table(routings)), limit=2, name="OTHER_PROCESS")
    assert name == "OTHER_PROCESS_"
    assert pooled == ["B", "C", "D"]


def test_query_frame_merges_long_rows_and_keeps_blank_codes_apart():
    items = pd.DataFrame({
        "item_code": ["A", "A", " B", None, None, "B "],
        "material": [None, "steel", "alu", "brass", "steel", None],
        "size": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
    })
    q = query_frame(items)
    assert q["item_code"].tolist() == ["A", "B", "", ""]
    assert q["material"].tolist() == ["steel", "alu", "brass", "steel"]  # first filled value
    assert q["size"].tolist() == [1.0, 3.0, 4.0, 5.0]
    one_each = query_frame(pd.DataFrame({"item_code": ["A", None], "size": [1.0, 2.0]}))
    assert one_each["item_code"].tolist() == ["A", ""] and one_each["size"].tolist() == [1.0, 2.0]


def test_query_frame_errors():
    with pytest.raises(UserError) as e:
        query_frame(["A"])
    assert str(e.value) == "Items to predict must be a table with an item_code column."
    with pytest.raises(UserError) as e:
        query_frame(pd.DataFrame({"code": ["A"]}))
    assert str(e.value) == "The items to predict have no 'item_code' column."


def test_varied_tokens_are_those_whose_presence_varies_most():
    presence = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
    # p = 1, .5, .25, .5 -> p(1-p) = 0, .25, .1875, .25
    assert varied_tokens(presence, 2).tolist() == [1, 3]
    assert varied_tokens(presence, 3).tolist() == [1, 2, 3]
    assert varied_tokens(presence, 10).tolist() == [0, 1, 2, 3]


def test_item_frame_one_row_per_item_in_vocabulary_order():
    ops = check_ops(pd.DataFrame({"item_code": ["B", "B", "A"], "process_code": ["P", "Q", "P"],
                                  "material": ["alu", "alu", "steel"], "wc": ["1", "2", "3"]}))
    v = Vocabulary().fit(ops, ["wc"])
    frame = item_frame(ops, v.items_, ["material", "missing"])
    assert frame.columns.tolist() == ["item_code", "material"]
    assert frame.values.tolist() == [["B", "alu"], ["A", "steel"]]
    assert v.op_values_["wc"] == ["1", "2", "3"]
