"""The journey's accepting part (called from tests/e2e/test_journey.py): edit a candidate in the
browser's data editor (move a step, change a time, insert a step), accept it, find it on the
Accepted page, export it with the SAP example profile as CSV and Excel, and check the files cell
by cell against the routing store."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
from openpyxl import load_workbook
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from routing_core.accepted import AcceptedStore
from tests.e2e.conftest import Server, check_fits, shot, wait_idle

ROW = 35  # the data editor's header and row height (px)


def _cell(page: Page, grid: Locator, col: int, row: int) -> None:
    """Select a cell of the editor: a click in the first column of `row`, then arrows to `col`."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + ROW + ROW // 2 + ROW * row)
    page.wait_for_timeout(200)
    for _ in range(col):
        page.keyboard.press("ArrowRight")


EDITING = "() => !!(document.activeElement && document.activeElement.closest('#portal'))"


def _type(page: Page, text: str) -> bool:
    """Once the cell's editor (drawn in the page's #portal) has the focus: replace its text, Enter.
    False when no editor opened (the click landed while the grid was redrawn)."""
    try:
        page.wait_for_function(EDITING, timeout=5_000)
    except PlaywrightError:
        page.keyboard.press("Escape")
        return False
    page.keyboard.press("Control+a")
    page.keyboard.type(text, delay=40)
    page.keyboard.press("Enter")
    wait_idle(page)
    return True


def _shows(grid: Locator, col: int, row: int, text: str) -> bool:
    """Whether the grid's cell (its accessible copy; column 0 is the row marker) shows `text`."""
    cell = grid.locator(f'[id="glide-cell-{col + 1}-{row}"]')
    if cell.count() != 1:
        return False
    shown = (cell.text_content() or "").strip()
    if shown == text or shown.startswith(f"{text} ·"):  # a process is shown with its probability
        return True
    try:
        return float(shown.replace(",", "")) == float(text)
    except ValueError:
        return False


def put(page: Page, grid: Locator, col: int, row: int, text: str) -> None:
    """Type `text` into a cell as a user does: open its editor, replace, Enter (again if a click
    was lost to a redraw)."""
    for _ in range(3):
        _cell(page, grid, col, row)
        page.keyboard.press("Enter")
        if _type(page, text) and _shows(grid, col, row, text):
            return
    raise AssertionError(f"the editor's cell ({col}, {row}) does not show {text!r}")


def add_row(page: Page, grid: Locator, rows: int, seq: str) -> None:
    """Click the blank row under the last: a new row, its first cell open; type its sequence number."""
    for _ in range(3):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 60, box["y"] + ROW + ROW // 2 + ROW * rows)
        if _type(page, seq) and _shows(grid, 0, rows, seq):
            return
    raise AssertionError(f"no new row with seq {seq}")


def expected_rows(record) -> list[list]:
    """The SAP example profile's rows for an accepted routing, worked out from the stored record:
    MATNR, VORNR (10, 20 …), ARBPL, STEUS (PP01), LTXA1, VGW01 (minutes, 3 decimals), VGE01 (min)."""
    return [[record.item_code, 10 * n, s["attributes"].get("work_center"), "PP01", s["process_code"],
             None if s["duration_min"] is None else round(s["duration_min"], 3), "min"]
            for n, s in enumerate(record.steps, start=1)]


def same(cell: object, want: object) -> bool:
    if want is None:
        return cell in (None, "")
    if isinstance(want, float | int) and not isinstance(want, bool):
        return cell not in (None, "") and math.isclose(float(cell), float(want), rel_tol=1e-9, abs_tol=1e-9)
    return str(cell) == str(want)


def edit_accept_export(server: Server, page: Page, code: str, truth: list[str], codes: set[str],
                       go, shot_path) -> None:
    """On Predict with `code`'s candidates shown (the first its known routing `truth`)."""
    assert len(truth) >= 3, truth
    # a code to insert that no other code contains (typing it picks it alone in the list)
    new = next(c for c in sorted(codes - set(truth)) if not any(c in o for o in codes if o != c))
    section = page.locator('[class*="st-key-predict_known_edit"]').first
    grid = section.get_by_test_id("stDataFrameResizable")
    expect(grid).to_be_visible()
    n = len(truth)
    put(page, grid, 0, n - 1, "5")  # move the last step first
    put(page, grid, 2, 0, "99")  # the (then) first step's time: 99 min
    add_row(page, grid, n, "25")  # insert a step after the second
    put(page, grid, 1, n, new)
    moved = [truth[-1], truth[0], truth[1], new, *truth[2:-1]]
    expect(section).to_contain_text(" → ".join(moved))
    expect(section).to_contain_text("What changed against the candidate")
    expect(section).to_contain_text(f"step 4 {new}: inserted")
    page.set_viewport_size({"width": 1024, "height": 1400})
    try:
        wait_idle(page)
        page.mouse.move(1022, 1398)
        section.screenshot(path=str(shot_path("editor")), animations="disabled")
    finally:
        page.set_viewport_size({"width": 1024, "height": 700})
    section.get_by_role("button", name="Accept this routing").click()
    wait_idle(page)
    expect(section).to_contain_text(f"Accepted the routing of {code}")
    record = AcceptedStore(server.data_home).get(code)
    assert [s["process_code"] for s in record.steps] == moved
    assert record.steps[1]["duration_min"] == 99.0 and record.steps[3]["duration_min"] is None
    assert record.candidate_rank == 1 and record.outcome == "first changed"

    go(page, "Accepted")
    box = page.get_by_role("textbox", name="Search", exact=True)
    box.fill(code)
    box.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("1 routing(s) shown.")).to_be_visible()
    shot(page, "accepted")
    check_fits(page, "accepted")
    want = expected_rows(record)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "routings_sap-routing.csv"
    with open(download.value.path(), encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows[0] == ["MATNR", "VORNR", "ARBPL", "STEUS", "LTXA1", "VGW01", "VGE01"]
    assert len(rows) - 1 == len(want)
    for got, expected in zip(rows[1:], want, strict=True):
        assert all(same(g, w) for g, w in zip(got, expected, strict=True)), (got, expected)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download Excel").click()
    assert download.value.suggested_filename == "routings_sap-routing.xlsx"
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    assert cells[0] == rows[0] and len(cells) - 1 == len(want)
    for got, expected in zip(cells[1:], want, strict=True):
        assert all(same(g, w) for g, w in zip(got, expected, strict=True)), (got, expected)
    assert pd.notna(cells[1][1]) and isinstance(cells[1][1], int)  # operation numbers are numbers in Excel
