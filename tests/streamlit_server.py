"""`streamlit run app.py` as a real server for the browser tests: a free port, temp folders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(url: str, process: subprocess.Popen, log: Path, name: str, timeout: float = 90.0,
                   ok: Callable[[bytes], bool] = lambda body: True) -> None:
    """Wait until GET `url` answers 200 (and `ok(body)`); fail with the log's end when the
    process `name` exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and ok(resp.read()):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, with everything it started."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def streamlit_server(models: Path, home: Path, log: Path, extra_args: tuple[str, ...] = (),
                     extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app from the project folder (so its .streamlit/config.toml applies) with these
    models and data folders; yield (url, process) once /_stcore/health answers.

    `extra_args` go to `streamlit run` (e.g. `--secrets.files`), `extra_env` to its environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(ROUTING_MODELS_DIR=str(models), ROUTING_DATA_HOME=str(home), **(extra_env or {}))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true",
                "--server.port", str(port),
                "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false",
                # One code version per run: a source file edited meanwhile must not make
                # Streamlit re-import modules (that would also empty the in-memory caches).
                "--server.fileWatcherType", "none",
                *extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/_stcore/health", process, log, "streamlit")
        yield url, process
    finally:
        stop_group(process)
