"""ManifestLoader and ModelCache on real version folders written by the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from routing_core.model import RoutingModel
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, generate
from routing_core.versions.manifest import (
    MANIFEST_FILE,
    MANIFESTS,
    MODEL_FILE,
    MODELS,
    SCHEMA,
    ManifestLoader,
    ModelCache,
    clear_all,
)
from routing_core.versions.registry import Registry
from tests.conftest import ADMIN, ROOT


@pytest.fixture(scope="module")
def models():
    """Two small real models that predict differently."""
    a = RoutingModel().fit(generate(SampleConfig(n_items=120, seed=1)))
    b = RoutingModel(top_k=3).fit(generate(SampleConfig(n_items=150, seed=2)))
    return a, b


def _publish(registry: Registry, name: str, model, note: str = "") -> None:
    registry.publish(name, model, {"note": note}, {"name": "ds", "sha256": "0" * 64, "rows": 1, "items": 1},
                     {"top_k": 5}, {"dataset": "ds"}, user=ADMIN)


def _rewrite_manifest(folder, **changes) -> dict:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    return data


def test_loader_caches_and_refreshes_on_rewrite(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    loader = ManifestLoader()
    first = loader.get(tmp_path / "v1")
    assert first["schema"] == SCHEMA and first["version"] == "v1"
    assert loader.get(tmp_path / "v1") == first
    assert (loader.hits, loader.misses) == (1, 1)

    _rewrite_manifest(tmp_path / "v1", params={"top_k": 9})
    assert loader.get(tmp_path / "v1")["params"] == {"top_k": 9}
    assert loader.misses == 2

    # an in-place rewrite of the same size is seen through the mtime
    path = tmp_path / "v1" / MANIFEST_FILE
    text = path.read_text().replace('"top_k": 9', '"top_k": 7')
    st = path.stat()
    with open(path, "r+") as fh:
        fh.write(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert loader.get(tmp_path / "v1")["params"] == {"top_k": 7}


def test_loader_returns_copies(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    loader = ManifestLoader()
    loader.get(tmp_path / "v1")["params"]["top_k"] = 99
    assert loader.get(tmp_path / "v1")["params"] == {"top_k": 5}


def test_loader_refuses_broken_manifests(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    loader = ManifestLoader()
    loader.get(tmp_path / "v1")
    path = tmp_path / "v1" / MANIFEST_FILE
    path.write_text("{ not json")
    with pytest.raises(UserError, match="not valid JSON"):
        loader.get(tmp_path / "v1")
    path.write_text(json.dumps({"schema": "other@9", "artifacts": {}}))
    with pytest.raises(UserError, match="schema"):
        loader.get(tmp_path / "v1")
    path.unlink()
    with pytest.raises(UserError, match="no manifest.json"):
        loader.get(tmp_path / "v1")
    assert loader.stats()["size"] == 0


def test_invalidate_one_and_all_and_stats(tmp_path, models):
    reg = Registry(tmp_path)
    for name in ("a", "b", "c"):
        _publish(reg, name, models[0])
    loader = ManifestLoader()
    before = time.time()
    for name in ("a", "b", "c", "a"):
        loader.get(tmp_path / name)
    stats = loader.stats()
    elapsed = time.time() - before
    assert stats["size"] == 3 and stats["hits"] == 1 and stats["misses"] == 3
    entry = next(e for e in stats["entries"] if e["version"] == "a")
    assert entry["hits"] == 1 and entry["loaded_at"].endswith("+00:00")
    # loaded within the calls above: its age is at most their time (rounded to the ms), and the
    # time shown is that moment to the second
    assert 0 <= entry["age_sec"] <= round(elapsed, 3) + 0.001, (entry["age_sec"], elapsed)
    shown = datetime.fromisoformat(entry["loaded_at"]).timestamp()
    assert int(before) <= shown <= before + elapsed, (entry["loaded_at"], before)
    assert entry["path"] == str(tmp_path / "a" / MANIFEST_FILE)
    assert loader.invalidate(tmp_path / "b") == 1
    assert {e["version"] for e in loader.stats()["entries"]} == {"a", "c"}
    assert loader.invalidate(tmp_path / "b") == 0
    assert loader.invalidate() == 2
    assert loader.stats()["size"] == 0
    loader.get(tmp_path / "a")
    assert loader.misses == 4


def test_loader_under_threads_sees_every_rewrite(tmp_path, models):
    reg = Registry(tmp_path)
    names = ("a", "b", "c")
    for name in names:
        _publish(reg, name, models[0])
    loader = ManifestLoader()
    errors: list[BaseException] = []
    calls = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def reader() -> None:
        n = 0
        try:
            while not stop.is_set():
                for name in names:
                    m = loader.get(tmp_path / name)
                    assert m["version"] == name
                    n += 1
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)
        with lock:
            calls[0] += n

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for round_ in range(30):
        name = names[round_ % 3]
        _rewrite_manifest(tmp_path / name, params={"round": round_})
        # after a rewrite every reader sees the new content, invalidated or not
        assert loader.get(tmp_path / name)["params"] == {"round": round_}
        if round_ % 10 == 5:
            loader.invalidate(tmp_path / name)
        if round_ % 10 == 9:
            loader.invalidate()
    stop.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a reader did not stop within 60 s of being told to"
    assert not errors, errors[0]
    stats = loader.stats()
    assert stats["hits"] + stats["misses"] == calls[0] + 30
    assert stats["misses"] >= 30  # each rewrite was re-read at least once
    final = {name: loader.get(tmp_path / name)["params"] for name in names}
    assert final == {"a": {"round": 27}, "b": {"round": 28}, "c": {"round": 29}}


def test_model_cache_hits_and_never_serves_a_changed_version(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    cache = ModelCache(ManifestLoader())
    m1 = cache.get(tmp_path / "v1")
    assert isinstance(m1, RoutingModel) and m1.top_k == 5
    assert cache.get(tmp_path / "v1") is m1
    assert cache.stats()["hits"] == 1 and cache.stats()["size"] == 1

    reg.delete("v1", user=ADMIN)
    _publish(reg, "v1", models[1])  # same name, other model: a new manifest sha256
    m2 = cache.get(tmp_path / "v1")
    assert m2 is not m1 and m2.top_k == 3
    assert cache.stats()["size"] == 1  # the stale entry of the folder was dropped


def test_model_cache_rechecks_a_tampered_model_file(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    cache = ModelCache(ManifestLoader())
    cache.get(tmp_path / "v1")
    with open(tmp_path / "v1" / MODEL_FILE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(UserError, match="1 byte\\(s\\) longer"):
        cache.get(tmp_path / "v1")


def test_model_cache_sees_a_version_republished_by_another_process(tmp_path, models):
    """Two app processes share one models folder: no invalidation message, only the files."""
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0], note="first")
    cache = ModelCache(ManifestLoader())
    assert cache.get(tmp_path / "v1").top_k == 5
    script = (
        "from routing_core.users.access import local_user\n"
        "from routing_core.versions.registry import Registry\n"
        "from routing_core.model import RoutingModel\n"
        "from routing_core.synthetic.sample import generate, SampleConfig\n"
        f"r = Registry({str(tmp_path)!r}); r.delete('v1', user=local_user())\n"
        "m = RoutingModel(top_k=2).fit(generate(SampleConfig(n_items=80, seed=3)))\n"
        "r.publish('v1', m, {}, {'name': 'x'}, {}, {}, user=local_user())\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120)
    assert cache.get(tmp_path / "v1").top_k == 2


def test_clear_all_reports_what_was_cleared(tmp_path, models):
    reg = Registry(tmp_path)
    _publish(reg, "v1", models[0])
    _publish(reg, "v2", models[1])
    clear_all(user=ADMIN)
    reg.load_model("v1")
    reg.load_model("v2")
    MANIFESTS.get(tmp_path / "v1")
    assert MODELS.stats()["size"] == 2
    assert clear_all(user=ADMIN) == {"manifests": 2, "models": 2}
    assert MANIFESTS.stats()["size"] == 0 and MODELS.stats()["size"] == 0
    assert clear_all(user=ADMIN) == {"manifests": 0, "models": 0}
