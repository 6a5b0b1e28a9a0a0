"""Predict page: one known item, one typed item and a batch file, with the real trained model."""

from __future__ import annotations

import io

import pandas as pd

from routing_core.datasets import DatasetStore
from routing_core.synthetic.sample import SampleConfig, generate
from routing_core.versions.registry import Registry
from tests.app.conftest import held, open_app, texts
from tests.conftest import ADMIN, FABRICAD

PREDICT = "pages/5_Predict.py"


def cards(at) -> list:
    return [c for c in at.main.container if (c.key or "").startswith("predict_known_card_")]


def test_known_item_gets_its_routing_first(trained, data_home, models_dir):
    registry = Registry(models_dir)
    registry.activate(trained[1], user=ADMIN)
    at = open_app(PREDICT)
    assert not at.exception
    assert at.selectbox(key="predict_version").value == trained[1]  # the active one by default
    ops = DatasetStore(data_home).load("sample").ops
    code = ops["item_code"].iloc[0]
    at.selectbox(key="predict_item").set_value(code).run()
    assert not at.exception
    assert f"Candidates for {code}" in texts(at.main.subheader)

    shown = cards(at)
    assert [c.key for c in shown] == [f"predict_known_card_{r}" for r in range(1, len(shown) + 1)]
    assert 1 <= len(shown) <= 5
    first = shown[0]
    assert first.markdown.values[1] == ":green-badge[known]"
    truth = ops[ops["item_code"] == code]["process_code"].tolist()
    assert texts(first.markdown)[2] == " → ".join(truth)
    assert {m.label: m.value for m in first.metric}["Score"] == "1.00"
    # its own routing: no blank attribute was weighed
    assert not [t for t in texts(at.main.caption) if t.startswith("Blank attributes")]
    steps = first.dataframe[0].value
    assert steps["process_code"].tolist() == truth
    assert first.get("plotly_chart")  # the step timeline

    at.toggle(key="predict_ignore_history").set_value(True).run()
    first = cards(at)[0]
    refs = first.dataframe[1].value
    assert refs["item_code"].iloc[0] == f"{code} (this item)"  # the query first, its references below
    assert code not in refs["item_code"].tolist()[1:]  # its own history is ignored
    assert refs["similarity"].iloc[1:].between(0, 1).all()
    assert set(model_attributes(models_dir, trained[1])) <= set(refs.columns)  # attributes side by side
    # why its steps: the attributes that weigh for and against them, with the item's values
    why = [e for e in first.expander if e.label == "Why these steps"]
    assert first.markdown.values[1] == ":blue-badge[model]"  # a sample item has close neighbours
    lines = texts(why[0].markdown)
    assert lines and all(" (step " in line and "pts)" in line for line in lines)
    item = ops[ops["item_code"] == code].iloc[0]
    assert any(f"= {item['part_type']} (" in line for line in lines)  # the part type decides most steps


def model_attributes(models_dir, version: str) -> list[str]:
    return list(Registry(models_dir).load_model(version).item_attributes_)


def test_typed_attributes(trained, models_dir):
    at = open_app(PREDICT)
    at.radio(key="predict_mode").set_value("Type its attributes").run()
    assert not at.exception
    model = Registry(models_dir).load_model(trained[0])
    inputs = {w.key for w in [*at.selectbox, *at.number_input, *at.text_input]}
    assert {f"predict_attr_{a}" for a in model.item_attributes_} <= inputs
    at.text_input(key="predict_code").set_value("SH-1000001")
    at.selectbox(key="predict_attr_part_type").set_value("shaft")
    at.number_input(key="predict_attr_outer_diameter_mm").set_value(40.0)
    at.button(key="predict_submit").click().run()
    assert not at.exception
    assert "Candidates for SH-1000001" in texts(at.main.subheader)
    # what the blank attributes are taken to be: a shaft's material is one of the shaft materials
    said = next(t for t in texts(at.main.caption) if t.startswith("Blank attributes, weighed as"))
    said = said.replace("\\", "")  # the Markdown escapes
    assert "material: " in said and "part_type" not in said and "outer_diameter" not in said
    materials = said.split("material: ")[1].split(";")[0]
    assert any(m in materials for m in ("C45", "42CrMo4", "SS304")), said
    typed = [c for c in at.main.container if (c.key or "").startswith("predict_typed_card_")]
    assert typed and all(c.get("plotly_chart") for c in typed)
    scores = [float({m.label: m.value for m in c.metric}["Score"]) for c in typed]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_batch_file_table_and_safe_download(trained):
    items = generate(SampleConfig(n_items=25, seed=99)).groupby("item_code", sort=False).head(1)
    items = items.drop(columns=["seq", "process_code", "duration_min", "work_center", "outsourced"])
    items = items.rename(columns={"item_code": "PART_NO"})  # an alias is recognised
    items.loc[items.index[0], "PART_NO"] = "=HYPERLINK(\"http://x\")"
    at = open_app(PREDICT)
    at.file_uploader(key="predict_batch_file").upload("items.csv", items.to_csv(index=False).encode(), "text/csv")
    at.run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.main.metric}["Items"] == "25"
    assert not at.main.warning  # the sample's own attributes: nothing to warn about
    table = at.main.dataframe[-1].value
    assert table["item_code"].nunique() == 25
    assert {"item_code", "rank", "score", "kind", "seq", "process_code", "duration_min"} <= set(table.columns)
    assert table["rank"].min() == 1
    summary = at.main.dataframe[-2].value  # one row per item before the step table
    assert len(summary) == 25 and summary["item_code"].tolist() == table["item_code"].drop_duplicates().tolist()
    firsts = table[table["rank"] == 1]
    for row in summary.head(5).itertuples():
        steps = firsts[firsts["item_code"] == row.item_code]
        assert row.routing == " → ".join(steps["process_code"]) and row.steps == len(steps)
    assert at.download_button(key="predict_download").label == "Download CSV"
    csv = held("predict_batch")[2].decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv
    back = pd.read_csv(io.StringIO(csv))
    assert len(back) == len(table)


def test_batch_file_without_item_column_is_explained(trained):
    at = open_app(PREDICT)
    at.file_uploader(key="predict_batch_file").upload("x.csv", b"foo,bar\n1,2\n", "text/csv")
    at.run()
    assert not at.exception
    assert "no item_code column found" in texts(at.main.error)[0]


def test_a_batch_file_from_elsewhere_is_flagged(trained):
    # FabriCAD's German export against a version trained on the sample: no shared attribute.
    at = open_app(PREDICT)
    at.file_uploader(key="predict_batch_file").upload("fabricad.csv", FABRICAD.read_bytes(), "text/csv")
    at.run()
    assert not at.exception
    said = texts(at.main.warning)
    assert said[0].startswith("The file holds none of the attributes this version learned from (")
    assert said[1].startswith("25 of 25 items are unlike every training item")
    assert {m.label: m.value for m in at.main.metric}["Fallback"] == "25"


def test_low_score_candidates_are_folded_and_fewer_candidates_explained(trained, data_home):
    at = open_app(PREDICT)
    at.number_input(key=f"predict_top_k_{at.selectbox(key='predict_version').value}").set_value(20).run()
    at.toggle(key="predict_ignore_history").set_value(True).run()
    code = DatasetStore(data_home).load("sample").ops["item_code"].iloc[3]
    at.selectbox(key="predict_item").set_value(code).run()
    assert not at.exception
    full = cards(at)
    folded = [e for e in at.main.expander if e.label.startswith("#")]
    assert full and full[0].key == "predict_known_card_1"
    for e in folded:  # "#3 · score 0.01 · model · 12.3 min · SAW → MILL"
        rank, score = e.label.split(" · ")[:2]
        assert int(rank[1:]) > 1 and float(score.split()[1]) < 0.2
    for c in full[1:]:
        assert float({m.label: m.value for m in c.metric}["Score"]) >= 0.2
    n = len(full) + len(folded)
    if n < 20:
        assert any(f"{n} candidate(s) of the 20 asked for" in t for t in texts(at.main.caption))


def test_a_date_attribute_of_a_new_item_is_filled_with_today(data_home, models_dir):
    from routing_core.datasets import load_dataset
    from routing_core.engine.train_request import TrainRequest
    from routing_core.engine.training import run_training
    from routing_core.synthetic.sample import sample_csv_bytes

    frame = pd.read_csv(io.BytesIO(sample_csv_bytes(SampleConfig(n_items=60, seed=8))), dtype={"item_code": str})
    codes = sorted(frame["item_code"].unique())
    frame["valid_from"] = frame["item_code"].map({c: f"{1 + i % 28:02d}.{1 + i // 28:02d}.2023"
                                                  for i, c in enumerate(codes)})
    DatasetStore(data_home).save("dated", load_dataset(frame.to_csv(index=False).encode(), name="dated.csv"), user=ADMIN)
    run_training(TrainRequest("dated", version="v-dated"), models_dir, data_home, user=ADMIN)
    Registry(models_dir).activate("v-dated", user=ADMIN)
    assert "valid_from" in Registry(models_dir).load_model("v-dated").item_attributes_
    at = open_app(PREDICT)
    at.radio(key="predict_mode").set_value("Type its attributes").run()
    assert not at.exception
    assert at.text_input(key="predict_attr_valid_from").value == pd.Timestamp.today().strftime("%d.%m.%Y")
