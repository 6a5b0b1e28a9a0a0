"""The model registry on a real folder, with real models and real (malicious) pickles."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import threading
import zipfile

import pytest

from routing_core.model import RoutingModel
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, generate
from routing_core.versions.manifest import (
    MANIFEST_FILE,
    METRICS_FILE,
    MODEL_FILE,
    REQUEST_FILE,
    SCHEMA,
)
from routing_core.versions.registry import ACTIVE_FILE, Registry, models_dir
from tests.conftest import ADMIN

DATASET = {"name": "sample", "sha256": "ab" * 32, "rows": 600, "items": 120}


@pytest.fixture(scope="module")
def model():
    return RoutingModel().fit(generate(SampleConfig(n_items=120)))


def _publish(reg: Registry, name: str, model, **metrics):
    return reg.publish(name, model, {"routing_accuracy": 0.5, **metrics}, DATASET,
                       model.get_params(), {"dataset": "sample", "version": name}, user=ADMIN)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root) -> dict:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


class Boom:
    """Pickling fails: a training that dies while writing its model."""

    def __reduce__(self):
        raise RuntimeError("disk full")


class Planted:
    """Unpickling runs code: creates a folder to prove it ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_models_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("ROUTING_MODELS_DIR", raising=False)
    assert models_dir() == models_dir(None) and str(models_dir()) == "models"
    monkeypatch.setenv("ROUTING_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env"
    assert models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert Registry().root == tmp_path / "env"


def test_publish_writes_a_manifest_whose_hashes_match(tmp_path, model):
    reg = Registry(tmp_path)
    info = _publish(reg, "v1", model)
    folder = tmp_path / "v1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MODEL_FILE, MANIFEST_FILE, METRICS_FILE, REQUEST_FILE]
    )
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["schema"] == SCHEMA == "routing-studio/manifest@1"
    assert manifest["version"] == "v1"
    assert manifest["created_at"].endswith("+00:00")
    assert {k: manifest["dataset"][k] for k in DATASET} == DATASET
    assert manifest["params"]["top_k"] == 5
    assert set(manifest["runtime"]) >= {"python", "scikit-learn", "pandas", "numpy"}
    assert set(manifest["artifacts"]) == {MODEL_FILE, METRICS_FILE, REQUEST_FILE}
    for name, entry in manifest["artifacts"].items():
        assert entry["sha256"] == _sha(folder / name)
        assert entry["bytes"] == (folder / name).stat().st_size
    assert info.name == "v1" and info.broken is None and info.metrics["routing_accuracy"] == 0.5
    assert info.dataset["items"] == 120 and not info.active
    assert json.loads((folder / REQUEST_FILE).read_text())["version"] == "v1"
    assert reg.stale_entries() == []
    loaded = reg.load_model("v1")
    assert isinstance(loaded, RoutingModel) and loaded.n_items_ == model.n_items_


def test_list_is_newest_first_and_get_refuses_unknown(tmp_path, model):
    reg = Registry(tmp_path)
    for name, when in (("mid", "2026-01-02"), ("new", "2026-01-03"), ("old", "2026-01-01")):
        _publish(reg, name, model)
        path = tmp_path / name / MANIFEST_FILE
        manifest = json.loads(path.read_text())
        manifest["created_at"] = f"{when}T00:00:00+00:00"  # the manifest is not an artifact
        path.write_text(json.dumps(manifest))
    assert [i.name for i in reg.list()] == ["new", "mid", "old"]
    assert all(i.broken is None for i in reg.list())
    with pytest.raises(UserError, match="No model version named 'nope'"):
        reg.get("nope")
    with pytest.raises(UserError, match="No model version"):
        reg.load_model("nope")
    assert Registry(tmp_path / "absent").list() == []


def test_taken_label_is_refused_and_nothing_overwritten(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "v1", model)
    before = {p.name: _sha(p) for p in (tmp_path / "v1").iterdir()}
    other = RoutingModel(top_k=2).fit(generate(SampleConfig(n_items=60, seed=3)))
    with pytest.raises(UserError, match="already exists"):
        _publish(reg, "v1", other)
    assert {p.name: _sha(p) for p in (tmp_path / "v1").iterdir()} == before
    assert reg.stale_entries() == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".hidden", "", "a\0b", "x" * 65, "con"])
def test_unsafe_labels_are_refused_and_nothing_written(tmp_path, model, name):
    root = tmp_path / "models"
    root.mkdir()
    before = _tree(tmp_path)
    reg = Registry(root)
    with pytest.raises(UserError, match="^The version name"):
        _publish(reg, name, model)
    for call in (reg.get, lambda n: reg.activate(n, user=ADMIN), lambda n: reg.delete(n, user=ADMIN),
                 reg.zip_bytes, reg.load_model):
        with pytest.raises(UserError, match="^The version name"):
            call(name)
    assert _tree(tmp_path) == before


def test_two_publishers_of_one_name_one_wins(tmp_path, model):
    reg = Registry(tmp_path)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def publish(i: int) -> None:
        barrier.wait()
        try:
            _publish(Registry(tmp_path), "race", model, run=i)
            outcomes.append("ok")
        except UserError:
            outcomes.append("refused")

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert reg.get("race").broken is None
    assert reg.stale_entries() == []


def test_a_failed_publish_leaves_nothing(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "good", model)
    with pytest.raises(RuntimeError, match="disk full"):
        reg.publish("bad", Boom(), {}, DATASET, {}, {}, user=ADMIN)
    assert [i.name for i in reg.list()] == ["good"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good"]


def test_activate_delete_and_active_file(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "a", model)
    _publish(reg, "b", model)
    assert reg.active() is None
    with pytest.raises(UserError, match="No model version is active"):
        reg.load_model()
    reg.activate("a", user=ADMIN)
    assert (tmp_path / ACTIVE_FILE).read_text().strip() == "a"
    assert reg.active() == "a" and reg.get("a").active and not reg.get("b").active
    assert isinstance(reg.load_model(), RoutingModel)
    reg.delete("b", user=ADMIN)  # not the active one: ACTIVE stays
    assert reg.active() == "a" and not (tmp_path / "b").exists()
    reg.delete("a", user=ADMIN)
    assert reg.active() is None and not (tmp_path / ACTIVE_FILE).exists()
    assert reg.list() == [] and sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="No model version named 'a'"):
        reg.delete("a", user=ADMIN)


def test_active_naming_a_missing_version_reads_as_none(tmp_path, model):
    reg = Registry(tmp_path)
    (tmp_path / ACTIVE_FILE).write_text("gone\n")
    assert reg.active() is None
    (tmp_path / ACTIVE_FILE).write_text("../etc\n")
    assert reg.active() is None


def test_broken_versions_are_listed_while_the_others_work(tmp_path, model):
    reg = Registry(tmp_path)
    for name in ("good", "nomanifest", "badjson", "nomodel", "truncated"):
        _publish(reg, name, model)
    (tmp_path / "nomanifest" / MANIFEST_FILE).unlink()
    (tmp_path / "badjson" / MANIFEST_FILE).write_text('{"schema": ')
    (tmp_path / "nomodel" / MODEL_FILE).unlink()
    data = (tmp_path / "truncated" / MODEL_FILE).read_bytes()
    (tmp_path / "truncated" / MODEL_FILE).write_bytes(data[: len(data) // 2])
    (tmp_path / "emptydir").mkdir()

    infos = {i.name: i for i in reg.list()}
    assert set(infos) == {"good", "nomanifest", "badjson", "nomodel", "truncated", "emptydir"}
    assert infos["good"].broken is None
    assert "no manifest.json" in infos["nomanifest"].broken
    assert "not valid JSON" in infos["badjson"].broken
    assert "model.joblib is missing" in infos["nomodel"].broken
    assert "changed or truncated" in infos["truncated"].broken
    assert "no manifest.json" in infos["emptydir"].broken
    reasons = {"nomanifest": "no manifest.json", "badjson": "not valid JSON", "nomodel": "model.joblib is missing",
               "truncated": "changed or truncated", "emptydir": "no manifest.json"}
    for name, reason in reasons.items():
        with pytest.raises(UserError, match=reason):  # loading says what the list says
            reg.load_model(name)
        with pytest.raises(UserError, match="Cannot activate"):
            reg.activate(name, user=ADMIN)
    assert isinstance(reg.load_model("good"), RoutingModel)
    reg.delete("badjson", user=ADMIN)  # a broken version can still be removed
    assert "badjson" not in {i.name for i in reg.list()}


def test_tampered_artifacts_are_refused_before_unpickling(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "appended", model)
    _publish(reg, "flipped", model)
    _publish(reg, "planted", model)
    _publish(reg, "metrics", model)

    with open(tmp_path / "appended" / MODEL_FILE, "ab") as fh:
        fh.write(b"x")
    with pytest.raises(UserError, match=r"model.joblib is 1 byte\(s\) longer"):
        reg.load_model("appended")

    path = tmp_path / "flipped" / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match the sha256"):
        reg.load_model("flipped")

    # A pickle that runs code when loaded, padded to the recorded size: only the hash stops it.
    marker = tmp_path / "pwned"
    entry = reg.manifest("planted")["artifacts"][MODEL_FILE]
    payload = pickle.dumps(Planted(str(marker)))
    payload += b"\0" * (entry["bytes"] - len(payload))
    (tmp_path / "planted" / MODEL_FILE).write_bytes(payload)
    with pytest.raises(UserError, match="does not match the sha256"):
        reg.load_model("planted")
    with pytest.raises(UserError, match="Cannot activate"):
        reg.activate("planted", user=ADMIN)
    assert not marker.exists()

    (tmp_path / "metrics" / METRICS_FILE).write_text('{"routing_accuracy": 1.0}'.ljust(
        (tmp_path / "metrics" / METRICS_FILE).stat().st_size))
    with pytest.raises(UserError, match="metrics.json does not match"):
        reg.load_model("metrics")


def test_stale_temp_folders_are_ignored_and_cleaned(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "v1", model)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        dead_pid = int(dead.stdout)
        (tmp_path / f".tmp-v2.{dead_pid}.abc123").mkdir()
        (tmp_path / f".tmp-v2.{dead_pid}.abc123" / MODEL_FILE).write_bytes(b"half")
        (tmp_path / f".tmp-v3.{sleeper.pid}.def456").mkdir()  # a publish still under way
        (tmp_path / ".deleted-v0.xyz").mkdir()
        assert [i.name for i in reg.list()] == ["v1"]
        assert reg.cleanup() == 2
        assert reg.stale_entries() == [f".tmp-v3.{sleeper.pid}.def456"]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert reg.cleanup() == 1
    assert reg.stale_entries() == []


def test_zip_bytes_holds_the_version_folder(tmp_path, model):
    reg = Registry(tmp_path)
    _publish(reg, "v1", model)
    with zipfile.ZipFile(io.BytesIO(reg.zip_bytes("v1"))) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"v1/{n}" for n in (MODEL_FILE, MANIFEST_FILE, METRICS_FILE, REQUEST_FILE))
        for n in names:
            assert zf.read(n) == (tmp_path / n).read_bytes()


def test_a_version_saved_in_another_model_format_is_broken_not_unpickled(tmp_path):
    """A version in a format this code does not read (here a newer one) is listed as broken and
    refused before unpickling."""
    import json

    from routing_core.model import MODEL_FORMAT, MODEL_FORMATS_READ, RoutingModel
    from routing_core.synthetic.sample import SampleConfig, generate
    from routing_core.versions.manifest import MANIFEST_FILE, MODELS

    registry = Registry(tmp_path / "models")
    model = RoutingModel().fit(generate(SampleConfig(n_items=120, seed=3)))
    for name in ("current", "other"):
        registry.publish(name, model, {"routing_accuracy": 1.0}, dataset_info={"name": "s"}, params={},
                         training_request={}, user=ADMIN)
    path = registry.root / "other" / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    assert manifest["runtime"]["model_format"] == MODEL_FORMAT
    assert MODEL_FORMAT in MODEL_FORMATS_READ
    manifest["runtime"]["model_format"] = max(MODEL_FORMATS_READ) + 1
    path.write_text(json.dumps(manifest))
    MODELS.clear()
    listed = {v.name: v for v in registry.list()}
    assert listed["current"].broken is None
    assert "model format" in listed["other"].broken and "Train it again" in listed["other"].broken
    with pytest.raises(UserError, match="model format"):
        registry.load_model("other")
    assert isinstance(registry.load_model("current"), RoutingModel)


# ---------------------------------------------------------------- roles and the activity log


def test_a_viewer_or_analyst_cannot_activate_or_delete_and_nothing_changes(tmp_path, model):
    from routing_core.users.access import Forbidden, User
    from routing_core.users.activity import ActivityLog

    log = ActivityLog(tmp_path / "data")
    reg = Registry(tmp_path / "models", activity=log)
    _publish(reg, "a", model)
    _publish(reg, "b", model)
    reg.activate("a", user=User("boss@plant.example", "admin"))
    before = (sorted(p.name for p in reg.root.iterdir()), reg.active(), log.path.read_bytes())
    for user in (User("vera@plant.example", "viewer"), User("ana@plant.example", "analyst")):
        with pytest.raises(Forbidden, match="admin role"):
            reg.activate("b", user=user)
        with pytest.raises(Forbidden, match="may not delete model versions"):
            reg.delete("a", user=user)
    assert (sorted(p.name for p in reg.root.iterdir()), reg.active(), log.path.read_bytes()) == before
    reg.delete("a", user=ADMIN)  # the local user, named: an admin
    entries = log.entries()
    me = __import__("getpass").getuser()
    assert [(e["action"], e["object"], e["user"]) for e in entries] == [
        ("delete_version", "a", me),
        ("activate_version", "a", "boss@plant.example"),
        ("publish_version", "b", me),
        ("publish_version", "a", me),
    ]
    assert entries[0]["details"] == {"was_active": True}


def test_clearing_caches_needs_an_admin_and_is_recorded(tmp_path):
    from routing_core.users.access import Forbidden, User
    from routing_core.users.activity import ActivityLog
    from routing_core.versions.manifest import clear_all

    log = ActivityLog(tmp_path)
    with pytest.raises(Forbidden, match="clear the caches"):
        clear_all(user=User("ana@plant.example", "analyst"), activity=log)
    assert log.entries() == []
    clear_all(user=User("boss@plant.example", "admin"), activity=log)
    assert [(e["action"], e["user"]) for e in log.entries()] == [("clear_cache", "boss@plant.example")]


def test_forgetting_one_version_needs_an_admin_and_is_recorded(tmp_path, model):
    from routing_core.users.access import Forbidden, User
    from routing_core.users.activity import ActivityLog
    from routing_core.versions.manifest import MANIFESTS, clear_version

    reg = Registry(tmp_path / "models")
    _publish(reg, "a", model)
    reg.load_model("a")  # cached now
    log = ActivityLog(tmp_path)
    with pytest.raises(Forbidden, match="clear the caches"):
        clear_version(reg.root / "a", user=User("ana@plant.example", "analyst"), activity=log)
    assert log.entries() == [] and any(str(reg.root / "a") in str(e) for e in MANIFESTS.stats()["entries"])
    assert clear_version(reg.root / "a", user=User("boss@plant.example", "admin"), activity=log) >= 1
    assert [(e["action"], e["object"], e["user"]) for e in log.entries()] == [
        ("clear_cache", "a", "boss@plant.example")]


# ---------------------------------------------------------------- shared folders


def test_versions_and_active_follow_the_umask_for_the_group(tmp_path, model):
    old = os.umask(0o002)
    try:
        reg = Registry(tmp_path)
        _publish(reg, "g", model)
        reg.activate("g", user=ADMIN)
    finally:
        os.umask(old)
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o775
    for file in (tmp_path / "g").iterdir():
        assert file.stat().st_mode & 0o777 == 0o664, file
    assert (tmp_path / ACTIVE_FILE).stat().st_mode & 0o777 == 0o664
    old = os.umask(0o077)  # an owner-only umask is respected too
    try:
        _publish(reg, "private", model)
    finally:
        os.umask(old)
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o700


# ---------------------------------------------------------------- signed versions


def test_signed_versions_load_and_others_are_refused(tmp_path, model, monkeypatch):
    from routing_core.versions.manifest import MODELS
    from routing_core.versions.signing import SIGNATURE_FILE

    reg = Registry(tmp_path)
    _publish(reg, "unsigned", model)
    assert not (tmp_path / "unsigned" / SIGNATURE_FILE).exists()
    monkeypatch.setenv("ROUTING_SIGNING_KEY", "first key, long and random")
    _publish(reg, "signed", model)
    assert (tmp_path / "signed" / SIGNATURE_FILE).exists()
    assert isinstance(reg.load_model("signed"), RoutingModel)
    reg.activate("signed", user=ADMIN)
    with pytest.raises(UserError, match="is not signed"):
        reg.load_model("unsigned")
    assert "is not signed" in reg.get("unsigned").broken
    with pytest.raises(UserError, match="not signed"):
        reg.activate("unsigned", user=ADMIN)

    monkeypatch.setenv("ROUTING_SIGNING_KEY", "another key")
    with pytest.raises(UserError, match="signed with another key"):
        MODELS.get(tmp_path / "signed")  # the model loaded above, cached: checked again all the same
    with pytest.raises(UserError, match="signed with another key"):
        reg.load_model("signed")

    monkeypatch.delenv("ROUTING_SIGNING_KEY")
    key_file = tmp_path.parent / f"{tmp_path.name}-key"
    key_file.write_text("first key, long and random\n")
    monkeypatch.setenv("ROUTING_SIGNING_KEY_FILE", str(key_file))
    assert isinstance(reg.load_model("signed"), RoutingModel)
    key_file.write_text("")
    with pytest.raises(UserError, match="is empty"):
        reg.load_model("signed")
    monkeypatch.delenv("ROUTING_SIGNING_KEY_FILE")
    assert reg.get("unsigned").ok  # without a key, as before


def test_a_signing_key_from_secrets_reaches_publishing(tmp_path, model, monkeypatch):
    from routing_core.versions import signing

    monkeypatch.delenv("ROUTING_SIGNING_KEY", raising=False)
    signing.configure("from st.secrets")
    try:
        reg = Registry(tmp_path)
        _publish(reg, "s", model)
        assert reg.load_model("s") is not None
        (tmp_path / "s" / signing.SIGNATURE_FILE).write_text('{"signature": "00"}')
        with pytest.raises(UserError, match="signature does not match"):
            reg.load_model("s")
        with pytest.raises(UserError, match="empty"):
            signing.configure("  ")
    finally:
        signing.configure(None)
    assert reg.get("s").ok
