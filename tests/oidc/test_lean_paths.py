"""The lean paths answer exactly as the Flask + Authlib path does, and do answer the common requests.

Every case is played twice on fresh artefacts: once through the whole stack
(lean paths on) and once with the lean routes removed, so Flask and Authlib
answer alone. Status, error code and the shape of tokens, ID tokens, userinfo
and introspection answers must be the same. The corpus: valid requests, replays,
another client's artefacts, wrong and missing PKCE verifiers, expired ones,
wrong secrets and malformed bodies.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import PASSWORD, add_client
from tests.flows import REDIRECT_URI, basic, login_for_code, pkce_pair

FORM = "application/x-www-form-urlencoded"
VOLATILE_CLAIMS = {"iat", "exp", "auth_time", "at_hash", "sid", "nonce"}


@dataclass
class Play:
    """One run of a case: the app, its citizen, and the Flask views its last request reached."""

    app: object
    citizen: object
    clock: object
    views: list[str] = field(default_factory=list)

    @property
    def http(self):
        return self.app.test_client()

    def code(self, client_id: str = "rp1", **params: str) -> str:
        return login_for_code(self.http, pid=self.citizen.pid, password=PASSWORD, client_id=client_id, **params)["code"]

    def token(self, form: dict[str, str], auth: tuple[str, str] | None = ("rp1", "rp1-secret"), **kwargs):
        self.views.clear()
        return self.http.post("/token", data=form, headers=basic(*auth) if auth else {}, **kwargs)

    def exchange(self, code: str, auth=("rp1", "rp1-secret"), **extra: str):
        return self.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}, auth
        )

    def tokens(self, scope: str = "openid profile offline_access") -> dict:
        answer = self.exchange(self.code(scope=scope))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    def refresh(self, refresh_token: str, auth=("rp1", "rp1-secret"), **extra: str):
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, auth)

    def userinfo(self, access_token: str, scheme: str = "Bearer"):
        self.views.clear()
        return self.http.get("/userinfo", headers={"Authorization": f"{scheme} {access_token}"})

    def introspect(self, token: str, auth=("rp1", "rp1-secret"), **extra: str):
        self.views.clear()
        return self.http.post("/introspect", data={"token": token, **extra}, headers=basic(*auth))


def _spent(play: Play, **extra):
    code = play.code()
    play.exchange(code)
    return play.exchange(code, **extra)


def _pkce(play: Play, verifier_of: Callable[[str], str | None]):
    verifier, challenge = pkce_pair()
    code = play.code(code_challenge=challenge, code_challenge_method="S256")
    chosen = verifier_of(verifier)
    return play.exchange(code, **({"code_verifier": chosen} if chosen is not None else {}))


def _rotated(play: Play):
    first = play.tokens()
    play.refresh(first["refresh_token"])
    return play.refresh(first["refresh_token"])


def _expired_code(play: Play):
    code = play.code()
    play.clock.advance(minutes=30)
    return play.exchange(code)


def _raw(play: Play, body: bytes, content_type: str = FORM):
    play.views.clear()
    return play.http.post("/token", data=body, headers={**basic("rp1", "rp1-secret"), "Content-Type": content_type})


CASES: dict[str, Callable[[Play], object]] = {
    # The token endpoint: codes.
    "code": lambda p: p.exchange(p.code(scope="openid profile pid")),
    "code without openid": lambda p: p.exchange(p.code(scope="profile")),
    "code, secret in the body for a basic client": lambda p: p.exchange(
        p.code(), auth=None, client_id="rp1", client_secret="rp1-secret"
    ),
    "code, client_secret_post": lambda p: p.exchange(
        p.code(client_id="rp4"), auth=None, client_id="rp4", client_secret="rp4-secret"
    ),
    "code, client_secret_post, wrong secret": lambda p: p.exchange(
        p.code(client_id="rp4"), auth=None, client_id="rp4", client_secret="wrong"
    ),
    "code, client_secret_post client using basic": lambda p: p.exchange(
        p.code(client_id="rp4"), auth=("rp4", "rp4-secret")
    ),
    "code with PKCE": lambda p: _pkce(p, lambda verifier: verifier),
    "code, wrong verifier": lambda p: _pkce(p, lambda _verifier: pkce_pair()[0]),
    "code, no verifier": lambda p: _pkce(p, lambda _verifier: None),
    "code, malformed verifier": lambda p: _pkce(p, lambda _verifier: "short"),
    "verifier without a challenge": lambda p: p.exchange(p.code(), code_verifier=pkce_pair()[0]),
    "code replayed": _spent,
    "code of another client": lambda p: p.exchange(p.code(), auth=("rp2", "rp2-secret")),
    "code, wrong secret": lambda p: p.exchange(p.code(), auth=("rp1", "wrong")),
    "code, unknown client": lambda p: p.exchange(p.code(), auth=("nobody", "x")),
    "code, wrong redirect_uri": lambda p: p.exchange(p.code(), redirect_uri=REDIRECT_URI + "/other"),
    "code, no redirect_uri": lambda p: p.token({"grant_type": "authorization_code", "code": p.code()}),
    "code expired": _expired_code,
    "code unknown": lambda p: p.exchange("not-a-code"),
    "code, basic and body disagree": lambda p: p.exchange(p.code(), client_id="rp2"),
    "code, extra parameter": lambda p: p.exchange(p.code(), scope="openid pid"),
    "grant not registered": lambda p: p.exchange(p.code(client_id="rp3"), auth=("rp3", "rp3-secret")),
    "no grant_type": lambda p: p.token({"code": p.code()}),
    "unknown grant_type": lambda p: p.token({"grant_type": "password", "username": "x", "password": "y"}),
    "repeated parameter": lambda p: _raw(p, f"grant_type=authorization_code&code={p.code()}&code=x".encode()),
    "not UTF-8": lambda p: _raw(p, b"grant_type=authorization_code&code=\xff\xfe"),
    "JSON body": lambda p: _raw(p, json.dumps({"grant_type": "authorization_code"}).encode(), "application/json"),
    "empty body": lambda p: _raw(p, b""),
    # The token endpoint: refresh tokens.
    "refresh": lambda p: p.refresh(p.tokens()["refresh_token"]),
    "refresh without openid": lambda p: p.refresh(p.tokens(scope="profile offline_access")["refresh_token"]),
    "refresh rotated and replayed": _rotated,
    "refresh of another client": lambda p: p.refresh(p.tokens()["refresh_token"], auth=("rp2", "rp2-secret")),
    "refresh, narrower scope": lambda p: p.refresh(p.tokens()["refresh_token"], scope="openid"),
    "refresh, wider scope": lambda p: p.refresh(p.tokens()["refresh_token"], scope="openid pid"),
    "refresh, access token instead": lambda p: p.refresh(p.tokens()["access_token"]),
    # Userinfo.
    "userinfo": lambda p: p.userinfo(p.tokens(scope="openid profile email pid")["access_token"]),
    "userinfo without openid": lambda p: p.userinfo(p.tokens(scope="profile")["access_token"]),
    "userinfo, refresh token": lambda p: p.userinfo(p.tokens()["refresh_token"]),
    "userinfo, unknown token": lambda p: p.userinfo("nothing"),
    "userinfo, scheme case": lambda p: p.userinfo(p.tokens()["access_token"], scheme="bearer"),
    "userinfo after rotation": lambda p: p.userinfo(_rotated_access(p)),
    # Introspection.
    "introspect access token": lambda p: p.introspect(p.tokens()["access_token"]),
    "introspect refresh token": lambda p: p.introspect(p.tokens()["refresh_token"], token_type_hint="refresh_token"),
    "introspect another client's": lambda p: p.introspect(p.tokens()["access_token"], auth=("rp2", "rp2-secret")),
    "introspect, wrong secret": lambda p: p.introspect(p.tokens()["access_token"], auth=("rp1", "wrong")),
    "introspect unknown": lambda p: p.introspect("nothing"),
    "introspect, odd hint": lambda p: p.introspect(p.tokens()["access_token"], token_type_hint="id_token"),
}


def _rotated_access(play: Play) -> str:
    first = play.tokens()
    play.refresh(first["refresh_token"])
    return first["access_token"]


def _payload(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _shape(response) -> dict:
    """What must match: status, caching, error code, and each answer's members (values where stable)."""
    body = response.get_json(silent=True)
    shape: dict = {
        "status": response.status_code,
        "content_type": response.mimetype,
        "cache_control": response.headers.get("Cache-Control"),
    }
    if not isinstance(body, dict):
        return shape
    shape["error"] = body.get("error")
    shape["members"] = sorted(body)
    stable = {k: v for k, v in body.items() if k in ("token_type", "expires_in", "scope", "active", "client_id")}
    shape["values"] = stable
    shape["userinfo"] = {k: v for k, v in body.items() if k not in ("access_token", "refresh_token", "id_token")}
    if "access_token" in body:
        shape.pop("userinfo")
    if "id_token" in body:
        claims = _payload(body["id_token"])
        shape["id_token"] = {k: v for k, v in claims.items() if k not in VOLATILE_CLAIMS}
        shape["id_token_members"] = sorted(claims)
    if "exp" in body:
        shape["userinfo"] = {k: v for k, v in body.items() if k not in ("exp", "iat", "auth_time")}
    return shape


@pytest.fixture
def plays(app, citizen, rp, clock):
    add_client(client_id="rp2", secret="rp2-secret")
    add_client(client_id="rp3", secret="rp3-secret", grant_types=("authorization_code",))
    add_client(client_id="rp4", secret="rp4-secret", auth_method="client_secret_post")
    lean = app.wsgi_app
    while not hasattr(lean, "routes"):  # the LeanRoutes layer, under the hosts and documents layers
        lean = lean._app
    views = {name: app.view_functions[name] for name in ("oidc.token", "oidc.userinfo", "oidc.introspect")}
    play = Play(app, citizen, clock)

    def counted(name):
        @functools.wraps(views[name])  # the same name and module: Flask-WTF keeps them CSRF-exempt
        def view(*args, **kwargs):
            play.views.append(name)
            return views[name](*args, **kwargs)

        return view

    for name in views:
        app.view_functions[name] = counted(name)

    def run(case: Callable[[Play], object], *, lean_on: bool):
        routes = lean.routes
        if not lean_on:
            lean.routes = {}
        try:
            return case(play), list(play.views)
        finally:
            lean.routes = routes

    return run


@pytest.mark.parametrize("name", sorted(CASES))
def test_lean_and_flask_paths_answer_alike(plays, name):
    case = CASES[name]
    with_lean, _views = plays(case, lean_on=True)
    without, _views = plays(case, lean_on=False)
    assert _shape(with_lean) == _shape(without)


@pytest.mark.parametrize(
    "name", ["code", "code with PKCE", "code, client_secret_post", "refresh", "userinfo", "introspect access token"]
)
def test_common_requests_are_answered_without_flask(plays, name):
    response, views = plays(CASES[name], lean_on=True)
    assert response.status_code == 200
    assert views == []  # the views the last request reached
