"""Manifests of model versions and the caches in front of them (docs/design.md, 'Model registry').

`ManifestLoader` keeps parsed `manifest.json` files keyed by path and re-reads one when its
file changes (mtime, size or inode), so every process sharing a models folder sees the truth.
`ModelCache` keeps unpickled models keyed by (version folder, manifest sha256): a version that
changed on disk is loaded again, never served stale. Artifacts are hash-checked before
unpickling because a joblib file runs code when it is loaded; with a signing key configured
(`routing_core.versions.signing`) the manifest's signature is checked first.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictInt

from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_TOP_K
from routing_core.platform.statefile import (
    Count,
    Flag,
    StateRecord,
    Text,
    check,
    number,
    open_regular,
    parse_json,
    read_limited,
)
from routing_core.versions.signing import check_signature

SCHEMA = "routing-studio/manifest@1"
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
REQUEST_FILE = "training_request.json"
ARTIFACTS = (MODEL_FILE, METRICS_FILE, REQUEST_FILE)

def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a regular file (not a link, FIFO or device)."""
    with open_regular(path, f"Model version '{Path(path).parent.name}'") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class DigestCache:
    """sha256 of files keyed by path, computed again when a file's mtime, size or inode changes
    (so listing versions can tell a changed artifact without hashing every file each time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[int, int, int], str]] = {}

    def get(self, path: str | os.PathLike) -> str:
        """Hex sha256 of the file (OSError if it cannot be read)."""
        key = os.path.abspath(path)
        sig = _signature(os.stat(key))
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
        with open_regular(key, f"Model version '{Path(key).parent.name}'") as fh:
            sig = _signature(os.fstat(fh.fileno()))
            hexdigest = hashlib.file_digest(fh, "sha256").hexdigest()
        with self._lock:
            self._entries[key] = (sig, hexdigest)
        return hexdigest

    def clear(self) -> int:
        """Forget every digest; returns how many were dropped."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count


DIGESTS = DigestCache()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class ManifestDataset(StateRecord):
    name: Text | None = None
    sha256: Text | None = None
    rows: StrictInt | None = None
    items: StrictInt | None = None
    processes: StrictInt | None = None
    source_name: Text | None = None
    mapping: dict | None = None
    accepted_routings: StrictInt | None = None
    duration_unit: Text | None = None


class ManifestParams(StateRecord):
    top_k: Annotated[StrictInt, Field(ge=1, le=MAX_TOP_K)] | None = None


class Runtime(StateRecord):
    model_format: StrictInt | Text | None = None


class Artifact(StateRecord):
    sha256: Text
    bytes: Count


class Manifest(StateRecord):
    """manifest.json: the fields of a manifest the studio reads."""

    schema_: Text = Field(alias="schema")
    version: Text | None = None
    created_at: Text | None = None
    dataset: ManifestDataset | None = None
    params: ManifestParams | None = None
    artifacts: dict[str, Artifact]
    runtime: Runtime | None = None


class Baseline(StateRecord):
    routing_accuracy: number() | None = None
    top_3_accuracy: number() | None = None
    f1_weighted: number() | None = None
    sequence_similarity: number() | None = None


class BaselineTrial(StateRecord):
    model_similarity: number() | None = None
    most_frequent_similarity: number() | None = None


class Metrics(StateRecord):
    """metrics.json: the figures the pages show and the tables they open."""

    routing_accuracy: number() | None = None
    top_1_accuracy: number() | None = None
    top_3_accuracy: number() | None = None
    top_5_accuracy: number() | None = None
    sequence_similarity: number() | None = None
    step_accuracy: number() | None = None
    f1_weighted: number() | None = None
    duration_mae_min: number() | None = None
    duration_mape: number() | None = None
    coverage: number() | None = None
    sample_count: number() | None = None
    lift_over_best: number() | None = None
    test_items: number() | None = None
    train_items: number() | None = None
    training_samples: number() | None = None
    best_baseline: Text | None = None
    baselines: dict[str, Baseline] | None = None
    baseline_trial: BaselineTrial | None = None
    most_frequent_leads: Flag | None = None
    beats_baseline: Flag | None = None
    reading: dict | list | None = None
    dataset_stats: dict | None = None
    split: dict | None = None


def check_metrics(data: object, where: str) -> dict:
    """metrics.json checked against Metrics; BrokenState if not."""
    return check(data, Metrics, where, METRICS_FILE)


def parse_manifest(raw: bytes, where: str) -> dict:
    """Parse and check manifest bytes; UserError naming `where` if they are not a manifest."""
    data = parse_json(raw, where, MANIFEST_FILE)
    if not isinstance(data, dict):
        raise UserError(f"{where}: manifest.json does not hold a JSON object.")
    if data.get("schema") != SCHEMA:
        raise UserError(
            f"{where}: manifest.json has schema {data.get('schema')!r}, expected {SCHEMA!r}."
        )
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, dict) or MODEL_FILE not in artifacts:
        raise UserError(f"{where}: manifest.json lists no {MODEL_FILE} artifact.")
    for name in artifacts:
        if Path(name).name != name or name.startswith("."):
            raise UserError(f"{where}: manifest.json has a malformed artifact entry {name[:80]!r}.")
    check(data, Manifest, where, MANIFEST_FILE)
    return data


def check_model_format(manifest: dict, where: str) -> None:
    """UserError unless the version was saved in the model format this code reads."""
    from routing_core.model import MODEL_FORMATS_READ

    saved = (manifest.get("runtime") or {}).get("model_format")
    if saved not in MODEL_FORMATS_READ:
        readable = " or ".join(str(f) for f in MODEL_FORMATS_READ)
        raise UserError(
            f"{where} was saved in model format {saved if saved is not None else 'unknown'}; this "
            f"Routing Studio reads format {readable}. Train it again (its settings are in "
            "training_request.json)."
        )


def check_artifact(version_dir: Path, name: str, entry: dict, data: bytes | None = None) -> None:
    """Raise UserError unless the artifact's size and sha256 match its manifest entry."""
    version_dir = Path(version_dir)
    where = f"Model version '{version_dir.name}'"
    path = version_dir / name
    if data is None:
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise UserError(f"{where}: {name} is missing; the version cannot be used.") from None
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{where}: {name} is not a regular file (a link, FIFO or device); it is not read.")
        size = st.st_size
    else:
        size = len(data)
    if size != entry["bytes"]:
        diff = size - entry["bytes"]
        how = f"{diff} byte(s) longer" if diff > 0 else f"{-diff} byte(s) shorter"
        raise UserError(
            f"{where}: {name} is {how} than its manifest records; the file was changed or "
            "truncated, so it is not loaded."
        )
    try:
        actual = sha256_bytes(data) if data is not None else sha256_file(path)
    except FileNotFoundError:  # removed between the size check and the read
        raise UserError(f"{where}: {name} is missing; the version cannot be used.") from None
    if actual != entry["sha256"]:
        raise UserError(
            f"{where}: {name} does not match the sha256 in its manifest; the file was changed, "
            "so it is not loaded."
        )


def verify_artifacts(version_dir: Path, manifest: dict) -> None:
    """Check every artifact of a version against its manifest (UserError on the first mismatch)."""
    for name, entry in manifest["artifacts"].items():
        check_artifact(Path(version_dir), name, entry)


# ---------------------------------------------------------------- manifests


@dataclass
class _ManifestEntry:
    signature: tuple[int, int, int]
    data: dict
    sha256: str
    version: str
    loaded_at: float
    hits: int = 0


class ManifestLoader:
    """Thread-safe cache of parsed manifests keyed by path; an entry refreshes when its file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, _ManifestEntry] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _path(model_dir: str | os.PathLike) -> Path:
        return Path(os.path.abspath(model_dir)) / MANIFEST_FILE

    def get(self, model_dir: str | os.PathLike) -> dict:
        """The parsed manifest of a version folder (a copy; UserError if missing or broken)."""
        return self.get_with_digest(model_dir)[0]

    def get_with_digest(self, model_dir: str | os.PathLike) -> tuple[dict, str]:
        """(manifest, sha256 of the manifest file's bytes) of a version folder."""
        path = self._path(model_dir)
        where = f"Model version '{path.parent.name}'"
        try:
            st = path.stat()
        except FileNotFoundError:
            self._drop(path)
            raise UserError(f"{where} has no manifest.json; the folder is incomplete.") from None
        sig = _signature(st)
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry.signature == sig:
                entry.hits += 1
                self.hits += 1
                return copy.deepcopy(entry.data), entry.sha256
            self.misses += 1
        # Read through one descriptor and key the entry by that descriptor's stat, so a
        # manifest replaced between stat and read can never be cached under the wrong key.
        try:
            with open_regular(path, where) as fh:
                sig = _signature(os.fstat(fh.fileno()))
                raw = read_limited(fh, where, MANIFEST_FILE)
        except FileNotFoundError:
            self._drop(path)
            raise UserError(f"{where} has no manifest.json; the folder is incomplete.") from None
        data = parse_manifest(raw, where)
        digest = sha256_bytes(raw)
        entry = _ManifestEntry(
            signature=sig,
            data=data,
            sha256=digest,
            version=str(data.get("version") or path.parent.name),
            loaded_at=time.time(),
        )
        with self._lock:
            self._entries[path] = entry
        return copy.deepcopy(data), digest

    def _drop(self, path: Path) -> None:
        with self._lock:
            self._entries.pop(path, None)

    def invalidate(self, model_dir: str | os.PathLike | None = None) -> int:
        """Forget one version's manifest, or all of them; returns how many entries were dropped."""
        with self._lock:
            if model_dir is None:
                count = len(self._entries)
                self._entries.clear()
                return count
            return 1 if self._entries.pop(self._path(model_dir), None) is not None else 0

    def stats(self) -> dict:
        """What the cache holds, for the Cache page."""
        now = time.time()
        with self._lock:
            entries = [
                {
                    "path": str(path),
                    "version": e.version,
                    "loaded_at": _iso(e.loaded_at),
                    "age_sec": round(now - e.loaded_at, 3),
                    "hits": e.hits,
                }
                for path, e in self._entries.items()
            ]
            return {"entries": entries, "hits": self.hits, "misses": self.misses, "size": len(entries)}


MANIFESTS = ManifestLoader()


# ---------------------------------------------------------------- models


@dataclass
class _ModelEntry:
    model: Any
    version: str
    manifest_sha256: str
    model_signature: tuple[int, int, int]
    loaded_at: float
    hits: int = 0


class ModelCache:
    """Loaded models keyed by (version folder, manifest sha256); checks hashes before unpickling."""

    def __init__(self, manifests: ManifestLoader | None = None, max_entries: int = 4) -> None:
        self.manifests = manifests if manifests is not None else MANIFESTS
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _ModelEntry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _dir(version_dir: str | os.PathLike) -> str:
        return os.path.abspath(version_dir)

    def _lookup(self, key: tuple[str, str], model_path: Path) -> Any | None:
        try:
            sig = _signature(model_path.stat())
        except FileNotFoundError:
            return None
        with self._lock:
            entry = self._entries.get(key)
            # The model file changing under an unchanged manifest means tampering: reload,
            # which re-checks the hash and refuses.
            if entry is None or entry.model_signature != sig:
                return None
            entry.hits += 1
            self.hits += 1
            self._entries.move_to_end(key)
            return entry.model

    def get(self, version_dir: str | os.PathLike) -> Any:
        """The version's model, unpickled only after every artifact matched its manifest."""
        try:
            return self._get(version_dir)
        except FileNotFoundError:
            # another session deleted or replaced the version while this one was loading it
            raise UserError(
                f"Model version '{Path(version_dir).name}' was removed or replaced while it was "
                "being loaded; choose a version again."
            ) from None

    def _get(self, version_dir: str | os.PathLike) -> Any:
        folder = self._dir(version_dir)
        manifest, digest = self.manifests.get_with_digest(folder)
        check_signature(folder, manifest, digest)  # with a key in force: before anything is unpickled
        key = (folder, digest)
        model_path = Path(folder) / MODEL_FILE
        model = self._lookup(key, model_path)
        if model is not None:
            return model
        with self._load_lock:
            model = self._lookup(key, model_path)  # another thread may have loaded it meanwhile
            if model is not None:
                return model
            with self._lock:
                self.misses += 1
            model, sig = self._load(Path(folder), manifest)
            entry = _ModelEntry(
                model=model,
                version=str(manifest.get("version") or Path(folder).name),
                manifest_sha256=digest,
                model_signature=sig,
                loaded_at=time.time(),
            )
            with self._lock:
                for old in [k for k in self._entries if k[0] == folder]:
                    del self._entries[old]
                self._entries[key] = entry
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return model

    @staticmethod
    def _load(folder: Path, manifest: dict) -> tuple[Any, tuple[int, int, int]]:
        import joblib

        for name, entry in manifest["artifacts"].items():
            if name != MODEL_FILE:
                check_artifact(folder, name, entry)
        where = f"Model version '{folder.name}'"
        check_model_format(manifest, where)  # before unpickling an object this code cannot use
        try:
            with open_regular(folder / MODEL_FILE, where) as fh:
                sig = _signature(os.fstat(fh.fileno()))
                data = fh.read()
        except FileNotFoundError:
            raise UserError(f"{where}: {MODEL_FILE} is missing; the version cannot be used.") from None
        # Unpickle exactly the bytes that were checked, so the file cannot change in between.
        check_artifact(folder, MODEL_FILE, manifest["artifacts"][MODEL_FILE], data=data)
        try:
            return joblib.load(io.BytesIO(data)), sig
        except Exception as exc:  # a hash-valid file that does not load: version/runtime mismatch
            runtime = manifest.get("runtime", {})
            raise UserError(
                f"{where}: {MODEL_FILE} matches its manifest but cannot be loaded here "
                f"({type(exc).__name__}: {exc}). It was written with {runtime}."
            ) from None

    def invalidate(self, version_dir: str | os.PathLike) -> int:
        """Forget the loaded model of one version folder; returns how many entries were dropped."""
        folder = self._dir(version_dir)
        with self._lock:
            keys = [k for k in self._entries if k[0] == folder]
            for k in keys:
                del self._entries[k]
            return len(keys)

    def clear(self) -> int:
        """Forget every loaded model; returns how many were dropped."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def stats(self) -> dict:
        """Loaded models, for the Cache page."""
        now = time.time()
        with self._lock:
            entries = [
                {
                    "path": folder,
                    "version": e.version,
                    "manifest_sha256": digest,
                    "loaded_at": _iso(e.loaded_at),
                    "age_sec": round(now - e.loaded_at, 3),
                    "hits": e.hits,
                }
                for (folder, digest), e in self._entries.items()
            ]
            return {"entries": entries, "hits": self.hits, "misses": self.misses, "size": len(entries)}


MODELS = ModelCache(MANIFESTS)


def clear_all(*, user: Any, activity: Any = None) -> dict:
    """Clear the manifest cache and the loaded models; returns how many of each were dropped.

    Needs an admin (`user`, a named User; Forbidden otherwise); recorded in the activity log
    (`activity`, by default that of the data home), which must be writable before anything is
    dropped (LogError otherwise)."""
    from routing_core.users.access import require
    from routing_core.users.activity import CLEAR_CACHE, ActivityLog

    who = require(user, "clear_cache")
    log = activity if activity is not None else ActivityLog()
    log.check_writable()
    DIGESTS.clear()
    dropped = {"manifests": MANIFESTS.invalidate(), "models": MODELS.clear()}
    log.record(who, CLEAR_CACHE, "caches", **dropped)
    return dropped


def clear_version(version_dir: str | os.PathLike, *, user: Any, activity: Any = None) -> int:
    """Forget one version's parsed manifest and loaded model; returns the entries dropped. Needs an
    admin, and is recorded, as clear_all."""
    from routing_core.users.access import require
    from routing_core.users.activity import CLEAR_CACHE, ActivityLog

    who = require(user, "clear_cache")
    log = activity if activity is not None else ActivityLog()
    log.check_writable()
    dropped = MANIFESTS.invalidate(version_dir) + MODELS.invalidate(version_dir)
    log.record(who, CLEAR_CACHE, Path(version_dir).name, dropped=dropped)
    return dropped
