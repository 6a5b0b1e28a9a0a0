"""Upload page: real files through the uploader, mapping changes, errors that store nothing, saving."""

from __future__ import annotations

import pandas as pd
import pytest

from routing_core.datasets import DatasetStore
from tests.app.conftest import APPTEST_SESSION, held, open_app, texts
from tests.conftest import FABRICAD, TEST_DATA

UPLOAD = "pages/1_Upload.py"


def upload(at, path, name=None, mime="text/csv"):
    at.file_uploader(key="upload_file").upload(name or path.name, path.read_bytes(), mime)
    return at.run()


def preview_of(at):
    """The preview table (tables without selection carry no key in AppTest): the page's one table
    beside the missing values table."""
    tables = [d.value for d in at.main.dataframe if "missing per row (%)" not in d.value.columns]
    assert len(tables) == 1 and len(at.main.dataframe) == 2
    return tables[0]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


@pytest.fixture
def page(data_home, models_dir):
    at = open_app(UPLOAD)
    assert at.file_uploader(key="upload_file").allowed_type == [".csv", ".tsv", ".txt", ".parquet"]
    return at


def test_fabricad_detected_mapping_preview_and_save(page, data_home):
    at = upload(page, FABRICAD, "fabricad_preview_plans.csv")
    assert not at.exception
    mapping = {s.key: s.value for s in at.selectbox}
    assert mapping == {
        "map_item_code": "ArtikelNr", "map_process_code": "Schritt", "map_seq": "Nr.",
        "map_duration": "Dauer[min]", "map_duration_unit": "min",
    }
    assert metrics(at) == {"Operations": "78", "Items": "25", "Processes": "8", "Attributes": "4"}
    preview = preview_of(at)
    assert list(preview.columns[:4]) == ["item_code", "process_code", "duration_min", "seq"]
    assert preview["item_code"].iloc[0] == "00000000"  # leading zeros kept
    assert any("78 rows × 8 columns" in t and "delimiter ';'" in t for t in texts(at.caption))
    assert texts(at.success) == ["No problems found in the file."]
    assert at.text_input(key="upload_name").value == "fabricad_preview_plans"

    at.button(key="upload_save").click().run()
    assert not at.exception
    assert texts(at.success)[-1] == "Saved as dataset **fabricad_preview_plans** (25 items, 78 operations)."
    record = DatasetStore(data_home).record("fabricad_preview_plans")
    assert record.rows == 78 and record.mapping["Nr."] == "seq"
    assert at.session_state["current_dataset"] == "fabricad_preview_plans"

    at.button(key="upload_save").click().run()  # the same content again is recognised
    assert texts(at.success)[-1] == (
        "This file with this mapping is already stored as dataset **fabricad_preview_plans**."
    )
    assert sorted(DatasetStore(data_home).names()) == ["fabricad_preview_plans", "sample"]


def test_removing_the_file_forgets_it(page):
    at = upload(page, FABRICAD)
    assert held("upload_raw") is not None
    at.file_uploader(key="upload_file").clear()
    at.run()
    assert not at.exception
    assert held("upload_raw") is None and not at.main.dataframe
    assert texts(at.main.info) == [
        "Drop a CSV, TSV, TXT or Parquet file above to see how it is read. Files up to 200 MB; "
        "the command line reads larger ones (`python -m routing_core stats FILE`)."
    ]


def test_changing_the_mapping_changes_the_table(page, data_home):
    at = upload(page, FABRICAD)
    first = preview_of(at)
    at.selectbox(key="map_seq").set_value("—").run()  # "Nr." becomes an attribute
    preview = preview_of(at)
    assert "Nr." in preview.columns
    assert metrics(at)["Attributes"] == "5"
    at.selectbox(key="map_duration_unit").set_value("h").run()
    hours = preview_of(at)
    assert hours["duration_min"].tolist() == pytest.approx((first["duration_min"] * 60).tolist())
    at.selectbox(key="map_process_code").set_value("Arbeitsplatz").run()
    assert "Schritt" in preview_of(at).columns
    assert int(metrics(at)["Processes"]) > 8  # work places are finer than steps

    at.text_input(key="upload_name").set_value("fab-by-workplace")
    at.button(key="upload_save").click().run()
    record = DatasetStore(data_home).record("fab-by-workplace")
    assert record.mapping == {"ArtikelNr": "item_code", "Arbeitsplatz": "process_code", "Dauer[min]": "duration_h"}
    assert any("Saved as dataset" in t for t in texts(at.success))
    # a mapping changed after saving is no longer what was saved: the banner goes
    at.selectbox(key="map_process_code").set_value("Schritt").run()
    assert not any("Saved as dataset" in t for t in texts(at.success))


def test_same_column_twice_and_missing_required_are_explained(page, data_home):
    at = upload(page, FABRICAD)
    at.selectbox(key="map_process_code").set_value("ArtikelNr").run()
    assert texts(at.error) == ["Column 'ArtikelNr' is chosen for both item_code and process_code; pick one."]
    at.selectbox(key="map_process_code").set_value("—").run()
    assert len(at.error) == 1 and "required column(s) process_code not found" in texts(at.error)[0]
    assert "Nothing was stored" in texts(at.main.caption)[-1]
    assert all(b.key != "upload_save" for b in at.button)
    assert DatasetStore(data_home).names() == ["sample"]


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("bad_negative_duration.csv", "negative duration"),
        ("bad_text_duration.csv", "must hold numbers"),
        ("bad_header_only.csv", "no data rows"),
        ("bad_random_bytes.bin", "not a text CSV file"),
    ],
)
def test_bad_files_show_one_error_and_store_nothing(page, data_home, file, expected):
    at = upload(page, TEST_DATA / file, file.replace(".bin", ".csv"))
    assert not at.exception
    assert len(at.error) == 1 and expected in texts(at.error)[0], texts(at.error)
    assert all(b.key != "upload_save" for b in at.button)
    assert DatasetStore(data_home).names() == ["sample"]


def test_warnings_in_plain_words_and_a_bad_name(page, data_home):
    at = upload(page, TEST_DATA / "latin1_semicolon.csv")
    assert not at.exception
    assert any("read as cp1252" in t for t in texts(at.caption)), texts(at.caption)
    at.text_input(key="upload_name").set_value("../etc")
    at.button(key="upload_save").click().run()
    assert "is not allowed" in texts(at.error)[0]
    assert DatasetStore(data_home).names() == ["sample"]


def test_user_text_is_escaped_not_markup(page):
    data = (
        b"item_code,process_code,[x](http://evil.example) <b>bold</b>\n"
        b"A,SAW,1\nA,MILL,1\nB,SAW,2\n"
    )
    at = page
    at.file_uploader(key="upload_file").upload("<img src=x>.csv", data, "text/csv")
    at.run()
    assert not at.exception
    raw = [c.value for c in at.caption]
    assert any(r"\[x\]\(http\:" in r for r in raw)  # escaped: no link
    assert not any("](http" in r or "<b>" in r or "<img src=x>" in r for r in raw)
    assert any("<img src=x>.csv" in t for t in texts(at.caption))  # the user still reads the name


def test_use_sample_data_button(page, data_home):
    at = page
    at.button(key="upload_use_sample").click().run()
    assert not at.exception
    assert texts(at.success) == ["Sample data is ready as dataset **sample**: 2,000 items, 11,226 operations."]
    assert DatasetStore(data_home).names() == ["sample"]
    assert at.session_state["current_dataset"] == "sample"


def routing_csv(process_header: str, extra: bool) -> bytes:
    """Items with their steps; the process column's name says nothing. `extra` adds a second text
    column that changes within items (a resource), so the contents alone do not decide."""
    processes = ["SAW", "TURN", "MILL", "DRILL", "DEBURR", "WASH", "INSPECT", "HEAT", "GRIND"]
    head = f"Teil,{process_header},Pos,Dauer [min]" + (",RSX" if extra else "")
    lines = [head]
    for i in range(30):
        for j in range(2 + i % 4):
            step = processes[(i + 2 * j) % len(processes)]
            resource = f",R{(7 * i + 3 * j) % 25}" if extra else ""
            lines.append(f"T{i:03d},{step},{j + 1},{1 + (i * j) % 7}.5{resource}")
    return ("\n".join(lines) + "\n").encode()


def test_meaningless_process_column_is_proposed_in_page_terms(page, data_home):
    at = page
    at.file_uploader(key="upload_file").upload("opx.csv", routing_csv("OPX", extra=True), "text/csv")
    at.run()
    assert not at.exception
    assert at.selectbox(key="map_item_code").value == "Teil"
    assert at.selectbox(key="map_process_code").value == "—"  # two columns could be it: not chosen unasked
    assert len(at.error) == 1, texts(at.error)
    assert texts(at.error)[0] == (
        "opx.csv: required column(s) process_code not found after mapping. "
        "No column was recognised as the process code. `OPX` looks like it: its text changes within "
        "items and comes from 9 values that recur across items — pick it under *Process code (required)*."
    )
    assert DatasetStore(data_home).names() == ["sample"]
    at.selectbox(key="map_process_code").set_value("OPX").run()
    assert not at.error and metrics(at)["Processes"] == "9"


def test_clear_proposal_is_chosen_and_said(page):
    at = page
    at.file_uploader(key="upload_file").upload("opx.csv", routing_csv("OPX", extra=False), "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="map_process_code").value == "OPX"
    assert texts(at.info) == [
        "No column was recognised as the process code by its name, so `OPX` is chosen from its contents: "
        "its text changes within items and comes from 9 values that recur across items. "
        "Check it under *Process code (required)*."
    ]
    assert metrics(at)["Operations"] == "103"
    # unmapped by hand: the page says what to pick, in its own words, with no command-line syntax
    at.selectbox(key="map_process_code").set_value("—").run()
    assert not at.info and len(at.error) == 1
    assert "`OPX` looks like it" in texts(at.error)[0] and "--map" not in texts(at.error)[0]


def test_optional_column_proposed_from_contents(page):
    at = page
    data = routing_csv("Arbeitsgang", extra=False).replace(b",Pos,", b",C9,", 1)
    at.file_uploader(key="upload_file").upload("seq.csv", data, "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="map_seq").value == "—"  # only required roles are chosen unasked
    assert texts(at.info) == [
        "No column was recognised as the sequence. `C9` looks like it: its whole numbers go up from "
        "step to step within every item — pick it under *Sequence*."
    ]
    at.selectbox(key="map_seq").set_value("C9").run()
    assert not at.info


EVENT_LOG = (
    "Case ID,Start Timestamp,Complete Timestamp,Activity,Part Desc.\n"
    "C1,2024/05/06 06:00:00,2024/05/06 06:10:00,SAW,Shaft\n"
    "C2,2024/05/06 06:05:00,2024/05/06 06:50:00,HOB,Gear\n"
    "C1,2024/05/06 06:12:00,2024/05/06 06:17:00,SAW,Shaft\n"
    "C1,2024/05/06 06:20:00,2024/05/06 06:50:00,LATHE,Shaft\n"
    "C2,2024/05/06 07:00:00,2024/05/06 07:06:00,INSPECT,Gear\n"
)


def test_event_log_is_said_read_as_routings_and_can_be_switched_off(page, tmp_path, data_home):
    path = tmp_path / "mes_log.csv"
    path.write_text(EVENT_LOG)
    at = upload(page, path)
    assert not at.exception
    assert at.selectbox(key="map_item_code").value == "Case ID"
    assert at.selectbox(key="map_process_code").value == "Activity"
    assert any("This file is an event log" in m.value for m in at.main.markdown)
    assert at.toggle(key="upload_event_log").value is True
    # C1: SAW (10 + 5 min, two reports), LATHE 30; C2: HOB 45, INSPECT 6
    assert metrics(at)["Operations"] == "4" and metrics(at)["Items"] == "2"
    preview = preview_of(at)
    assert preview["process_code"].tolist() == ["SAW", "LATHE", "HOB", "INSPECT"]
    assert preview["duration_min"].tolist() == [15.0, 30.0, 45.0, 6.0]
    assert "Start Timestamp" not in preview.columns
    assert texts(at.warning)[0].startswith("Read as an event log")

    at.toggle(key="upload_event_log").set_value(False).run()
    assert not at.exception
    assert metrics(at)["Operations"] == "5"  # row by row: every report a step
    at.toggle(key="upload_event_log").set_value(True).run()
    at.button(key="upload_save").click().run()
    assert not at.exception
    record = DatasetStore(data_home).record("mes_log")
    assert record.rows == 4 and record.mapping["Case ID"] == "item_code"


def test_a_reconnected_tab_reads_its_file_again_and_keeps_its_mapping(page):
    """The browser left and came back within Streamlit's reconnect window: the tables the session
    held were let go (ui.held), its widget values were not."""
    from ui import held as store

    at = upload(page, FABRICAD)
    assert at.selectbox(key="map_duration_unit").value == "min"
    at.selectbox(key="map_duration_unit").select("h").run()  # a choice of the analyst's own
    choice = "h"
    before = preview_of(at)
    store.release_held(APPTEST_SESSION)
    assert held("upload_raw") is None and held("upload_norm") is None
    at.run()
    assert not at.exception
    assert held("upload_raw") is not None and held("upload_raw")[1].frame.shape[0] == 78
    assert at.selectbox(key="map_duration_unit").value == choice
    pd.testing.assert_frame_equal(preview_of(at), before)
