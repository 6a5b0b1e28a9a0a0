"""A real OpenID Connect provider process for the sign-in tests (PyPI `oidc-provider-mock`).

It serves discovery, authorization, token, userinfo and JWKS on a free loopback port and signs
ID tokens with a key of its own. Its authorization page has one button per predefined user
(the user's `sub`): pressing it signs in as that user, with the claims given here (email,
groups). Any client id and secret are accepted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.streamlit_server import free_port

CLIENT_ID = "routing-studio"
CLIENT_SECRET = "routing-studio-test-secret"  # the provider accepts any; Streamlit needs one


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the OpenID Connect provider exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2) as resp:
                if resp.status == 200 and json.load(resp).get("authorization_endpoint"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the OpenID Connect provider did not answer:\n{log.read_text()[-3000:]}")


@contextmanager
def oidc_provider(users: Sequence[Mapping[str, object]], log: Path) -> Iterator[str]:
    """Start the provider with these users (each a claims dict with "sub"); yield its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for claims in users:
        args += ["--user-claims", json.dumps(dict(claims))]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "NO_COLOR": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def secrets_toml(provider_url: str, cookie_secret: str) -> str:
    """The `[auth]` section Streamlit's st.login reads; `{port}` is filled in by Streamlit itself."""
    return (
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{cookie_secret}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n'
    )
