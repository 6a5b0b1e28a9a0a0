"""Editing, accepting and exporting a routing in a real browser, on a small version trained before
the browser opens (the journey does the same after its own trainings; this runs it alone)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from routing_core.datasets import DatasetStore, load_dataset
from routing_core.registry import Registry
from routing_core.sample import SampleConfig, sample_csv_bytes
from routing_core.training import TrainRequest, run_training
from tests.e2e.accepting import edit_accept_export
from tests.e2e.conftest import Server, wait_idle
from tests.e2e.test_journey import choose, go, selectbox, shot_path


def test_edit_accept_export(server: Server, page: Page):
    DatasetStore(server.data_home).save(
        "small", load_dataset(sample_csv_bytes(SampleConfig(n_items=300)), name="small.csv"))
    run_training(TrainRequest("small", version="v-small"), server.models_dir, server.data_home)
    Registry(server.models_dir).activate("v-small")
    ops = DatasetStore(server.data_home).load("small").ops
    routings = ops.groupby("item_code", sort=False)["process_code"].agg(list)
    code = next(c for c in routings.index if len(routings[c]) >= 4)
    page.goto(server.url)
    wait_idle(page)
    go(page, "Predict")
    expect(selectbox(page, "Model version")).to_have_value("v-small (active)")
    choose(page, "Known item", code, typed=code)
    expect(page.locator(".st-key-predict_known_card_1")).to_contain_text("known")
    edit_accept_export(server, page, code, routings[code], set(ops["process_code"]), go, shot_path)
    assert not page.page_errors, page.page_errors
