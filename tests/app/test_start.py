"""Start page: what the tool does, the five steps, and a fresh start that trains the sample."""

from __future__ import annotations

import pytest

from routing_core.versions.registry import Registry
from tests.app.conftest import links, open_app, run_until, texts
from ui import first_start


def test_start_page_explains_and_links_the_five_steps(small_sample, models_dir):
    at = open_app()
    assert at.title.values == ["Routing Studio"]
    assert "proposes routings for new items" in texts(at.markdown)[0]
    steps = [label for label, _ in links(at.main.page_link)][:5]
    assert steps == ["1. Upload", "2. Dataset", "3. Train", "4. Models", "5. Predict"]
    shown = {m.label: m.value for m in at.main.metric}
    assert shown == {"Datasets": "1", "Model versions": "0", "Training now": "0"}
    assert any("No active model version yet" in t for t in texts(at.main.info))
    assert not (models_dir / first_start.MARKER).exists()  # switched off in tests by default


@pytest.mark.slow
def test_a_fresh_start_trains_the_sample_and_makes_it_active(small_sample, models_dir, monkeypatch):
    monkeypatch.setenv(first_start.ENV, "1")
    at = open_app()
    assert not at.exception
    registry = Registry(models_dir)

    def done(at) -> bool:
        return registry.active() is not None and any("Active version" in t for t in texts(at.main.success))

    run_until(at, done, timeout=120, every=0.5)
    active = registry.active()
    assert registry.get(active).dataset["name"] == "sample"
    assert texts(at.sidebar.markdown) == [f"**{active}**"]
    assert {m.label: m.value for m in at.main.metric}["Model versions"] == "1"
