"""Editing a candidate on Predict and accepting it; the Accepted page (search, correct, withdraw,
export with a profile); acceptance figures on Models; a viewer sees the buttons disabled."""

from __future__ import annotations

from routing_core.accepted import AcceptedStore, Draft
from routing_core.datasets import DatasetStore
from routing_core.users.access import User
from routing_core.versions.registry import Registry
from tests.app.conftest import held, open_app, texts
from tests.app.test_auth import roles, session  # noqa: F401  (the roles fixture)
from tests.conftest import ADMIN

PREDICT, ACCEPTED, MODELS = "pages/5_Predict.py", "pages/8_Accepted.py", "pages/4_Models.py"


def table_with(at, column: str):
    """The first table showing `column` (a table that cannot be selected carries no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns and d.editing_mode == "read_only")


def known_item(data_home):
    ops = DatasetStore(data_home).load("sample").ops
    code = ops["item_code"].iloc[0]
    return code, ops[ops["item_code"] == code]


def test_predict_editor_edits_and_accepts_a_candidate(trained, data_home, models_dir):
    Registry(models_dir).activate(trained[0], user=ADMIN)
    code, rows = known_item(data_home)
    truth = rows["process_code"].tolist()
    at = open_app(PREDICT)
    at.selectbox(key="predict_item").set_value(code).run()
    assert "Edit and accept" in texts(at.main.subheader)
    key = f"predict_known_editor_{trained[0]}_{code}_1"
    editor = [e for e in at.data_editor if e.key == key][0]
    table = editor.value
    assert table["process_code"].tolist() == truth and table["seq"].tolist() == [10 * (n + 1) for n in range(len(truth))]
    # move the last step first (seq 5), time of the first step 99 min, insert a step after the second
    inserted = sorted(set(DatasetStore(data_home).load("sample").ops["process_code"]))[0]
    at.session_state[key] = {"edited_rows": {len(truth) - 1: {"seq": 5}, 0: {"minutes": 99.0}},
                             "added_rows": [{"seq": 25, "process_code": inserted, "minutes": 4.5}],
                             "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    summary = texts(at.main.markdown)
    expected = [truth[-1], truth[0], truth[1], inserted, *truth[2:-1]]
    assert any(" → ".join(expected) in t for t in summary), summary
    assert any("What changed against the candidate" in t and "time" in t and "inserted" in t for t in summary)
    at.button(key="predict_known_accept").click().run()
    assert not at.exception, at.exception
    record = AcceptedStore(data_home).get(code)
    assert [s["process_code"] for s in record.steps] == expected
    assert record.steps[1]["duration_min"] == 99.0 and record.steps[3]["duration_min"] == 4.5
    assert record.version == trained[0] and record.candidate_rank == 1 and record.outcome == "first changed"
    kinds = {c["change"] for c in record.changes}
    assert {"time", "inserted"} <= kinds and ("moved" in kinds or len(truth) < 2)
    assert any("Accepted the routing of" in t for t in texts(at.success))


def test_accepted_page_searches_corrects_withdraws_and_exports(trained, data_home, models_dir):
    code, rows = known_item(data_home)
    steps = [{"process_code": p, "duration_min": 6.0, "attributes": {"work_center": "WC-1"}}
             for p in rows["process_code"]]
    AcceptedStore(data_home).accept_many([
        Draft(code, steps, version=trained[0], candidate_rank=1, candidate_steps=steps),
        Draft("OTHER-1", steps[:1], version=trained[0], candidate_rank=2, candidate_steps=steps[:1]),
    ], user=User("ana", "analyst"))
    at = open_app(ACCEPTED)
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Accepted"] == "2"
    at.text_input(key="accepted_search").set_value("other").run()
    assert table_with(at, "routing")["item_code"].tolist() == ["OTHER-1"]
    at.text_input(key="accepted_search").set_value("").run()
    # export with the example SAP profile: operations 10, 20 …, times in minutes, semicolons
    at.selectbox(key="accepted_profile").set_value("sap-routing").run()
    data = at.get("download_button")
    csv_button = [b for b in data if b.proto.label == "Download CSV"][0]
    assert csv_button.proto.url  # the file is served
    table = table_with(at, "MATNR")
    mine = table[table["MATNR"] == code]
    assert mine["VORNR"].tolist() == [10 * (n + 1) for n in range(len(steps))]
    assert mine["VGW01"].tolist() == [6.0] * len(steps) and set(mine["ARBPL"]) == {"WC-1"}
    # correct: drop the last step
    at.selectbox(key="accepted_open").set_value(code).run()
    key = f"accepted_editor_{code}_1"
    at.session_state[key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [len(steps) - 1]}
    at.run()
    at.button(key="accepted_correct").click().run()
    assert not at.exception, at.exception
    fixed = AcceptedStore(data_home).get(code)
    assert len(fixed.steps) == len(steps) - 1 and fixed.revision == 2
    assert [c["change"] for c in fixed.changes] == ["removed"]
    at.selectbox(key="accepted_open").set_value("OTHER-1").run()
    at.button(key="accepted_withdraw").click().run()
    assert AcceptedStore(data_home).get("OTHER-1").status == "withdrawn"
    assert {m.label: m.value for m in at.metric}["Accepted"] == "1"
    # Models: the figures per version come from the store
    at.switch_page(MODELS).run()
    figures = table_with(at, "first unchanged").set_index("version")
    assert figures.loc[trained[0], ["accepted", "first unchanged", "first changed", "another picked"]].tolist() == [
        1, 0, 1, 0]


def test_a_viewer_sees_accept_and_database_export_disabled(trained, data_home, models_dir, roles):  # noqa: F811
    code, rows = known_item(data_home)
    steps = [{"process_code": p, "duration_min": 1.0, "attributes": {}} for p in rows["process_code"]]
    AcceptedStore(data_home).accept(Draft(code, steps), user=User("ana", "analyst"))
    at = session({"email": "vera@plant.test", "sub": "v"}, PREDICT)
    at.selectbox(key="predict_item").set_value(code).run()
    button = at.button(key="predict_known_accept")
    assert button.disabled
    assert button.proto.help == ("vera@plant.test is a viewer and may not accept, correct or withdraw routings: "
                                 "that needs the analyst role.")
    at.switch_page(ACCEPTED).run()
    at.selectbox(key="accepted_open").set_value(code).run()
    assert at.button(key="accepted_correct").disabled and at.button(key="accepted_withdraw").disabled
    assert AcceptedStore(data_home).get(code).revision == 1


def test_a_batch_is_accepted_in_one_action_after_the_low_scores(trained, data_home, models_dir):
    from routing_core.users.activity import ACCEPT_ROUTING, ActivityLog

    ops = DatasetStore(data_home).load("sample").ops
    items = ops.drop_duplicates("item_code").head(4).drop(
        columns=["seq", "process_code", "duration_min", "work_center", "outsourced"])
    items = items.assign(item_code=["B-1", "B-2", "B-3", "B-4"])  # new items: model candidates
    at = open_app(PREDICT)
    at.file_uploader(key="predict_batch_file").upload("items.csv", items.to_csv(index=False).encode(), "text/csv")
    at.run()
    result = held("predict_batch")[1]
    firsts = result[result["rank"] == 1]
    low = int((firsts.drop_duplicates("item_code")["score"] < 0.5).sum())
    button = at.button(key="predict_batch_accept_all")
    assert button.label == "Accept 4 routings" and button.disabled == (low > 0)
    if low:
        at.checkbox(key="predict_batch_reviewed").check().run()
    at.button(key="predict_batch_accept_all").click().run()
    assert not at.exception, at.exception
    stored = {r.item_code: r for r in AcceptedStore(data_home).all()}
    assert sorted(stored) == ["B-1", "B-2", "B-3", "B-4"]
    for code, record in stored.items():
        mine = firsts[firsts["item_code"] == code]
        assert [s["process_code"] for s in record.steps] == mine["process_code"].tolist()
        assert record.outcome == "first unchanged" and record.version in trained
        assert record.candidate_rank == 1 and record.changes == []
    assert len(ActivityLog(data_home).entries(action=ACCEPT_ROUTING)) == 1  # one action
