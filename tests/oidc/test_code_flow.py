"""The authorization code flow through the Flask test client: what a relying party sees."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from idp.extensions import db
from idp.models import AuditEvent, Client, Token
from idp.pid import generate_pid
from tests.conftest import PASSWORD, add_client
from tests.flows import REDIRECT_URI, authorize_params, basic, login_for_code, pkce_pair, query, submit_password

ISSUER = "http://127.0.0.1:5000"


def exchange(client, code: str, *, auth=("rp1", "rp1-secret"), **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    return client.post("/token", data=data, headers=basic(*auth) if auth else {})


def verify_id_token(client, id_token: str, *, audience: str = "rp1", alg: str = "RS256") -> dict:
    keys = KeySet.import_key_set(client.get("/jwks").get_json())
    token = jwt.decode(id_token, keys, algorithms=[alg])
    assert token.header["kid"] in {k.kid for k in keys.keys}
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == audience
    assert claims["exp"] > claims["iat"] >= time.time() - 300
    return claims


def test_code_flow_issues_verified_tokens_with_login_facts(app, citizen, rp, clock):
    http = app.test_client()
    back = login_for_code(
        http, pid=citizen.pid, password=PASSWORD, scope="openid profile pid", nonce="n-1", state="s-1"
    )
    assert back["state"] == "s-1"
    assert back["iss"] == ISSUER
    login_time = int(clock().timestamp())
    clock.advance(seconds=30)  # auth_time must be the login's, not the token's
    response = exchange(http, back["code"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert tokens["token_type"].lower() == "bearer"
    claims = verify_id_token(http, tokens["id_token"])
    assert claims["nonce"] == "n-1"
    assert claims["auth_time"] == login_time
    assert claims["acr"] == "idporten-loa-low"
    assert claims["amr"] == ["pwd"]
    assert claims["sid"]
    assert claims["pid"] == citizen.pid
    assert claims["sub"] != citizen.pid  # pairwise by default
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Kari Nordmann"


def test_nonce_only_when_sent(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, nonce=None)
    claims = verify_id_token(http, exchange(http, back["code"]).get_json()["id_token"])
    assert "nonce" not in claims


def test_sso_session_skips_the_login_page(app, citizen, rp):
    http = app.test_client()
    login_for_code(http, pid=citizen.pid, password=PASSWORD)
    again = http.get(
        "/authorize",
        query_string=authorize_params(scope="openid"),
    )
    assert again.status_code in (302, 303)
    assert again.location.startswith(REDIRECT_URI)
    assert "code" in query(again.location)


def test_wrong_password_says_so_without_naming_the_field_and_is_audited(app, citizen, rp):
    http = app.test_client()
    start = http.get(
        "/authorize",
        query_string=authorize_params(scope="openid", ui_locales="en"),
    )
    posted = submit_password(http, start.location, pid=citizen.pid, password="wrong-password")
    # Redirect after POST: the login page, drawn again, says what was wrong.
    assert posted.status_code == 303 and posted.location == start.location
    response = http.get(posted.location)
    assert response.status_code == 400
    assert "The national identity number or the password is wrong." in response.get_data(as_text=True)
    nobodys = generate_pid(birth_date=date(1985, 3, 9), synthetic=True)
    unknown = http.get(submit_password(http, start.location, pid=nobodys, password="whatever").location)
    assert "The national identity number or the password is wrong." in unknown.get_data(as_text=True)
    outcomes = db.session.scalars(sa.select(AuditEvent.outcome).filter_by(event="login.password")).all()
    assert outcomes == ["failure", "unknown_user"]
    assert all(
        e.pid_masked is None or e.pid_masked.endswith("*****") for e in db.session.scalars(sa.select(AuditEvent))
    )


def test_login_form_requires_csrf_token(app, citizen, rp):
    http = app.test_client()
    start = http.get(
        "/authorize",
        query_string=authorize_params(scope="openid"),
    )
    tx = query(start.location)["tx"]
    response = http.post("/login", data={"tx": tx, "pid": citizen.pid, "password": PASSWORD})
    # Refused before the password is looked at: back to the login page, which says why.
    assert response.status_code == 303 and response.location == start.location
    assert "Siden hadde vært åpen for lenge." in http.get(response.location).get_data(as_text=True)
    assert not db.session.scalars(sa.select(AuditEvent).filter_by(event="login.password")).all()
    assert http.get_cookie("idp_session") is None


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nobody"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "https://rp.example/callback?extra=1"},
        {"client_id": None},
    ],
    ids=["unknown-client", "unregistered-redirect", "altered-redirect", "missing-client"],
)
def test_bad_client_or_redirect_uri_gets_an_error_page_never_a_redirect(app, rp, params):
    response = app.test_client().get("/authorize", query_string=authorize_params(scope="openid", state="x", **params))
    assert response.status_code == 400
    assert response.location is None
    assert "invalid login request" in response.get_data(as_text=True) or "ugyldig" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=["implicit", "missing-response-type", "pkce-plain", "prompt-none-no-session"],
)
def test_errors_go_back_to_a_registered_redirect_uri_with_state_and_iss(app, rp, params, error):
    response = app.test_client().get("/authorize", query_string=authorize_params(scope="openid", state="st", **params))
    assert response.status_code in (302, 303)
    assert response.location.startswith(REDIRECT_URI)
    back = query(response.location)
    assert back["error"] == error
    assert back["state"] == "st"
    assert back["iss"] == ISSUER


def test_public_client_must_use_pkce_and_then_gets_tokens(app, citizen):
    add_client(client_id="spa", secret=None, auth_method="none")
    http = app.test_client()
    refused = http.get(
        "/authorize",
        query_string=authorize_params(client_id="spa", scope="openid"),
    )
    assert query(refused.location)["error"] == "invalid_request"
    verifier, challenge = pkce_pair()
    back = login_for_code(
        http,
        pid=citizen.pid,
        password=PASSWORD,
        client_id="spa",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    wrong = exchange(http, back["code"], auth=None, client_id="spa", code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.get_json()["error"] == "invalid_grant"
    back = login_for_code(
        http,
        pid=citizen.pid,
        password=PASSWORD,
        client_id="spa",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    ok = exchange(http, back["code"], auth=None, client_id="spa", code_verifier=verifier)
    assert ok.status_code == 200, ok.get_json()
    verify_id_token(http, ok.get_json()["id_token"], audience="spa")


def test_client_secret_post_and_wrong_secret(app, citizen):
    add_client(client_id="rp2", secret="rp2-secret", auth_method="client_secret_post")
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp2")
    wrong = exchange(http, back["code"], auth=None, client_id="rp2", client_secret="nope")
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_client"
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp2")
    basic_refused = exchange(http, back["code"], auth=("rp2", "rp2-secret"))
    assert basic_refused.get_json()["error"] == "invalid_client"  # registered for client_secret_post only
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp2")
    assert exchange(http, back["code"], auth=None, client_id="rp2", client_secret="rp2-secret").status_code == 200


def test_private_key_jwt_client_with_es256_id_tokens(app, citizen):
    key = ECKey.generate_key("P-256", parameters={"kid": "rp3-key"})
    add_client(
        client_id="rp3",
        secret=None,
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
        id_token_signed_response_alg="ES256",
    )
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp3")

    def assertion(jti: str) -> str:
        now = int(time.time())
        claims = {"iss": "rp3", "sub": "rp3", "aud": ISSUER + "/token", "jti": jti, "iat": now, "exp": now + 60}
        return jwt.encode({"alg": "ES256", "kid": "rp3-key"}, claims, key)

    form = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    ok = exchange(http, back["code"], auth=None, client_assertion=assertion("j1"), **form)
    assert ok.status_code == 200, ok.get_json()
    verify_id_token(http, ok.get_json()["id_token"], audience="rp3", alg="ES256")
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp3")
    replay = exchange(http, back["code"], auth=None, client_assertion=assertion("j1"), **form)
    assert replay.status_code == 400  # 401 is for the Authorization header (RFC 6749 §5.2)
    assert replay.get_json()["error"] == "invalid_client"


def test_a_private_key_jwt_client_that_changes_its_keys_is_followed_at_once(app, citizen):
    old, new = (ECKey.generate_key("P-256", parameters={"kid": kid}) for kid in ("rp4-old", "rp4-new"))
    add_client(client_id="rp4", secret=None, auth_method="private_key_jwt", jwks={"keys": [old.as_dict(private=False)]})
    http = app.test_client()
    form = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}

    def exchange_signed(key: ECKey, jti: str):
        back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="rp4")
        now = int(time.time())
        claims = {"iss": "rp4", "sub": "rp4", "aud": ISSUER + "/token", "jti": jti, "iat": now, "exp": now + 60}
        assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)
        return exchange(http, back["code"], auth=None, client_assertion=assertion, **form)

    assert exchange_signed(old, "j1").status_code == 200
    assert exchange_signed(old, "j2").status_code == 200  # from the parsed keys kept for this JWKS
    db.session.execute(
        sa.update(Client).where(Client.client_id == "rp4").values(jwks={"keys": [new.as_dict(private=False)]})
    )
    db.session.commit()
    assert exchange_signed(new, "j3").status_code == 200
    assert exchange_signed(old, "j4").get_json()["error"] == "invalid_client"


def test_code_is_single_use_and_reuse_revokes_its_tokens(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    first = exchange(http, back["code"]).get_json()
    second = exchange(http, back["code"])
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert info.status_code == 401
    assert "invalid_token" in info.headers["WWW-Authenticate"]


def test_code_expires_after_its_lifetime(app, citizen, rp, clock):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    clock.advance(seconds=61)
    response = exchange(http, back["code"])
    assert response.get_json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization_request(app, citizen):
    add_client(redirect_uris=(REDIRECT_URI, "https://rp.example/other"))
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    response = http.post(
        "/token",
        headers=basic("rp1", "rp1-secret"),
        data={"grant_type": "authorization_code", "code": back["code"], "redirect_uri": "https://rp.example/other"},
    )
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "password", "username": "x", "password": "y"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "made-up", "redirect_uri": REDIRECT_URI}, 400, "invalid_grant"),
    ],
    ids=["unsupported-grant", "missing-code", "unknown-code"],
)
def test_token_endpoint_errors(app, rp, data, status, error):
    response = app.test_client().post("/token", data=data, headers=basic("rp1", "rp1-secret"))
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_refresh_rotates_keeps_identity_and_detects_reuse(app, citizen, rp, clock):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, scope="openid offline_access")
    first = exchange(http, back["code"]).get_json()
    original = verify_id_token(http, first["id_token"])
    clock.advance(seconds=5)
    refreshed = http.post(
        "/token",
        headers=basic("rp1", "rp1-secret"),
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    second = refreshed.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    renewed = verify_id_token(http, second["id_token"])
    for claim in ("iss", "sub", "aud", "azp", "auth_time", "acr"):
        assert renewed[claim] == original[claim]
    assert renewed["iat"] > original["iat"]
    replay = http.post(
        "/token",
        headers=basic("rp1", "rp1-secret"),
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert replay.get_json()["error"] == "invalid_grant"
    # The replay revoked the whole family, the newest tokens included.
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 401
    revoked = db.session.scalars(sa.select(Token)).all()
    assert all(t.revoked_at is not None for t in revoked)


def test_refresh_token_is_bound_to_its_client(app, citizen, rp):
    add_client(client_id="other", secret="other-secret")
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    tokens = exchange(http, back["code"]).get_json()
    stolen = http.post(
        "/token",
        headers=basic("other", "other-secret"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert stolen.get_json()["error"] == "invalid_grant"


def test_no_refresh_token_for_clients_not_registered_for_it(app, citizen):
    add_client(grant_types=("authorization_code",))
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    assert "refresh_token" not in exchange(http, back["code"]).get_json()


def test_userinfo_by_post_form_and_errors(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, scope="openid email phone address")
    token = exchange(http, back["code"]).get_json()["access_token"]
    info = http.post("/userinfo", data={"access_token": token}).get_json()
    assert info["email"] == "kari@example.org"
    assert info["phone_number"] == "+4791234567"
    assert info["address"]["locality"] == "Oslo"
    assert "name" not in info  # profile was not granted
    missing = http.get("/userinfo")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.get_json()["error"] == "invalid_token"


def test_pairwise_subjects_differ_per_sector_and_public_is_the_pid(app, citizen):
    add_client(client_id="a", secret="a-secret", redirect_uris=("https://a.example/cb",))
    add_client(client_id="b", secret="b-secret", redirect_uris=("https://b.example/cb",))
    add_client(client_id="c", secret="c-secret", redirect_uris=("https://c.example/cb",), subject_type="public")
    http = app.test_client()
    subs = {}
    for cid, uri in (("a", "https://a.example/cb"), ("b", "https://b.example/cb"), ("c", "https://c.example/cb")):
        back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id=cid, redirect_uri=uri)
        response = http.post(
            "/token",
            headers=basic(cid, f"{cid}-secret"),
            data={"grant_type": "authorization_code", "code": back["code"], "redirect_uri": uri},
        )
        subs[cid] = verify_id_token(http, response.get_json()["id_token"], audience=cid)["sub"]
    assert subs["a"] != subs["b"]
    assert subs["c"] == citizen.pid
    assert len(subs["a"]) <= 255


def test_cancel_returns_access_denied(app, rp):
    http = app.test_client()
    start = http.get(
        "/authorize",
        query_string=authorize_params(scope="openid", state="c1"),
    )
    page = http.get(start.location).get_data(as_text=True)
    from tests.flows import hidden

    response = http.post("/authorize/cancel", data={"csrf_token": hidden(page, "csrf_token"), "tx": hidden(page, "tx")})
    back = query(response.location)
    assert back["error"] == "access_denied"
    assert back["state"] == "c1"


def test_discovery_and_jwks(app):
    http = app.test_client()
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == ISSUER
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[endpoint].startswith(ISSUER)
    assert "S256" in meta["code_challenge_methods_supported"]
    assert meta["acr_values_supported"][0] == "idporten-loa-low"
    raw = http.get("/jwks").get_data(as_text=True)
    keys = json.loads(raw)["keys"]
    assert len({k["kid"] for k in keys}) == len(keys) >= 2
    for private in ('"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"'):
        assert private not in raw


def test_security_headers_on_pages(app, rp):
    http = app.test_client()
    start = http.get(
        "/authorize",
        query_string=authorize_params(scope="openid"),
    )
    page = http.get(start.location)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert '<label for="pid">' in html


def test_a_login_below_the_requested_level_is_refused_not_downgraded(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, acr_values="idporten-loa-substantial", state="lvl")
    assert back["error"] == "unmet_authentication_requirements"
    assert back["state"] == "lvl"
    assert "code" not in back
