"""The model registry: one folder per version under the models folder (docs/design.md, 'Model registry').

```
models/
  <version>/   model.joblib, manifest.json, metrics.json, training_request.json
  ACTIVE       name of the active version (written atomically)
  .jobs/       training job records
  .tmp-*       versions being published (invisible; stale ones are cleaned up)
```
A version appears by one `os.rename` of a complete folder and disappears by one rename away,
so no reader ever sees half of one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routing_core.platform.atomic import atomic_write_bytes
from routing_core.platform.errors import UserError
from routing_core.platform.names import check_name
from routing_core.platform.settings import setting
from routing_core.platform.sharing import abandoned, owner_token, share_dir, share_file
from routing_core.platform.statefile import BrokenState, read_bytes, read_json
from routing_core.users.access import NO_USER, User, require
from routing_core.users.activity import (
    ACTIVATE_VERSION,
    DELETE_VERSION,
    PUBLISH_VERSION,
    ActivityLog,
    LogError,
)
from routing_core.versions.manifest import (
    DIGESTS,
    MANIFEST_FILE,
    MANIFESTS,
    METRICS_FILE,
    MODEL_FILE,
    MODELS,
    REQUEST_FILE,
    SCHEMA,
    check_metrics,
    check_model_format,
    sha256_bytes,
    sha256_file,
    verify_artifacts,
)
from routing_core.versions.signing import check_signature, signing_key, write_signature

ACTIVE_FILE = "ACTIVE"
JOBS_DIR = ".jobs"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".deleted-"
# A publish folder whose process is gone is stale; one older than this is stale whatever its pid.
STALE_AFTER_SEC = 24 * 3600

__all__ = [
    "ACTIVE_FILE",
    "JOBS_DIR",
    "MANIFEST_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "REQUEST_FILE",
    "SCHEMA",
    "Registry",
    "VersionInfo",
    "models_dir",
    "runtime_versions",
]


def models_dir(path: str | os.PathLike | None = None) -> Path:
    """The models folder: `path` if given, else $ROUTING_MODELS_DIR, else ./models."""
    if path is not None and str(path) != "":
        return Path(path)
    return setting("models_dir")


def runtime_versions() -> dict[str, str]:
    """Versions of the libraries a pickled model depends on."""
    import numpy
    import pandas
    import sklearn

    from routing_core.model import MODEL_FORMAT

    return {
        "model_format": MODEL_FORMAT,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
    }


@dataclass
class VersionInfo:
    """One version as listed: its manifest's headline fields, metrics, and whether it is usable."""

    name: str
    path: Path
    created_at: str | None
    dataset: dict
    params: dict
    metrics: dict | None
    active: bool
    broken: str | None  # why the version cannot be used, or None
    manifest: dict | None = None
    runtime: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _json_bytes(payload: object) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False, default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class Registry:
    """Model versions in one models folder."""

    def __init__(self, root: str | os.PathLike | None = None, activity: ActivityLog | None = None) -> None:
        self.root = models_dir(root)
        self._activity = activity

    @property
    def activity(self) -> ActivityLog:
        """The activity log changes are recorded in (by default that of the data home)."""
        if self._activity is None:
            self._activity = ActivityLog()
        return self._activity

    @activity.setter
    def activity(self, log: ActivityLog) -> None:
        self._activity = log

    # ------------------------------------------------------------ paths

    def _path(self, name: str) -> Path:
        return self.root / check_name(name, "version name")

    def exists(self, name: str) -> bool:
        """Whether a version folder of this name exists (whole or broken, or a link in its place)."""
        path = self._path(name)
        return path.is_dir() or path.is_symlink()

    def names(self) -> list[str]:
        """Names of every visible version folder (broken ones, and links to folders, too), unsorted."""
        if not self.root.is_dir():
            return []
        return [
            e.name
            for e in os.scandir(self.root)
            if not e.name.startswith(".") and (e.is_dir(follow_symlinks=False) or e.is_symlink())
        ]

    def _folder(self, name: str) -> Path:
        """The folder of a usable version: UserError if there is none, or a link stands in its place."""
        path = self._path(name)
        if path.is_symlink():
            raise UserError(_linked(name))
        if not path.is_dir():
            raise UserError(f"No model version named '{name}' in {self.root}.")
        return path

    # ------------------------------------------------------------ reading

    def _info(self, name: str, active: str | None) -> VersionInfo:
        path = self.root / name
        info = VersionInfo(
            name=name, path=path, created_at=None, dataset={}, params={}, metrics=None,
            active=name == active, broken=None,
        )
        if path.is_symlink():
            info.broken = _linked(name)
            return info
        try:
            manifest, digest = MANIFESTS.get_with_digest(path)
        except UserError as exc:
            info.broken = str(exc)
            info.created_at = _mtime_iso(path)
            return info
        info.manifest = manifest
        info.created_at = manifest.get("created_at")
        info.dataset = manifest.get("dataset") or {}
        info.params = manifest.get("params") or {}
        info.runtime = manifest.get("runtime") or {}
        try:
            check_model_format(manifest, f"Model version '{name}'")
        except UserError as exc:
            info.broken = str(exc)
        if manifest.get("version") not in (None, name):
            info.broken = (
                f"Model version '{name}': its manifest names version '{manifest.get('version')}'; "
                "the folder was renamed by hand."
            )
        for artifact, entry in manifest["artifacts"].items():
            try:
                st = (path / artifact).lstat()
            except FileNotFoundError:
                info.broken = f"Model version '{name}': {artifact} is missing."
                break
            if not stat.S_ISREG(st.st_mode):
                info.broken = (f"Model version '{name}': {artifact} is not a regular file (a link, FIFO "
                               "or device); it is not read.")
                break
            size = st.st_size
            if size != entry["bytes"]:
                info.broken = (
                    f"Model version '{name}': {artifact} has {size} bytes, its manifest records "
                    f"{entry['bytes']}; the file was changed or truncated."
                )
                break
            try:
                changed = DIGESTS.get(path / artifact) != entry["sha256"]
            except (OSError, UserError):
                changed = True
            if changed:  # same size, other bytes: changed by hand or tampered with
                info.broken = (
                    f"Model version '{name}': {artifact} does not match the sha256 in its manifest; "
                    "the file was changed, so it is not loaded."
                )
                break
        if info.broken is None:
            try:
                check_signature(path, manifest, digest)
            except UserError as exc:
                info.broken = str(exc)
        try:
            info.metrics = check_metrics(read_json(path / METRICS_FILE, f"Model version '{name}'"),
                                         f"Model version '{name}'")
        except BrokenState as exc:
            info.metrics = None
            info.broken = info.broken or str(exc)
        except (OSError, ValueError):
            info.metrics = None
        return info

    def list(self) -> list[VersionInfo]:
        """Every version, newest first; a broken one is listed with the reason in `.broken`."""
        active = self.active()
        infos = [self._info(name, active) for name in self.names()]
        return sorted(infos, key=lambda i: (i.created_at or "", i.name), reverse=True)

    def get(self, name: str) -> VersionInfo:
        """One version (UserError if there is none of that name)."""
        if not self.exists(name):
            raise UserError(f"No model version named '{name}' in {self.root}.")
        return self._info(name, self.active())

    def manifest(self, name: str) -> dict:
        """The version's manifest (UserError if missing or broken)."""
        return MANIFESTS.get(self._folder(name))

    def metrics(self, name: str) -> dict:
        """The version's metrics.json."""
        info = self.get(name)
        if info.metrics is None:
            raise UserError(f"Model version '{name}' has no readable metrics.json.")
        return info.metrics

    def verify(self, name: str) -> dict:
        """Check every artifact of a version against its manifest; returns the manifest."""
        manifest, digest = MANIFESTS.get_with_digest(self._folder(name))
        check_signature(self.root / name, manifest, digest)
        verify_artifacts(self.root / name, manifest)
        return manifest

    def load_model(self, name: str | None = None) -> Any:
        """The model of a version (None = the active one), hash-checked before unpickling, cached."""
        if name is None:
            name = self.active()
            if name is None:
                raise UserError("No model version is active: train one or activate one first.")
        model = MODELS.get(self._folder(name))
        broken = self._info(name, None).broken
        if broken:  # e.g. its metrics.json fails its schema: listed as broken, so not used either
            raise UserError(broken)
        return model

    # ------------------------------------------------------------ active

    def _active_raw(self) -> str | None:
        """The name in ACTIVE; None when there is none or ACTIVE is not a small regular text file."""
        try:
            name = read_bytes(self.root / ACTIVE_FILE, "The models folder", max_bytes=4096)
            name = name.decode("utf-8").strip()
        except (OSError, UserError, UnicodeDecodeError):
            return None
        return name or None

    def active_problem(self) -> str | None:
        """Why ACTIVE cannot be read (a FIFO, a link, too large, not text), or None."""
        try:
            read_bytes(self.root / ACTIVE_FILE, "The models folder", max_bytes=4096).decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return "The models folder: ACTIVE is not UTF-8 text."
        except (OSError, UserError) as exc:
            return str(exc)
        return None

    def active(self) -> str | None:
        """Name of the active version, or None (also when ACTIVE names a version that is gone)."""
        name = self._active_raw()
        if name is None:
            return None
        try:
            return name if self._path(name).is_dir() else None
        except UserError:
            return None

    def activate(self, name: str, *, user: User) -> VersionInfo:
        """Make a whole version the active one (its artifacts are hash-checked first); needs an admin
        (Forbidden otherwise). Recorded in the activity log whoever does it, a version restored from
        a backup as much as one trained here; when the entry cannot be written the previous active
        version is put back (LogError)."""
        who = require(user, "activate")
        info = self.get(name)
        if info.broken:
            raise UserError(f"Cannot activate '{name}': {info.broken}")
        self.verify(name)
        self.activity.check_writable()
        previous = self.active()
        raw_before = self._active_raw()
        atomic_write_bytes(self.root / ACTIVE_FILE, f"{name}\n".encode())
        try:
            self.activity.record(who, ACTIVATE_VERSION, name, previous=previous)
        except LogError:
            self._restore_active(raw_before)
            raise
        info.active = True
        return info

    def _restore_active(self, raw: str | None) -> None:
        if raw is None:
            self.deactivate()
        else:
            atomic_write_bytes(self.root / ACTIVE_FILE, f"{raw}\n".encode())

    def deactivate(self) -> None:
        """Clear ACTIVE."""
        (self.root / ACTIVE_FILE).unlink(missing_ok=True)

    # ------------------------------------------------------------ writing

    def publish(
        self,
        name: str,
        model: Any,
        metrics: dict,
        dataset_info: dict,
        params: dict,
        training_request: dict,
        *,
        user: User | str,
        hold: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> VersionInfo:
        """Write a new version whole or not at all; a taken name is refused and nothing is overwritten.

        `user` (a User, or the name of the job's owner) is recorded in the activity log as who
        published it; a version whose entry cannot be written is taken away again (LogError).
        `hold()`, when given, is held while the version is renamed into place and may refuse it
        (a training job ended meanwhile, its process judged gone or cancelled: `worker.publishing`)."""
        import joblib

        if not isinstance(user, User | str) or not str(getattr(user, "name", user)).strip():
            raise UserError(NO_USER)
        target = self._path(name)
        if target.exists():
            raise UserError(f"A model version named '{name}' already exists; choose another name.")
        self.activity.check_writable()
        self.root.mkdir(parents=True, exist_ok=True)
        self.cleanup()
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{TMP_PREFIX}{name}.{owner_token()}."))
        try:
            share_dir(tmp)  # mkdtemp's 0700 would hide the version from the folder's group
            with open(tmp / MODEL_FILE, "xb") as fh:
                joblib.dump(model, fh)
                fh.flush()
                os.fsync(fh.fileno())
            _write_file(tmp / METRICS_FILE, _json_bytes(metrics))
            _write_file(tmp / REQUEST_FILE, _json_bytes(training_request))
            artifacts = {
                f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size}
                for f in (MODEL_FILE, METRICS_FILE, REQUEST_FILE)
            }
            manifest = {
                "schema": SCHEMA,
                "version": name,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "dataset": {
                    "name": dataset_info.get("name"),
                    "sha256": dataset_info.get("sha256"),
                    "rows": dataset_info.get("rows"),
                    "items": dataset_info.get("items"),
                    **{k: v for k, v in dataset_info.items() if k not in ("name", "sha256", "rows", "items")},
                },
                "params": params,
                "artifacts": artifacts,
                "runtime": runtime_versions(),
            }
            manifest_bytes = _json_bytes(manifest)
            _write_file(tmp / MANIFEST_FILE, manifest_bytes)
            key = signing_key((self.root,))
            if key is not None:  # signed under the key kept outside this folder
                write_signature(tmp, name, sha256_bytes(manifest_bytes), artifacts, key)
            for file in tmp.iterdir():
                share_file(file)
            _fsync_dir(tmp)
            with hold() if hold is not None else contextlib.nullcontext():
                try:
                    # rename(2) refuses a non-empty target: two publishers of one name cannot both win.
                    os.rename(tmp, target)
                except OSError:
                    raise UserError(
                        f"A model version named '{name}' already exists; choose another name."
                    ) from None
                try:
                    self.activity.record(user, PUBLISH_VERSION, name, dataset=dataset_info.get("name"))
                except LogError:
                    os.rename(target, tmp)  # taken away whole; removed below
                    raise
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.get(name)

    def delete(self, name: str, *, user: User) -> None:
        """Remove a version (renamed away first, so it vanishes whole); deleting the active one clears ACTIVE.
        Needs an admin (Forbidden otherwise); recorded in the activity log (a delete whose entry
        cannot be written is undone: LogError).

        A link standing in a version's place is removed itself, never what it points to."""
        who = require(user, "delete_version")
        path = self._path(name)
        if not self.exists(name):
            raise UserError(f"No model version named '{name}' in {self.root}.")
        self.activity.check_writable()
        raw_before = self._active_raw()
        was_active = raw_before == name
        trash = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{TRASH_PREFIX}{name}."))
        share_dir(trash)  # another account of the group can clear it after a crash
        os.rename(path, trash / name)
        if self._active_raw() == name:
            self.deactivate()
        try:
            self.activity.record(who, DELETE_VERSION, name, was_active=was_active)
        except LogError:
            os.rename(trash / name, path)
            if was_active:
                self._restore_active(raw_before)
            shutil.rmtree(trash, ignore_errors=True)
            raise
        MANIFESTS.invalidate(path)
        MODELS.invalidate(path)
        shutil.rmtree(trash, ignore_errors=True)

    def cleanup(self) -> int:
        """Remove leftovers of interrupted publishes and deletes; returns how many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        now = time.time()
        for entry in os.scandir(self.root):
            if not entry.is_dir(follow_symlinks=False):
                continue
            stale = False
            if entry.name.startswith(TRASH_PREFIX):
                stale = True
            elif entry.name.startswith(TMP_PREFIX):
                stale = _publish_abandoned(entry, now)
                if stale is None:
                    continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed

    def stale_entries(self) -> list[str]:
        """Names of hidden publish/delete leftovers currently in the models folder."""
        if not self.root.is_dir():
            return []
        return sorted(
            e.name for e in os.scandir(self.root)
            if e.name.startswith((TMP_PREFIX, TRASH_PREFIX))
        )

    # ------------------------------------------------------------ download

    def zip_bytes(self, name: str) -> bytes:
        """The version folder as a zip archive (entries under `<name>/`)."""
        path = self._folder(name)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(path.iterdir()):
                if file.is_file() and not file.is_symlink():
                    zf.write(file, arcname=f"{name}/{file.name}")
        return buf.getvalue()


def _publish_abandoned(entry: os.DirEntry, now: float) -> bool | None:
    """Whether the folder of a publish (`.tmp-<name>.<host tag>-<pid>.<random>`) was abandoned
    (`sharing.abandoned`); None when it is gone."""
    owner = entry.name.rsplit(".", 2)[-2] if entry.name.count(".") >= 2 else ""
    return abandoned(entry.path, owner, STALE_AFTER_SEC, now)


def _linked(name: str) -> str:
    return (f"Model version '{name}' is a symbolic link to another folder, not a version folder; "
            "it is not used.")


def _mtime_iso(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except OSError:
        return None
