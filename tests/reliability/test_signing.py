"""Signed versions: someone who can write the models folder replaces a version's model with a
pickle that runs code when loaded and rewrites the manifest's hashes to match. Without a signing
key the studio trusts that manifest and runs the code (shown here with a harmless pickle that
creates a file); with a key the version is refused before anything is unpickled — by the
registry, the model cache, activation and the command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from routing_core.model import RoutingModel
from routing_core.platform.errors import UserError
from routing_core.synthetic.sample import SampleConfig, generate
from routing_core.versions.manifest import MANIFEST_FILE, MODEL_FILE, MODELS
from routing_core.versions.registry import Registry
from routing_core.versions.signing import SIGNATURE_FILE
from tests.conftest import ADMIN, ROOT

KEY = "a signing key kept outside the models folder"
DATASET = {"name": "sample", "sha256": "ab" * 32, "rows": 600, "items": 120}


class _Planted:
    """Unpickling this opens (creates) the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tamper(folder: Path, marker: Path) -> None:
    """Replace the model with the planted pickle and rewrite the manifest's hashes to match it."""
    payload = pickle.dumps(_Planted(marker))
    (folder / MODEL_FILE).write_bytes(payload)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["artifacts"][MODEL_FILE] = {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


@pytest.fixture
def signed(tmp_path, monkeypatch):
    """A models folder with two versions published under the key: 'good' and 'tampered'."""
    monkeypatch.setenv("ROUTING_SIGNING_KEY", KEY)
    models = tmp_path / "models"
    registry = Registry(models)
    model = RoutingModel().fit(generate(SampleConfig(n_items=120)))
    for name in ("good", "tampered"):
        registry.publish(name, model, {"routing_accuracy": 0.5}, DATASET, model.get_params(),
                         {"dataset": "sample", "version": name}, user=ADMIN)
        assert (models / name / SIGNATURE_FILE).exists()
    registry.activate("good", user=ADMIN)
    MODELS.clear()
    return models


def test_a_tampered_version_is_refused_before_anything_is_unpickled(signed, tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    _tamper(signed / "tampered", marker)
    registry = Registry(signed)

    for attempt in (lambda: registry.load_model("tampered"), lambda: MODELS.get(signed / "tampered"),
                    lambda: registry.activate("tampered", user=ADMIN), lambda: registry.verify("tampered")):
        with pytest.raises(UserError, match="signature does not match"):
            attempt()
        assert not marker.exists()
    info = registry.get("tampered")
    assert "signature does not match" in info.broken and not marker.exists()
    assert registry.active() == "good" and isinstance(registry.load_model(), RoutingModel)

    # A forged signature file does not help without the key.
    (signed / "tampered" / SIGNATURE_FILE).write_text(json.dumps({"signature": "0" * 64, "key_id": "x"}))
    with pytest.raises(UserError, match="signature does not match"):
        registry.load_model("tampered")
    # Nor does removing it: an unsigned version is refused.
    (signed / "tampered" / SIGNATURE_FILE).unlink()
    with pytest.raises(UserError, match="is not signed"):
        registry.load_model("tampered")
    assert not marker.exists()

    # The command line refuses it too, in a fresh process, with one line.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    items = tmp_path / "items.csv"
    items.write_text("item_code\nA1\n")
    proc = subprocess.run([sys.executable, "-m", "routing_core", "--models-dir", str(signed), "predict",
                           str(items), "--version", "tampered", "--out", str(tmp_path / "out.csv")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2 and "is not signed" in proc.stderr, proc.stderr
    assert not marker.exists() and not (tmp_path / "out.csv").exists()

    # The control: with no key the same version is trusted on its manifest, and the code runs.
    # (A copy with the tampered manifest and model, so the refusal above is the key's doing.)
    monkeypatch.delenv("ROUTING_SIGNING_KEY")
    shutil.copytree(signed / "tampered", signed / "copy")
    manifest = json.loads((signed / "copy" / MANIFEST_FILE).read_text())
    manifest["version"] = "copy"
    (signed / "copy" / MANIFEST_FILE).write_text(json.dumps(manifest))
    registry.load_model("copy")
    assert marker.exists()


def test_a_manifest_changed_alone_is_refused(signed, tmp_path):
    """Changing any field of the manifest (here the dataset it names) breaks the signature."""
    path = signed / "good" / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["dataset"]["name"] = "another"
    path.write_text(json.dumps(manifest, indent=2))
    MODELS.clear()
    with pytest.raises(UserError, match="signature does not match"):
        Registry(signed).load_model("good")
