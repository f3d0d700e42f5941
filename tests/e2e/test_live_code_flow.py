"""End to end against a live server process: the CLI sets it up, a real OIDC client logs in over HTTP."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.pid import generate_pid
from tests.flows import hidden, query
from tests.live import LiveServer, base_env, idp

PASSWORD = "live-passord-123"
CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect itself


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("live")
    # A protocol test: the password alone logs in (the second factor has its own live test in tests/mfa).
    env = base_env(data)
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    pid = generate_pid(birth_date=date(1970, 1, 31), synthetic=True)
    idp(env, "users", "add", pid, "--given-name", "Ola", "--family-name", "Nordmann", "--password", PASSWORD)
    client = json.loads(
        idp(
            env,
            "clients",
            "add",
            "--name",
            "Live RP",
            "--redirect-uri",
            CALLBACK,
            "--scope",
            "openid profile pid",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--json",
        ).stdout
    )
    server = LiveServer(env)
    yield server, pid, client
    server.close()


def browser_login(http: requests.Session, authorization_url: str, pid: str) -> str:
    """Follow the provider's pages like a browser without JavaScript; return the redirect back to the client."""
    response = http.get(authorization_url, allow_redirects=False)
    assert response.status_code == 302
    login_page = http.get(
        response.headers["Location"]
        if "://" in response.headers["Location"]
        else authorization_url.split("/authorize")[0] + response.headers["Location"]
    )
    html = login_page.text
    posted = http.post(
        login_page.url.split("?")[0],
        data={"csrf_token": hidden(html, "csrf_token"), "tx": hidden(html, "tx"), "pid": pid, "password": PASSWORD},
        allow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    resumed = http.get(login_page.url.split("/login")[0] + posted.headers["Location"], allow_redirects=False)
    assert resumed.status_code == 302
    return resumed.headers["Location"]


def test_authlib_client_code_flow_with_pkce_refresh_and_userinfo(live):
    server, pid, registered = live
    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    assert meta["issuer"] == server.url
    client = OAuth2Session(
        registered["client_id"],
        registered["client_secret"],
        scope="openid profile pid",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )
    verifier = "v" * 64
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], nonce="live-nonce", code_verifier=verifier
    )
    callback = browser_login(requests.Session(), url, pid)
    assert callback.startswith(CALLBACK)
    assert query(callback)["iss"] == server.url
    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)

    # Authlib's own ID token validation: signature by kid from the JWKS, then the OIDC Core claim rules.
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"values": [server.url]}, "aud": {"values": [registered["client_id"]]}},
        params={"nonce": "live-nonce", "client_id": registered["client_id"], "access_token": token["access_token"]},
    )
    claims.validate()
    assert claims["pid"] == pid
    assert claims["amr"] == ["pwd"]

    info = client.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"]
    assert info["given_name"] == "Ola"

    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert jwt.decode(refreshed["id_token"], keys).claims["sub"] == claims["sub"]


def test_unregistered_redirect_uri_is_shown_a_page_over_http(live):
    server, _pid, registered = live
    response = requests.get(
        server.url + "/authorize",
        params={
            "response_type": "code",
            "client_id": registered["client_id"],
            "scope": "openid",
            "redirect_uri": "https://attacker.example/cb",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
