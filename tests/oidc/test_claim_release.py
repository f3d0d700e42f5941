"""The release rule as an attacker meets it: no claim leaves without a granted scope that carries it.

Granted means registered for the client and asked for in this request. The
``claims`` parameter may ask for a claim in the ID token that a granted scope
carries; it never adds one. Each place claims are released is tried: the ID
token from the code and from refresh, and userinfo.
"""

from __future__ import annotations

import json

from idp.extensions import db
from tests.conftest import PASSWORD, add_client
from tests.flows import basic, login_for_code
from tests.oidc.test_code_flow import exchange, verify_id_token

PERSONAL = ("pid", "address", "email", "email_verified", "phone_number", "phone_number_verified")

GREEDY_CLAIMS = json.dumps(
    {
        "id_token": {"pid": None, "address": None, "email": {"essential": True}, "phone_number": None},
        "userinfo": {"pid": {"essential": True}, "address": None, "email": None, "phone_number": None},
    }
)


def _tokens(http, citizen, *, client_id: str, secret: str, **params) -> dict:
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id=client_id, **params)
    response = exchange(http, back["code"], auth=(client_id, secret))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _userinfo(http, access_token: str) -> dict:
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_claims_parameter_cannot_release_what_the_registered_scopes_do_not(app, citizen):
    add_client(client_id="narrow", secret="narrow-secret", scope="openid profile")
    http = app.test_client()
    tokens = _tokens(
        http,
        citizen,
        client_id="narrow",
        secret="narrow-secret",
        scope="openid profile pid email phone address",
        claims=GREEDY_CLAIMS,
    )
    assert tokens["scope"] == "openid profile"
    id_token = verify_id_token(http, tokens["id_token"], audience="narrow")
    info = _userinfo(http, tokens["access_token"])
    for claim in PERSONAL:
        assert claim not in id_token
        assert claim not in info
    assert info["name"] == "Kari Nordmann"
    assert citizen.pid not in json.dumps(id_token) + json.dumps(info)


def test_claims_parameter_cannot_release_what_the_request_did_not_ask_scope_for(app, citizen, rp):
    # rp is registered for every scope; this request asks only for openid.
    http = app.test_client()
    tokens = _tokens(http, citizen, client_id="rp1", secret="rp1-secret", scope="openid", claims=GREEDY_CLAIMS)
    id_token = verify_id_token(http, tokens["id_token"])
    info = _userinfo(http, tokens["access_token"])
    assert set(info) == {"sub"}
    assert not set(PERSONAL) & set(id_token)


def test_claims_parameter_moves_a_granted_claim_into_the_id_token(app, citizen, rp):
    http = app.test_client()
    claims = json.dumps({"id_token": {"email": None, "address": None}})
    tokens = _tokens(http, citizen, client_id="rp1", secret="rp1-secret", scope="openid email", claims=claims)
    id_token = verify_id_token(http, tokens["id_token"])
    assert id_token["email"] == "kari@example.org"
    assert "address" not in id_token  # its scope was not asked for
    assert "pid" not in id_token


def test_refresh_releases_no_more_than_the_code(app, citizen):
    add_client(
        client_id="narrow", secret="narrow-secret", scope="openid profile offline_access",
        grant_types=("authorization_code", "refresh_token"),
    )  # fmt: skip
    http = app.test_client()
    tokens = _tokens(
        http,
        citizen,
        client_id="narrow",
        secret="narrow-secret",
        scope="openid offline_access pid",
        claims=GREEDY_CLAIMS,
    )
    refreshed = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic("narrow", "narrow-secret"),
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    id_token = verify_id_token(http, refreshed.get_json()["id_token"], audience="narrow")
    assert not set(PERSONAL) & set(id_token)
    assert set(_userinfo(http, refreshed.get_json()["access_token"])) == {"sub"}


def test_a_scope_removed_from_the_client_stops_its_claims_at_userinfo(app, citizen, rp):
    http = app.test_client()
    tokens = _tokens(http, citizen, client_id="rp1", secret="rp1-secret", scope="openid pid email")
    assert _userinfo(http, tokens["access_token"])["pid"] == citizen.pid
    rp.scope = "openid email"
    db.session.commit()
    info = _userinfo(http, tokens["access_token"])
    assert "pid" not in info
    assert info["email"] == "kari@example.org"
