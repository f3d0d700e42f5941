"""Driving the hosted login through the test client, step by step, as a browser without JavaScript."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime

from flask.testing import FlaskClient

from tests.conftest import PASSWORD
from tests.flows import REDIRECT_URI, hidden, query  # noqa: F401 - the mfa tests import them from here

BEFORE_CUTOFF = datetime(2022, 6, 1, 12, 0, tzinfo=UTC)  # PIN codes still accepted, letters no longer issued
AFTER_CUTOFF = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)


def authorize(client, **overrides: str):
    params = {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        **overrides,
    }
    return client.get("/authorize", query_string=params)


def password_step(client, citizen, *, password: str = PASSWORD, **params: str):
    """authorize → login page → POST the password; returns the POST's response."""
    response = authorize(client, **params)
    assert response.status_code == 302 and response.location.startswith("/login"), response.get_data(as_text=True)
    return submit_password(client, response.location, pid=citizen.pid, password=password)


def back_on(client, response, page: str):
    """Redirect after POST: when the POST sent the browser back to ``page``, that page as the browser sees it."""
    if response.status_code == 303 and response.location.startswith(page):
        return client.get(response.location)
    return response


def submit_password(client, location: str, *, pid: str, password: str = PASSWORD):
    """POST the password form; a refusal comes back as the login page (or the wait page) that the POST redirected to."""
    html = client.get(location).get_data(as_text=True)
    posted = client.post(
        "/login",
        data={"csrf_token": hidden(html, "csrf_token"), "tx": hidden(html, "tx"), "pid": pid, "password": password},
    )
    return back_on(client, posted, "/login?")


def tx_of(location: str) -> str:
    return query(location)["tx"]


def submit_code(client, tx: str, code: str):
    """POST a code on the current factor page of login ``tx``."""
    page = client.get(f"/login/step?tx={tx}")
    html = page.get_data(as_text=True)
    posted = client.post(
        f"/login/step?tx={tx}", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx, "code": code}
    )
    return back_on(client, posted, "/login/step")


def choose(client, tx: str, factor: str):
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    return client.post("/login/choose", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx, "factor": factor})


def post_form(client, page_html: str, action: str, **data: str):
    return client.post(action, data={"csrf_token": hidden(page_html, "csrf_token"), **data})


def finish(client, response) -> dict[str, str]:
    """Follow /authorize/resume back to the client; returns the redirect's query parameters."""
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    assert response.location.startswith("/authorize/resume"), response.location
    back = client.get(response.location)
    assert back.status_code in (302, 303) and back.location.startswith(REDIRECT_URI), back.get_data(as_text=True)
    return query(back.location)


def id_token_claims(client, code: str) -> dict:
    """Exchange the code and return the ID token's claims (the signature is the protocol tests' concern)."""
    auth = base64.b64encode(b"rp1:rp1-secret").decode()
    response = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Basic {auth}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    payload = response.get_json()["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class EnglishClient(FlaskClient):
    """The tests read the English source texts; bokmål is the default for citizens."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_cookie("lang", "en")


class SmsOutbox:
    """The ``file`` SMS gateway's JSON lines, as the tests read them."""

    def __init__(self, path):
        self.path = path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last_code(self) -> str:
        text = self.messages()[-1]["text"]
        return re.search(r"\b(\d{5})\b", text).group(1)
