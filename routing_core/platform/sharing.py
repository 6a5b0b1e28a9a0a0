"""Folders shared by several accounts (docs/design.md, 'Reliability and security').

Files and folders the studio writes are readable and writable by the group of the folder they
are in, as far as the process umask allows (0o666 / 0o777 less the umask, never forced
owner-only): two service accounts of one group, with umask 002, share a models and data folder.
A new file takes the group of its folder when the process belongs to that group.

Which host a job or a half-written folder belongs to: `host_id()`, from $ROUTING_HOST_ID, else the
machine's hostname and boot id (a reboot is a new host: nothing of the old boot still runs). A
host judges only its own work, by process id. Several hosts that train on one models folder do
so through a Dask cluster (routing_core.engine), whose scheduler knows which worker lives; a
half-written folder of another host is left alone until it is a day old.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
import threading
import time
from pathlib import Path

from routing_core.platform.settings import env_name, setting

HOST_ENV = env_name("host_id")

_UMASK_LOCK = threading.Lock()


def host_id() -> str:
    """This host: $ROUTING_HOST_ID, else `<hostname>:<boot id>`."""
    env = setting("host_id")
    if env:
        return env
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{socket.gethostname()}:{boot}" if boot else socket.gethostname()


def this_machine(host: str) -> bool:
    """Whether a job's `host` is this machine, in this boot or an earlier one: this host id or,
    without $ROUTING_HOST_ID, this hostname with another boot id (nothing of that boot still runs)."""
    if host == host_id():
        return True
    if setting("host_id"):
        return False
    name, sep, _boot = host.rpartition(":")
    return bool(sep) and name == socket.gethostname()


def host_tag(host: str | None = None) -> str:
    """A short token of a host id that fits in a file name (8 hex digits)."""
    return hashlib.sha256((host if host is not None else host_id()).encode()).hexdigest()[:8]


def umask() -> int:
    """The process umask, read without changing it where /proc says it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new file: read and write for all, less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode of a new folder: everything for all, less the umask."""
    return 0o777 & ~umask()


def _group_of_parent(path: Path, st: os.stat_result) -> None:
    """Give `path` its folder's group when it has another one (and this process may)."""
    try:
        parent_gid = os.stat(path.parent).st_gid
    except OSError:
        return
    if st.st_gid != parent_gid:
        with contextlib.suppress(OSError):
            os.chown(path, -1, parent_gid, follow_symlinks=False)


def share_file(path: str | os.PathLike, fd: int | None = None) -> None:
    """Make a file this process created readable/writable as its umask allows (mkstemp makes 0600),
    in its folder's group. Links are left alone."""
    path = Path(path)
    try:
        st = os.fstat(fd) if fd is not None else os.lstat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        return
    with contextlib.suppress(OSError):
        if fd is not None:
            os.fchmod(fd, file_mode())
        else:
            os.chmod(path, file_mode(), follow_symlinks=False)
    _group_of_parent(path, st)


def share_dir(path: str | os.PathLike) -> None:
    """Make a folder this process created open to its group as the umask allows (mkdtemp makes 0700),
    in its parent's group; a set-group-id bit stays."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return
    with contextlib.suppress(OSError):
        os.chmod(path, dir_mode() | (st.st_mode & stat.S_ISGID))
    _group_of_parent(path, st)


def make_dirs(path: str | os.PathLike) -> Path:
    """`mkdir -p` with the shared mode for every folder it creates."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in reversed(missing):
        share_dir(folder)
    return path


def owner_token() -> str:
    """What names the writer of a hidden work folder: `<host tag>-<pid>`."""
    return f"{host_tag()}-{os.getpid()}"


def abandoned(path: str | os.PathLike, owner: str, stale_after: float, now: float | None = None) -> bool | None:
    """Whether the hidden work folder `path` (a save or publish under way), written by `owner`
    (`<host tag>-<pid>`, or a bare pid from before hosts were named), was abandoned: on this host
    when its process is gone; any, another host's too, once older than `stale_after` seconds.
    None when it is gone."""
    now = time.time() if now is None else now
    tag, _, pid_text = owner.rpartition("-")
    try:
        pid = int(pid_text)
    except ValueError:
        pid = -1
    try:
        if now - os.lstat(path).st_mtime > stale_after:
            return True
    except FileNotFoundError:
        return None
    if tag and tag != host_tag():
        return False  # its process cannot be asked from here
    return pid <= 0 or (pid != os.getpid() and not process_alive(pid))


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (the owner of a temporary file or folder)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True
