"""A real Dask cluster for the tests: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 (one thread each, a memory limit), started from the project's venv on a free port and
stopped at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

WORKERS = ("w1", "w2")
# Each worker's memory limit: a few hundred items train well within it; thousands do not.
MEMORY_LIMIT = "1GB"


@dataclass
class Cluster:
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def workers(self) -> dict[str, dict]:
        """{name: the scheduler's information on it} of the workers connected now."""
        from routing_core.engine.cluster import client

        info = client(self.address).scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): {**w, "address": a} for a, w in info.items()}

    def wait_for_workers(self, n: int = len(WORKERS), timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.workers()) < n:
            assert time.monotonic() < deadline, f"the cluster has {len(self.workers())} of {n} workers"
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> list[str]:
    return [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]]


@contextlib.contextmanager
def running_cluster(folder: Path, limits: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A scheduler and the workers of `limits` ({name: memory limit}; default WORKERS at MEMORY_LIMIT)."""
    limits = limits or dict.fromkeys(WORKERS, MEMORY_LIMIT)
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ARROW_DEFAULT_MEMORY_POOL": "system",
           "DASK_TEMPORARY_DIRECTORY": str(folder)}
    env.pop("ROUTING_SCHEDULER", None)
    cluster = Cluster(address, logs=folder)
    commands = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    commands += [_dask("worker", address, "--name", name, "--nthreads", "1", "--memory-limit", limit,
                       "--no-dashboard", "--local-directory", str(folder / name)) for name, limit in limits.items()]
    try:
        for i, cmd in enumerate(commands):
            log = open(folder / f"process-{i}.log", "ab")  # noqa: SIM115 - closed with the process
            cluster.processes.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log,
                                                      stdin=subprocess.DEVNULL, start_new_session=True))
            if i == 0:
                _wait_for_port(port)
        cluster.wait_for_workers(len(limits))
        yield cluster
    finally:
        from routing_core.engine import cluster as engine_cluster

        with contextlib.suppress(Exception):
            engine_cluster.CLIENTS.pop(address).close()
        for proc in reversed(cluster.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in cluster.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"the scheduler did not listen on {port} within {timeout} s"
        time.sleep(0.1)
