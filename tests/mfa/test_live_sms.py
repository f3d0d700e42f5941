"""End to end over real HTTP: a live provider, password + SMS code read from the file outbox, ID token verified."""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.pid import generate_pid
from tests.live import LiveServer, base_env, idp

PID = generate_pid(birth_date=date(1977, 7, 7), synthetic=True)
PASSWORD = "et-langt-passord"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def server(tmp_path):
    env = base_env(tmp_path, IDP_SMS_GATEWAY="file", IDP_SMS_OUTBOX=str(tmp_path / "sms.jsonl"))
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    idp(env, "users", "add", PID, "--given-name", "Kari", "--family-name", "Nordmann", "--password", PASSWORD)
    idp(env, "factors", "add", PID, "sms", "--phone", "+4791234567")
    idp(
        env,
        "clients",
        "add",
        "--name",
        "Live RP",
        "--redirect-uri",
        REDIRECT,
        "--client-id",
        "live-rp",
        "--client-secret",
        "live-rp-secret-0123456789",
    )
    live = LiveServer(env)
    yield live, tmp_path / "sms.jsonl"
    live.close()


def _field(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def test_password_and_sms_over_http(server):
    live, outbox = server
    http = requests.Session()
    page = http.get(
        live.url + "/authorize",
        params={
            "response_type": "code",
            "client_id": "live-rp",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "live-state",
            "nonce": "live-nonce",
            "acr_values": "idporten-loa-substantial",
        },
    )
    assert page.status_code == 200 and "/login" in page.url
    step = http.post(
        live.url + "/login",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "tx": _field(page.text, "tx"),
            "pid": PID,
            "password": PASSWORD,
        },
    )
    assert step.status_code == 200 and "/login/step" in step.url
    assert 'autocomplete="one-time-code"' in step.text
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])
    assert message["to"] == "+4791234567" and "Live RP" in message["text"]
    code = re.search(r"\b(\d{5})\b", message["text"]).group(1)
    done = http.post(
        step.url,
        data={"csrf_token": _field(step.text, "csrf_token"), "tx": _field(step.text, "tx"), "code": code},
        allow_redirects=False,
    )
    resume = http.get(live.url + done.headers["Location"], allow_redirects=False)
    back = urlsplit(resume.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert params["state"] == "live-state"
    tokens = requests.post(
        live.url + "/token",
        auth=("live-rp", "live-rp-secret-0123456789"),
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
        },
        timeout=10,
    ).json()
    keys = KeySet.import_key_set(requests.get(live.url + "/jwks", timeout=10).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["iss"] == live.url and claims["aud"] == "live-rp" and claims["nonce"] == "live-nonce"
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "sms", "mfa"]
