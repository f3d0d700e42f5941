"""A guardian picks a ward on the chooser in a real Chromium without JavaScript, against a live server.

Support imports the mandates with `idp guardians import`; the relying party gets the choice in its tokens;
a revoked mandate disappears from the next chooser, which the SSO session shows again without the password.
"""

from __future__ import annotations

import base64
import json
from contextlib import nullcontext
from datetime import date
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from idp.pid import generate_pid
from tests.e2e.test_browser_login import page  # noqa: F401 - the Chromium fixture
from tests.live import LiveServer, base_env, idp
from tests.production.backends import Backend, postgres_redis, selected

pytestmark = pytest.mark.browser

CALLBACK = "http://127.0.0.1:9/callback"  # never served: the browser's request to it is intercepted
PASSWORD = "verge-passord-42"
FULLMAKT = "idporten:fullmakt"


@pytest.fixture(scope="module", params=selected())
def live(request, tmp_path_factory):
    data = tmp_path_factory.mktemp("chooser")
    with postgres_redis() if request.param == "postgres" else nullcontext(Backend("sqlite")) as backend:
        env = base_env(data, **backend.env)
        idp(env, "db", "upgrade")
        idp(env, "keys", "init")
        guardian = generate_pid(birth_date=date(1958, 9, 9), synthetic=True)
        ward = generate_pid(birth_date=date(1929, 2, 3), synthetic=True)
        for pid, given in ((guardian, "Vera"), (ward, "Ola")):
            idp(env, "users", "add", pid, "--given-name", given, "--family-name", "Verge", "--password", PASSWORD)
        mandates = data / "mandates.csv"
        mandates.write_text(
            "reference,guardian_pid,ward_pid,ward_name,roles,valid_from,valid_to\n"
            f"VM-LIVE-1,{guardian},{ward},Ola Verge,helse,2020-01-01,\n",
            encoding="utf-8",
        )
        idp(env, "guardians", "import", str(mandates))
        # Registered for the type (RFC 9396 §10) as support does it.
        client = json.loads(
            idp(
                env, "clients", "add", "--name", "Helsetjenesten", "--redirect-uri", CALLBACK,
                "--scope", "openid profile pid", "--authorization-details-type", FULLMAKT, "--json",
            ).stdout
        )  # fmt: skip
        server = LiveServer(env)
        try:
            yield {"env": env, "server": server, "client": client, "guardian": guardian, "ward": ward}
        finally:
            server.close()


def authorize_url(live) -> str:
    params = {
        "response_type": "code",
        "client_id": live["client"]["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "openid pid",
        "state": "s1",
        "nonce": "n1",
        "authorization_details": json.dumps([{"type": FULLMAKT, "permission_roles": ["helse"]}]),
    }
    return f"{live['server'].url}/authorize?{urlencode(params)}"


def back_at_client(page) -> dict[str, str]:  # noqa: F811 - the fixture's name
    """Catch the redirect to the relying party; its query parameters."""
    caught: dict[str, str] = {}

    def answer(route):
        caught.update({k: v[0] for k, v in parse_qs(urlsplit(route.request.url).query).items()})
        route.fulfill(status=200, body="ok", content_type="text/plain")

    page.route(f"{CALLBACK}**", answer)
    return caught


def tokens(live, code: str) -> dict:
    client = live["client"]
    answer = requests.post(
        f"{live['server'].url}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def id_token_claims(value: str) -> dict:
    payload = value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_guardian_chooses_a_ward_then_the_revoked_mandate_is_gone(live, page):  # noqa: F811
    caught = back_at_client(page)
    page.goto(authorize_url(live))
    page.get_by_label("Fødselsnummer").fill(live["guardian"])
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Neste", exact=True).click()
    page.get_by_role("heading", name="Hvem handler du på vegne av?").wait_for()
    assert page.get_by_label("Meg selv (Vera Verge)").is_visible()
    page.get_by_label("Ola Verge").check()
    page.get_by_role("button", name="Fortsett", exact=True).click()
    page.wait_for_url(f"{CALLBACK}**")
    assert caught["state"] == "s1"
    answer = tokens(live, caught["code"])
    granted = answer["authorization_details"]
    assert granted[0]["authorizer"] == {"name": "Ola Verge", "pid": live["ward"]}
    assert granted[0]["authorized_representative"] == {"name": "Vera Verge", "pid": live["guardian"]}
    claims = id_token_claims(answer["id_token"])
    assert claims["authorization_details"] == granted and claims["pid"] == live["guardian"]

    idp(live["env"], "guardians", "revoke", "VM-LIVE-1")
    caught.clear()
    page.goto(authorize_url(live))
    # The SSO session: no password this time, but the chooser again, now without the ward.
    page.get_by_role("heading", name="Hvem handler du på vegne av?").wait_for()
    assert page.get_by_label("Ola Verge").count() == 0
    page.get_by_label("Meg selv (Vera Verge)").check()
    page.get_by_role("button", name="Fortsett", exact=True).click()
    page.wait_for_url(f"{CALLBACK}**")
    assert tokens(live, caught["code"])["authorization_details"] == []
