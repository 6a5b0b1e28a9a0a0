"""Cache page: what the manifest and model caches hold, one button that clears both, per-version invalidate."""

from __future__ import annotations

from routing_core.versions import manifest
from routing_core.versions.registry import Registry
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN

CACHE = "pages/6_Cache.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


def test_clear_the_cache_after_a_prediction(trained, models_dir):
    registry = Registry(models_dir)
    registry.load_model(trained[0])  # a prediction loaded this model
    at = open_app(CACHE)
    assert not at.exception
    shown = metrics(at)
    assert int(shown["Models loaded"]) >= 1 and int(shown["Manifests cached"]) >= 2
    loaded = at.main.dataframe[1].value
    assert str(models_dir / trained[0]) in loaded["path"].tolist()
    assert trained[0] in loaded["version"].tolist()

    at.button(key="cache_clear").click().run()
    assert not at.exception
    assert len(at.toast) == 1
    assert texts(at.toast)[0].startswith("Cache cleared: ")
    assert metrics(at)["Manifests cached"] == "0" and metrics(at)["Models loaded"] == "0"
    assert manifest.MODELS.stats()["size"] == 0
    assert "No manifest is cached." in texts(at.main.caption)

    # a cleared cache reloads on demand, hash-checked as before
    assert registry.load_model(trained[0]).n_items_ > 0
    at.run()
    assert metrics(at)["Models loaded"] == "1"


def test_invalidate_one_version(trained, models_dir):
    registry = Registry(models_dir)
    for name in trained:
        registry.load_model(name)
    registry.activate(trained[0], user=ADMIN)  # the sidebar reads its manifest on every run
    at = open_app(CACHE)
    at.selectbox(key="cache_version").set_value(trained[0])
    at.button(key="cache_invalidate").click().run()
    assert not at.exception
    assert texts(at.toast) == [f"{trained[0]}: 2 cache entries dropped."]
    loaded = at.main.dataframe[1].value
    assert str(models_dir / trained[0]) not in loaded["path"].tolist()
    assert str(models_dir / trained[1]) in loaded["path"].tolist()
    # what happened stays on the page: what was dropped, and that the manifest was read again at once
    assert texts(at.main.success) == [f"Invalidated **{trained[0]}**: 2 entries dropped (manifest, model)."]
    said = texts(at.main.caption)
    assert any(t.startswith("Its manifest was read again from disk at once") for t in said), said
    assert any(t.startswith("Its model is no longer in memory") for t in said), said
