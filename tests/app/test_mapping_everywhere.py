"""One mapping everywhere: files given to a version trained on a Spanish-style export are read with
that export's columns (Predict batch, Models head to head); a batch row without an item code is
accounted for; a labelled file sharing no process code with the versions is flagged before any score."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore, normalise, read_table
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.mapping.content import decide_mapping
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts
from tests.app.test_models import MODELS, frame_with, select_rows
from tests.app.test_predict import PREDICT
from tests.conftest import ADMIN, FABRICAD
from tests.exports import spanish_export, write

VERSIONS = ("v-es-a", "v-es-b")


@pytest.fixture(scope="module")
def spanish_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("spanish")
    data, models = root / "data", root / "models"
    frame = spanish_export(items=160, seed=3)
    raw = read_table(write(frame, root / "export_es.csv"))
    DatasetStore(data).save("es", normalise(raw, decide_mapping(raw.frame).mapping), user=ADMIN)
    for seed, version in enumerate(VERSIONS, start=1):
        run_training(TrainRequest("es", version=version, seed=seed), models, data, user=ADMIN)
    Registry(models).activate(VERSIONS[0], user=ADMIN)
    return data, models, frame


@pytest.fixture
def spanish(spanish_folders, data_home, models_dir):
    data, models, frame = spanish_folders
    shutil.copytree(data, data_home, dirs_exist_ok=True)
    shutil.copytree(models, models_dir, dirs_exist_ok=True)
    return frame


def test_a_batch_file_is_read_with_the_versions_columns_and_every_row_counted(spanish):
    batch = spanish.drop_duplicates("ARTICULO").head(6).copy()
    batch.iloc[3, batch.columns.get_loc("ARTICULO")] = ""  # the fourth row has no item code
    at = open_app(PREDICT)
    at.file_uploader(key="predict_batch_file").upload("lote.csv", batch.to_csv(index=False, sep=";").encode(),
                                                      "text/csv").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="predict_map_item_code").value == "ARTICULO"
    assert any(c.startswith("Read with the columns version") and "ARTICULO" in c for c in texts(at.main.caption))
    said = [w for w in texts(at.main.warning) if "row(s) in" in w]
    assert said and said[0].startswith("6 row(s) in, 6 item(s) to predict, 0 row(s) refused.")
    assert "(row 4)" in said[0]
    assert {m.label: m.value for m in at.main.metric}["Items"] == "6"
    # the one-row-per-item table (its first candidate's routing and the candidates counted)
    table = next(d.value for d in at.main.dataframe if {"routing", "candidates"} <= set(d.value.columns))
    assert "row 4" in set(table["item_code"]) and table["item_code"].nunique() == 6


def test_head_to_head_reads_the_labelled_file_with_the_versions_columns(spanish):
    more = spanish_export(items=200, seed=3)  # the same plant: its first 160 items are the training ones
    labelled = more[~more["ARTICULO"].isin(set(spanish["ARTICULO"]))]  # 40 new items, the export's columns
    assert labelled["ARTICULO"].nunique() == 40
    at = open_app(MODELS)
    select_rows(at, [0, 1])
    at.radio(key="compare_source").set_value("An uploaded labelled file").run()
    at.file_uploader(key="compare_file").upload("etiquetado.csv", labelled.to_csv(index=False, sep=";").encode(),
                                                "text/csv").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="compare_map_process_code").value == "OPERACION"
    assert at.selectbox(key="compare_map_seq").value == "FASE"
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    metrics = frame_with(at, "metric").set_index("metric")
    first = metrics.loc["routing accuracy"].iloc[0]
    assert first != "0.0 %" and float(first.rstrip(" %")) > 0


def test_a_labelled_file_sharing_no_process_code_is_flagged_before_any_score(spanish):
    at = open_app(MODELS)
    select_rows(at, [0, 1])
    at.radio(key="compare_source").set_value("An uploaded labelled file").run()
    at.file_uploader(key="compare_file").upload("fabricad.csv", FABRICAD.read_bytes(), "text/csv").run()
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    errors = texts(at.main.error)
    assert any("share almost nothing with what the versions learned" in e and "0 of its 8 codes" in e
               for e in errors), errors
    assert not any("metric" in d.value.columns for d in at.main.dataframe if isinstance(d.value, pd.DataFrame))


def test_a_version_that_does_not_know_the_files_codes_is_named_beside_the_scores(spanish, trained):
    from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes

    at = open_app(MODELS)
    names = at.dataframe(key="models_table").value["name"].tolist()
    select_rows(at, [names.index("v-small-a"), names.index("v-es-a")])
    at.radio(key="compare_source").set_value("An uploaded labelled file").run()
    at.file_uploader(key="compare_file").upload("labelled.csv", sample_csv_bytes(SampleConfig(n_items=30, seed=5)),
                                                "text/csv").run()
    at.button(key="compare_run").click().run()
    assert not at.exception, at.exception
    assert not texts(at.main.error)  # the sample's codes are known to one of them: scores are shown
    assert "routing accuracy" in frame_with(at, "metric")["metric"].tolist()
    assert any("almost all unknown to v-es-a" in c for c in texts(at.main.caption))
