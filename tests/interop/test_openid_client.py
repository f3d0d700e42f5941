"""Interop: independent relying-party libraries run the code flow against a live provider.

* panva's ``openid-client`` (Node.js, OpenID certified): code flow with PKCE,
  RFC 9207 ``iss`` check, ID token validation, userinfo and refresh, all
  judged by the library itself. Installed from ``package-lock.json`` into
  ``tests/interop/node_modules`` on first run.
* Authlib's OAuth 2.0 client with its OIDC ID token validation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.pid import generate_pid
from tests.conformance.browserless import login
from tests.conformance.conftest import PASSWORD, REDIRECT_URI, _add_citizen, _add_client
from tests.conformance.suite import pkce
from tests.live import LiveServer, base_env, idp
from tests.services import service_unavailable

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("interop")
    env = base_env(data)
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    pid = generate_pid(birth_date=date(1977, 7, 7), synthetic=True)
    _add_citizen(env, pid, "Kari")
    rp = _add_client(env, "interop")
    server = LiveServer(env)
    yield server, rp, pid
    server.close()


def _node_modules() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        service_unavailable("Node.js", "node and npm are needed for the openid-client interop test")
    if (HERE / "node_modules" / "openid-client").is_dir():
        return
    result = subprocess.run(
        ["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        service_unavailable("npm registry", result.stderr.strip()[-300:])


def _browse(authorization_url: str, pid: str) -> str:
    """The citizen's part: log in and return the callback URL the browser would load."""
    browser = requests.Session()
    first = browser.get(authorization_url, allow_redirects=False, timeout=10)
    answer = login(browser, first, pid=pid, password=PASSWORD)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def test_openid_client_code_flow_pkce_refresh_userinfo(live):
    _node_modules()
    server, rp, pid = live
    node = subprocess.Popen(
        ["node", str(HERE / "rp.mjs"), server.url, rp.client_id, rp.secret, REDIRECT_URI],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = node.stdout.readline()
        assert first, node.stderr.read()
        callback = _browse(json.loads(first)["authorization_url"], pid)
        node.stdin.write(callback + "\n")
        node.stdin.flush()
        out, err = node.communicate(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    result = json.loads(out)
    assert result["claims"]["iss"] == server.url
    assert result["userinfo"]["sub"] == result["claims"]["sub"]
    assert result["userinfo"]["email"] == "kari@example.org"
    assert result["refreshed_claims"]["sub"] == result["claims"]["sub"]
    assert result["refreshed_claims"]["auth_time"] == result["claims"]["auth_time"]


def test_authlib_client_code_flow(live):
    server, rp, pid = live
    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=10).json()
    verifier, _challenge = pkce()
    session = OAuth2Session(
        rp.client_id, rp.secret, scope="openid profile", redirect_uri=REDIRECT_URI, code_challenge_method="S256"
    )
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    callback = _browse(url, pid)
    assert f"state={state}" in callback
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"values": [server.url]}},
        params={"nonce": "n-0S6_WzA2Mj", "client_id": rp.client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    assert session.get(meta["userinfo_endpoint"]).json()["sub"] == claims["sub"]
