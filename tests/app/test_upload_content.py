"""Upload page: the mapping checked by content before anything is stored, and remembered by header."""

from __future__ import annotations

import pytest

from routing_core.datasets import DatasetStore
from tests.app.conftest import open_app, texts
from tests.app.test_upload import UPLOAD, upload
from tests.exports import spanish_export, write


def mapping(at) -> dict[str, str]:
    return {s.key: s.value for s in at.selectbox}


@pytest.fixture
def spanish(tmp_path):
    return write(spanish_export(items=150), tmp_path / "export_es.csv")


def test_spanish_export_is_mapped_by_content(data_home, models_dir, spanish):
    at = upload(open_app(UPLOAD), spanish)
    assert not at.exception
    assert mapping(at) == {"map_item_code": "ARTICULO", "map_process_code": "OPERACION", "map_seq": "FASE",
                           "map_duration": "TIEMPO_H", "map_duration_unit": "h"}
    notes = texts(at.info)
    assert any("'FASE' holds step numbers 10–" in n and "The mapping is set that way" in n for n in notes)
    assert not at.warning or not any("looks like" in w for w in texts(at.warning))
    assert {m.label: m.value for m in at.main.metric}["Processes"] == "30"

    # A person picks FASE again: the page says so in words before anything is stored, and fixes it in one click
    at.selectbox(key="map_process_code").set_value("FASE")
    at.selectbox(key="map_seq").set_value("—").run()
    warnings = [w for w in texts(at.warning) if "holds step numbers" in w]
    assert len(warnings) == 1 and "'OPERACION' looks like the process code" in warnings[0]
    assert DatasetStore(data_home).names() == ["sample"]
    at.button(key="map_fix").click().run()
    assert mapping(at)["map_process_code"] == "OPERACION" and mapping(at)["map_seq"] == "FASE"
    assert not any("holds step numbers" in w for w in texts(at.warning))


def test_a_confirmed_mapping_is_remembered_for_the_same_headers(data_home, models_dir, tmp_path):
    frame = spanish_export(items=120)
    first = write(frame, tmp_path / "first.csv")
    at = upload(open_app(UPLOAD), first)
    # the analyst keeps CENTRO as an operation attribute but drops the duration: a choice of their own
    at.selectbox(key="map_duration").set_value("—").run()
    at.button(key="upload_save").click().run()
    assert not at.exception
    assert DatasetStore(data_home).record("first").mapping == {
        "ARTICULO": "item_code", "OPERACION": "process_code", "FASE": "seq"}

    # the next export with the same headers (other rows, other column order) opens with that mapping
    second = write(spanish_export(items=90, seed=11)[list(reversed(frame.columns))], tmp_path / "second.csv")
    at = upload(open_app(UPLOAD), second)
    assert mapping(at) == {"map_item_code": "ARTICULO", "map_process_code": "OPERACION", "map_seq": "FASE",
                           "map_duration": "—", "map_duration_unit": "min"}
    assert any("Opened with the mapping confirmed for these columns" in n for n in texts(at.info))
