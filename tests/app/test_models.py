"""Models page: the versions table, comparing two real versions, details, activate, delete, download."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts

MODELS = "pages/4_Models.py"


def select_rows(at, rows: list[int]):
    at.session_state["models_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_table_compare_and_baseline_verdict(trained, models_dir):
    registry = Registry(models_dir)
    at = open_app(MODELS)
    assert not at.exception
    table = at.dataframe(key="models_table").value
    assert table["name"].tolist() == [i.name for i in registry.list()]
    assert sorted(table["name"]) == sorted(trained)
    assert list(table.columns) == [  # active beside the name; no column of blanks when none is broken
        "name", "active", "dataset", "routing accuracy", "top-3", "F1", "lift vs best baseline", "test items",
        "held out", "created",
    ]
    assert table["held out"].tolist() == ["random", "random"]
    for row in table.itertuples():
        metrics = registry.get(row.name).metrics
        # shares in percent, the lift in percentage points, rounded to the one decimal shown
        assert row._4 == pytest.approx(100 * metrics["routing_accuracy"], abs=0.05 + 1e-9)
        assert row._4 == round(row._4, 1)
        assert row._5 == pytest.approx(100 * metrics["top_3_accuracy"], abs=0.05 + 1e-9)
        assert row._7 == pytest.approx(100 * metrics["lift_over_best"], abs=0.05 + 1e-9)
        assert row.created == pd.Timestamp(registry.get(row.name).created_at)
    assert "Select two or more versions" in texts(at.main.info)[0]

    select_rows(at, [0, 1])
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = [t for t in figure["data"] if t["name"] == "model"]  # a dot per version (on a zoomed axis)
    marks = [t for t in figure["data"] if t["name"] == "best baseline"]
    assert len(bars) == len(marks) == 4  # four metrics, model dots + best-baseline mark each
    names = table["name"].tolist()
    assert bars[0]["x"] == names
    first = registry.get(names[0]).metrics
    assert bars[0]["y"][0] == first["routing_accuracy"]
    assert marks[0]["customdata"][0][1] == first["baselines"][first["best_baseline"]]["routing_accuracy"]
    # the two versions held out different items (seeds 1 and 2): marked as not like for like
    assert any("Not like for like" in t and "different test items" in t for t in texts(at.main.warning))
    side = at.main.dataframe[1].value
    assert side["version"].tolist() == names
    assert side["best baseline"].tolist() == [registry.get(n).metrics["best_baseline"] for n in names]

    # details of the first selected version, with the verdict against its baseline
    assert at.selectbox(key="models_detail").value == names[0]
    verdict = texts(at.main.warning) if first["lift_over_best"] <= 0 else texts(at.main.success)
    expected = "is no better than its best baseline" if first["lift_over_best"] <= 0 else "Better than its best"
    assert any(expected in t for t in verdict), verdict
    shown = {m.label: m.value for m in at.main.metric}
    # the figure Details shows is the one the versions table shows (one rounding)
    in_table = table.set_index("name").loc[names[0], "routing accuracy"]
    assert shown["Routing accuracy"] == f"{in_table:.1f} %"
    assert float(shown["Routing accuracy"][:-2]) == pytest.approx(100 * first["routing_accuracy"], abs=0.05 + 1e-9)
    assert [e.label for e in at.main.expander] == ["What the model reads", "Baselines", "Metrics", "Manifest",
                                                   "Parameters", "History (1)"]  # its publish
    read = [m.value for m in at.main.expander[0].markdown]
    # what the version's own record says about the item code, in the page's words
    reading = first["reading"]
    checks = reading.get("checks") or {}
    uses_code = checks["item code"]["kept"] if "item code" in checks else bool(reading.get("item_code_tokens"))
    said = "- The item code is used" if uses_code else "- The item code is not used"
    assert sum(line.startswith(said) for line in read) == 1, read
    assert at.download_button(key="models_download").label == "Download (zip)"


def test_ticking_a_row_shows_that_version_in_details(trained, models_dir):
    at = open_app(MODELS)
    names = at.dataframe(key="models_table").value["name"].tolist()
    shown = at.selectbox(key="models_detail").value
    other = next(n for n in names if n != shown)
    select_rows(at, [names.index(other)])
    assert not at.exception
    assert at.selectbox(key="models_detail").value == other
    assert at.session_state["models_detail"] == other
    select_rows(at, [names.index(other), names.index(shown)])  # ticking a second row follows it
    assert at.selectbox(key="models_detail").value == shown


def test_activate_and_delete_with_confirmation(trained, models_dir):
    registry = Registry(models_dir)
    at = open_app(MODELS)
    target, other = trained
    at.selectbox(key="models_detail").set_value(target).run()
    at.button(key="models_activate").click().run()
    assert not at.exception
    assert registry.active() == target
    assert texts(at.toast) == [f"{target} is now the active version."]
    assert texts(at.sidebar.markdown) == [f"**{target}**"]
    assert at.button(key="models_activate").disabled

    at.button(key="models_delete").click().run()
    assert f"Delete version **{target}** and its files? This cannot be undone." in texts(at.markdown)
    assert any("It is the active version" in t for t in texts(at.warning))
    at.button(key="models_delete_cancel").click().run()
    assert registry.exists(target)
    assert all(b.key != "models_delete_confirm" for b in at.button)

    at.button(key="models_delete").click().run()
    at.button(key="models_delete_confirm").click().run()
    assert not at.exception
    assert not registry.exists(target) and registry.active() is None
    assert texts(at.toast) == [f"Deleted version {target}."]
    assert at.dataframe(key="models_table").value["name"].tolist() == [other]
    assert texts(at.sidebar.caption) == ["No active model yet."]


def test_broken_version_is_listed_with_its_reason(trained, models_dir):
    target = trained[0]
    (models_dir / target / "model.joblib").write_bytes(b"tampered")
    at = open_app(MODELS)
    assert not at.exception
    table = at.dataframe(key="models_table").value.set_index("name")
    assert "model.joblib" in table.loc[target, "broken"]
    at.selectbox(key="models_detail").set_value(target).run()
    assert any("This version cannot be used" in t for t in texts(at.main.error))
    assert at.button(key="models_activate").disabled


def test_link_from_train_opens_the_new_version(trained):
    at = open_app(MODELS)
    newest = at.dataframe(key="models_table").value["name"].iloc[0]
    assert at.selectbox(key="models_detail").value == newest  # without a link: the newest
    older = next(name for name in trained if name != newest)
    at = open_app()
    at.query_params["version"] = older  # what "Open … in Models" on the Train page carries
    at.switch_page(MODELS).run()
    assert not at.exception
    assert at.selectbox(key="models_detail").value == older


def frame_with(at, column: str) -> pd.DataFrame:
    """The first table on the page with this column (tables without a selection carry no key)."""
    return next(d.value for d in at.main.dataframe if column in d.value.columns)


def test_head_to_head_on_an_uploaded_file_and_on_a_stored_dataset(trained, models_dir):
    from routing_core.datasets import load_dataset
    from routing_core.scoring.compare import compare_models
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes

    registry = Registry(models_dir)
    at = open_app(MODELS)
    names = at.dataframe(key="models_table").value["name"].tolist()
    select_rows(at, [0, 1])
    # both versions were refitted on all of 'sample': no item of it is left unseen
    at.button(key="compare_run").click().run()
    assert not at.exception
    assert any("nothing fair left to compare on" in t for t in texts(at.main.error))
    # ... so each is fitted again on the same 80 % of the sample and both predict the other 20 %
    at.radio(key="compare_source").set_value(
        "A shared holdout of a stored dataset (each fitted again on the same items)").run()
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    sample_items = registry.get(names[0]).dataset["items"]
    assert any(f"the other {round(0.2 * sample_items)} (random (seed 42))" in t for t in texts(at.main.caption))
    assert set(frame_with(at, "metric").columns) >= {"metric", *names}

    data = sample_csv_bytes(SampleConfig(n_items=40, seed=99))
    at.radio(key="compare_source").set_value("An uploaded labelled file").run()
    at.file_uploader(key="compare_file").upload("labelled.csv", data, "text/csv").run()
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    metrics = frame_with(at, "metric").set_index("metric")
    expected = compare_models({n: registry.load_model(n) for n in names}, load_dataset(data, name="x.csv").ops)
    acc = expected.metrics.set_index("metric").loc["routing accuracy"]
    assert metrics.loc["routing accuracy", names[0]] == f"{100 * acc[names[0]]:.1f} %"
    diff_col = f"{names[1]} − {names[0]} (95 % interval)"
    assert metrics.loc["routing accuracy", diff_col].startswith(f"{acc[f'{names[1]} − {names[0]} (pts)']:+.1f} pts")
    shown = frame_with(at, "who was right")
    assert shown["item"].tolist() == expected.disagreements["item"].tolist()
    assert len(shown) > 0  # versions of two seeds differ on some of the 40 items
    if len(shown):
        who = shown["who was right"].iloc[0]
        at.multiselect(key="compare_who").set_value([who]).run()
        assert set(frame_with(at, "who was right")["who was right"]) == {who}


def test_details_are_tables_with_rounded_numbers(trained):
    at = open_app(MODELS)
    metrics = frame_with(at, "value").set_index("name")
    value = metrics.loc["routing_accuracy", "value"]
    assert len(value.split(".")[-1]) <= 4, value  # rounded, not 16 digits
    params = [d.value for d in at.main.dataframe if "name" in d.value.columns][-1].set_index("name")
    assert params.loc["refit", "value"] == "yes"
