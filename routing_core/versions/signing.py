"""Signed model versions (docs/design.md, 'Reliability and security'): whoever can write the models folder cannot make the studio
unpickle their code, when a signing key is configured.

The key is kept outside the models folder: `$ROUTING_SIGNING_KEY` (text), else the file named by
`$ROUTING_SIGNING_KEY_FILE`, else what the dashboard passes from its secrets (`configure`). A key
file inside the models folder or the data home (links followed) is refused: whoever can write
there could otherwise replace the key and re-sign their own model.
Publishing a version then writes `signature.json` beside its manifest: an HMAC-SHA256, under the
key, of the version's name, the sha256 of its `manifest.json` bytes and the sha256 of every
artifact the manifest lists. Loading checks the signature against the manifest bytes read, then
every artifact against the manifest, and only then unpickles: an unsigned version, or one whose
manifest, model or signature was changed (or signed with another key), is refused with one
message. Without a key, versions are neither signed nor checked (as before).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from routing_core.platform.errors import UserError
from routing_core.platform.settings import env_name, setting

SIGNATURE_FILE = "signature.json"
SIGNATURE_SCHEMA = "routing-studio/signature@1"
KEY_ENV = env_name("signing_key")
KEY_FILE_ENV = env_name("signing_key_file")
MAX_KEY_BYTES = 4096

_configured: bytes | None = None
_lock = threading.Lock()


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def configure(key: str | bytes | None) -> None:
    """Use `key` (e.g. from the dashboard's secrets) when no environment variable names one; None
    forgets it. An empty key is refused."""
    global _configured
    if key is not None and not _as_bytes(key).strip():
        raise UserError("The signing key is empty; give a long random text, or none.")
    with _lock:
        _configured = None if key is None else _as_bytes(key).strip()


def configured_key() -> bytes | None:
    """The key passed to `configure`, if any (what a worker process is handed in its environment)."""
    return _configured


def _guarded_folders(extra: Iterable[str | os.PathLike]) -> list[Path]:
    """The folders a key file must not be in: the models folder and data home in force, and `extra`."""
    from routing_core.datasets import data_home

    # registry.models_dir()'s default, read here: the registry imports this module
    models = setting("models_dir")
    return [Path(f).resolve() for f in (models, data_home(), *extra)]


def check_key_place(path: str | os.PathLike, extra: Iterable[str | os.PathLike] = ()) -> None:
    """UserError when the key file lies inside the models folder or the data home (or `extra`)."""
    where = Path(path).resolve()
    for folder in _guarded_folders(extra):
        if where == folder or folder in where.parents:
            raise UserError(
                f"The signing key file {path} ({KEY_FILE_ENV}) lies inside {folder}: whoever can write "
                "there could replace the key and sign their own model. Keep it outside the models "
                "folder and the data home, readable only by the services."
            )


def signing_key(inside: Iterable[str | os.PathLike] = ()) -> bytes | None:
    """The signing key in force: $ROUTING_SIGNING_KEY, else the file of $ROUTING_SIGNING_KEY_FILE,
    else the configured one; None when there is none. UserError when the key file cannot be used,
    or lies in the models folder, the data home or one of the folders `inside`."""
    env = setting("signing_key")
    if env:
        return env.encode("utf-8")
    path = setting("signing_key_file")
    if path is not None:
        from routing_core.platform.statefile import read_bytes

        check_key_place(path, inside)

        try:
            data = read_bytes(Path(path), "The signing key file", max_bytes=MAX_KEY_BYTES).strip()
        except FileNotFoundError:
            raise UserError(f"The signing key file {path} ({KEY_FILE_ENV}) does not exist.") from None
        except OSError as exc:
            raise UserError(f"The signing key file {path} cannot be read ({exc.strerror or exc}).") from None
        if not data:
            raise UserError(f"The signing key file {path} ({KEY_FILE_ENV}) is empty.")
        return data
    return _configured


def _payload(name: str, manifest_sha256: str, artifacts: dict) -> bytes:
    return json.dumps({
        "schema": SIGNATURE_SCHEMA,
        "version": name,
        "manifest_sha256": manifest_sha256,
        "artifacts": {k: (v or {}).get("sha256") for k, v in sorted(artifacts.items())},
    }, sort_keys=True, separators=(",", ":")).encode("utf-8")


def key_id(key: bytes) -> str:
    """A short name of a key that does not reveal it (which key signed a version)."""
    return hashlib.sha256(b"routing-studio key id:" + key).hexdigest()[:12]


def sign(name: str, manifest_sha256: str, artifacts: dict, key: bytes) -> dict:
    """The content of a version's signature file."""
    mac = hmac.new(key, _payload(name, manifest_sha256, artifacts), hashlib.sha256).hexdigest()
    return {"schema": SIGNATURE_SCHEMA, "algorithm": "HMAC-SHA256", "key_id": key_id(key), "signature": mac}


def write_signature(folder: Path, name: str, manifest_sha256: str, artifacts: dict, key: bytes) -> None:
    """Write `signature.json` into a version folder being published (a new file, never replaced)."""
    data = json.dumps(sign(name, manifest_sha256, artifacts, key), indent=2).encode("utf-8")
    with open(Path(folder) / SIGNATURE_FILE, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def check_signature(folder: str | os.PathLike, manifest: dict, manifest_sha256: str,
                    key: bytes | None = None) -> None:
    """UserError unless the version in `folder` carries a signature, under the key in force, of this
    manifest (its bytes' sha256) and its artifacts' hashes. Does nothing when no key is in force."""
    key = key if key is not None else signing_key((Path(folder).parent,))
    if key is None:
        return
    from routing_core.platform.statefile import read_json

    folder = Path(folder)
    where = f"Model version '{folder.name}'"
    try:
        saved = read_json(folder / SIGNATURE_FILE, where)
    except FileNotFoundError:
        raise UserError(
            f"{where} is not signed, and versions must be signed here (a signing key is configured); "
            "it is not loaded. Train it again to have a signed version."
        ) from None
    mac = saved.get("signature") if isinstance(saved, dict) else None
    if not isinstance(mac, str):
        raise UserError(f"{where}: {SIGNATURE_FILE} holds no signature; it is not loaded.")
    expected = sign(folder.name, manifest_sha256, manifest.get("artifacts") or {}, key)["signature"]
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected.encode("ascii")):
        other = saved.get("key_id") not in (None, key_id(key))
        why = ("it was signed with another key" if other
               else "its manifest, model or signature was changed after it was signed")
        raise UserError(f"{where}: its signature does not match ({why}); it is not loaded.")
