"""A citizen's login through the hosted pages, step by step, against any node.

Every step takes the base URL of the node that should serve it, so a test can
send each request of one login to a different node. Cookies live in one jar
per citizen, as a browser behind one host name would keep them (cookies are
not port-specific, so nodes on 127.0.0.1 with different ports share them).

``complete_login_pages`` is the one place that knows what the login pages ask
for (today: national identity number and password). When a second factor is
added, only that function changes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Reply:
    status: int
    location: str
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text)


class Agent(Protocol):
    """A user agent (or relying party back channel) that does not follow redirects."""

    def request(self, method: str, url: str, *, data: dict | None = None, headers: dict | None = None) -> Reply: ...


class HttpAgent:
    """Real HTTP through requests, one cookie jar for every node."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.session = requests.Session()
        # The tests read the pages' English text; citizens get bokmål by default.
        self.session.headers["Accept-Language"] = "en"
        self.timeout = timeout

    def request(self, method: str, url: str, *, data: dict | None = None, headers: dict | None = None) -> Reply:
        response = self.session.request(
            method, url, data=data, headers=headers, allow_redirects=False, timeout=self.timeout
        )
        return Reply(response.status_code, response.headers.get("Location", ""), response.text)


class FlaskAgent:
    """The Flask test client of an in-process app; its base URL is ""."""

    def __init__(self, app) -> None:
        self.client = app.test_client()

    def request(self, method: str, url: str, *, data: dict | None = None, headers: dict | None = None) -> Reply:
        headers = {"Accept-Language": "en", **(headers or {})}  # the tests read the English pages
        response = self.client.open(url, method=method, data=data, headers=headers)
        return Reply(response.status_code, response.headers.get("Location", ""), response.get_data(as_text=True))


@dataclass(frozen=True)
class RelyingParty:
    client_id: str
    secret: str
    redirect_uri: str = "https://rp.example/callback"
    scope: str = "openid profile pid"


@dataclass
class Login:
    """One login's state as the relying party and the browser know it."""

    rp: RelyingParty
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    code: str | None = None
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class StepFailed(AssertionError):
    def __init__(self, step: str, reply: Reply) -> None:
        super().__init__(f"{step}: HTTP {reply.status} location={reply.location!r} body={reply.text[:500]!r}")
        self.reply = reply


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def authorize_url(base: str, login: Login) -> str:
    """Where the relying party sends the browser to start ``login``."""
    rp = login.rp
    query = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": rp.scope,
        "state": login.state,
        "nonce": login.nonce,
        "code_challenge": login.challenge,
        "code_challenge_method": "S256",
    }
    return base + "/authorize?" + urlencode(query)


def authorize(agent: Agent, base: str, login: Login) -> str:
    """The browser arrives at /authorize without a session; returns the login page's path."""
    reply = agent.request("GET", authorize_url(base, login))
    if reply.status != 302 or not urlsplit(reply.location).path.endswith("/login"):
        raise StepFailed("authorize", reply)
    return _path(reply.location)


def code_from(reply: Reply, login: Login) -> str:
    """The code in a redirect back to the relying party, after checking its state."""
    if reply.status != 302 or not reply.location.startswith(login.rp.redirect_uri):
        raise StepFailed("redirect to the relying party", reply)
    params = parse_qs(urlsplit(reply.location).query)
    if params.get("state") != [login.state] or "code" not in params:
        raise StepFailed("redirect without code or with a wrong state", reply)
    login.code = params["code"][0]
    return login.code


def login_page(agent: Agent, base: str, login_path: str) -> Reply:
    reply = agent.request("GET", base + login_path)
    if reply.status != 200:
        raise StepFailed("login page", reply)
    return reply


def submit_password(agent: Agent, base: str, login_path: str, page: Reply, pid: str, password: str) -> Reply:
    match = _CSRF.search(page.text)
    if match is None:
        raise StepFailed("login page without csrf_token", page)
    tx = parse_qs(urlsplit(login_path).query)["tx"][0]
    return agent.request(
        "POST", base + "/login", data={"csrf_token": match.group(1), "tx": tx, "pid": pid, "password": password}
    )


def complete_login_pages(
    agent: Agent, nodes: Iterator[str], login_path: str, pid: str, password: str, *, totp_secret: str | None = None
) -> str:
    """Every page of the hosted login, each step on the next node; returns the resume path.

    With ``totp_secret`` the citizen has an authenticator app: after the password comes
    the one-time code page, answered with the app's current code.
    """
    page = login_page(agent, next(nodes), login_path)
    reply = submit_password(agent, next(nodes), login_path, page, pid, password)
    if totp_secret is not None:
        if reply.status not in (302, 303) or "/login/step" not in reply.location:
            raise StepFailed("password, expecting the second factor", reply)
        step_path = _path(reply.location)
        step = agent.request("GET", next(nodes) + step_path)
        match = _CSRF.search(step.text)
        if step.status != 200 or match is None:
            raise StepFailed("second factor page", step)
        tx = parse_qs(urlsplit(step_path).query)["tx"][0]
        code = pyotp.TOTP(totp_secret).now()
        reply = agent.request(
            "POST", next(nodes) + step_path, data={"csrf_token": match.group(1), "tx": tx, "code": code}
        )
    if reply.status not in (302, 303) or "/authorize/resume" not in reply.location:
        raise StepFailed("login pages", reply)
    return _path(reply.location)


def resume(agent: Agent, base: str, login: Login, resume_path: str) -> str:
    """Back at /authorize/resume: the redirect to the relying party carries the code."""
    return code_from(agent.request("GET", base + resume_path), login)


def basic_auth(rp: RelyingParty) -> dict[str, str]:
    """HTTP Basic client authentication (client_secret_basic) for the back channel."""
    pair = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def exchange_code(agent: Agent, base: str, login: Login) -> dict[str, Any]:
    reply = agent.request(
        "POST",
        base + "/token",
        data={
            "grant_type": "authorization_code",
            "code": login.code,
            "redirect_uri": login.rp.redirect_uri,
            "code_verifier": login.verifier,
        },
        headers=basic_auth(login.rp),
    )
    if reply.status != 200:
        raise StepFailed("token", reply)
    login.tokens = reply.json()
    return login.tokens


def refresh(agent: Agent, base: str, login: Login) -> dict[str, Any]:
    reply = agent.request(
        "POST",
        base + "/token",
        data={"grant_type": "refresh_token", "refresh_token": login.tokens["refresh_token"]},
        headers=basic_auth(login.rp),
    )
    if reply.status != 200:
        raise StepFailed("refresh", reply)
    login.tokens = reply.json()
    return login.tokens


def userinfo(agent: Agent, base: str, access_token: str) -> dict[str, Any]:
    reply = agent.request("GET", base + "/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    if reply.status != 200:
        raise StepFailed("userinfo", reply)
    return reply.json()


def verify_id_token(id_token: str, jwks: dict, *, issuer: str, login: Login) -> dict[str, Any]:
    """The ID token's claims after checking signature, issuer, audience and nonce."""
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256", "PS256", "ES256"])
    claims = token.claims
    assert claims["iss"] == issuer
    assert claims["aud"] == login.rp.client_id
    assert claims["nonce"] == login.nonce
    return claims


def full_login(
    agent: Agent, nodes: Sequence[str], rp: RelyingParty, pid: str, password: str, *, totp_secret: str | None = None
) -> Login:
    """authorize → login pages → resume → token, each request on the next node in turn."""
    route = itertools.cycle(nodes)
    login = Login(rp)
    login_path = authorize(agent, next(route), login)
    resume_path = complete_login_pages(agent, route, login_path, pid, password, totp_secret=totp_secret)
    resume(agent, next(route), login, resume_path)
    exchange_code(agent, next(route), login)
    return login
