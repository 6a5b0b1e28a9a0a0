"""Dataset page: headline numbers, charts and alerts of stored datasets, read from the store's statistics."""

from __future__ import annotations

import json

from routing_core.datasets import DatasetStore, load_dataset
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN, FABRICAD, FABRICAD_MAP


def charts(at) -> list:
    """The Plotly figures on the page, as JSON dicts."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def test_sample_and_fabricad_numbers_charts_and_alerts(data_home, models_dir):
    store = DatasetStore(data_home)
    at = open_app()  # stores the sample
    store.save("fabricad", load_dataset(FABRICAD, FABRICAD_MAP), user=ADMIN)
    at.switch_page("pages/2_Dataset.py").run()
    assert not at.exception
    # the newest dataset is offered first
    assert at.selectbox(key="dataset_pick").options == ["fabricad", "sample"]
    assert {m.label: m.value for m in at.main.metric} == {
        "Rows": "78", "Items": "25", "Processes": "8", "Distinct routings": "11", "Duration missing": "0.0 %",
        "Times recorded in": "minutes",
    }
    stats = store.stats("fabricad")
    figures = charts(at)
    titles = [f["layout"]["title"]["text"] for f in figures]
    assert titles == [
        "Missing values per column", "Routing length", "Durations", "Duration per process",
        "Process frequency", "Most common transitions (A → B)",
    ]
    missing = figures[0]["data"][0]
    assert sorted(missing["y"]) == sorted(stats["missing_rate"])  # every column
    assert missing["x"] == sorted(missing["x"], reverse=True)  # worst first
    heat = figures[5]["data"][0]
    assert sum(v for row in heat["z"] for v in row if v) == sum(t["count"] for t in stats["transitions"])
    if stats["alerts"]:
        assert texts(at.main.warning) == stats["alerts"]
    else:
        assert texts(at.main.success) == ["No alerts: the data looks clean."]

    at.selectbox(key="dataset_pick").set_value("sample").run()
    sample = store.stats("sample")
    shown = {m.label: m.value for m in at.main.metric}
    assert shown["Rows"] == f"{sample['total_samples']:,}" == "11,226"
    assert shown["Items"] == "2,000"
    assert shown["Distinct routings"] == f"{sample['distinct_routings']:,}"
    assert texts(at.main.warning) == sample["alerts"]
    assert at.session_state["current_dataset"] == "sample"


def test_alerts_are_shown_in_plain_words(data_home, models_dir):
    store = DatasetStore(data_home)
    rows = ["item_code,process_code,seq,duration_min,material"]
    rows += [f"I{i},SAW,1,,{'' if i % 2 else 'steel'}" for i in range(20)]
    store.save("dirty", load_dataset("\n".join(rows).encode(), name="dirty.csv"), user=ADMIN)
    at = open_app("pages/2_Dataset.py")
    assert at.selectbox(key="dataset_pick").value == "dirty"
    alerts = texts(at.main.warning)
    assert "duration_min: 100.0 % of rows missing" in alerts
    assert "material: 50.0 % of items missing" in alerts
    assert {m.label: m.value for m in at.main.metric}["Duration missing"] == "100.0 %"
    assert "This dataset has no durations." in texts(at.main.info)
