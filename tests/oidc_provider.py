"""A real OpenID Connect provider process for the sign-in tests (PyPI `oidc-provider-mock`).

It serves discovery, authorization, token, userinfo and JWKS on a free loopback port and signs
ID tokens with a key of its own. Its authorization page has one button per predefined user
(the user's `sub`): pressing it signs in as that user, with the claims given here (email,
groups). Any client id and secret are accepted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.streamlit_server import free_port, stop_group, wait_answering

CLIENT_ID = "routing-studio"
CLIENT_SECRET = "routing-studio-test-secret"  # the provider accepts any; Streamlit needs one


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
        wait_answering(f"{url}/.well-known/openid-configuration", process, log, "the OpenID Connect provider",
                       timeout=30, ok=lambda body: "authorization_endpoint" in json.loads(body))
        yield url
    finally:
        stop_group(process)


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
