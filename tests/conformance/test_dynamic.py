"""oidcc-dynamic-certification-test-plan (code flow): clients register themselves, then log citizens in.

Registration is guarded by an initial access token (see conftest); the
suite's sector_identifier_uri, jwks_uri and request_uri documents are served
by a local receiver over http, since tests cannot reach the internet.
"""

from __future__ import annotations

import base64
import json
import time

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conformance.conftest import INITIAL_ACCESS_TOKEN
from tests.conformance.suite import RP, authorize, check_error_callback, code_flow, userinfo
from tests.live import idp

REDIRECT = "https://rp.example/dyn/cb"


def register(provider, token: str | None = INITIAL_ACCESS_TOKEN, **metadata) -> requests.Response:
    body = {
        "redirect_uris": [REDIRECT],
        "client_name": "Dynamisk tjeneste",
        "grant_types": ["authorization_code", "refresh_token"],
        **metadata,
    }
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(provider.metadata["registration_endpoint"], json=body, headers=headers, timeout=10)


def registered(provider, key: RSAKey | None = None, **metadata) -> tuple[RP, dict]:
    answer = register(provider, **metadata)
    assert answer.status_code == 201, answer.text
    assert "no-store" in answer.headers["Cache-Control"]
    body = answer.json()
    if "client_secret" in body:
        assert body["client_secret_expires_at"] == 0
    rp = RP(
        body["client_id"], body.get("client_secret"), body["redirect_uris"][0], body["token_endpoint_auth_method"], key
    )
    return rp, body


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_registration_needs_the_initial_access_token(provider):
    assert register(provider, token=None).status_code == 401
    assert register(provider, token="wrong").status_code == 401


def test_oidcc_server_dynamic(provider):
    rp, body = registered(provider)
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    code_flow(provider, rp)


def test_dynamic_client_never_gets_pid_even_by_the_claims_parameter(provider):
    rp, body = registered(provider, scope="openid profile pid")
    assert "pid" not in body["scope"].split()
    greedy = {"pid": {"essential": True}, "address": None, "email": None, "phone_number": None}
    flow = code_flow(
        provider, rp, scope="openid profile pid email", claims=json.dumps({"id_token": greedy, "userinfo": greedy})
    )
    info = userinfo(provider, flow.tokens["access_token"]).json()
    for claims in (flow.claims, info):
        assert not {"pid", "address", "email", "phone_number"} & set(claims), claims


def test_oidcc_idtoken_rs256(provider):
    rp, _ = registered(provider, id_token_signed_response_alg="RS256")
    flow = code_flow(provider, rp)
    assert json.loads(base64.urlsafe_b64decode(flow.tokens["id_token"].split(".")[0] + "=="))["alg"] == "RS256"


def test_oidcc_userinfo_rs256(provider):
    # Signed userinfo is not offered (not in discovery), so registering for it is refused and the suite skips it.
    assert "userinfo_signing_alg_values_supported" not in provider.metadata
    answer = register(provider, userinfo_signed_response_alg="RS256")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"


def test_oidcc_redirect_uri_regfrag(provider):
    answer = register(provider, redirect_uris=["https://rp.example/cb#fragment"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri"


def test_oidcc_redirect_uri_query_ok(provider):
    rp, _ = registered(provider, redirect_uris=["https://rp.example/cb?foo=bar"])
    flow = code_flow(provider, rp)
    assert flow.callback["code"]


def test_oidcc_redirect_uri_query_mismatch(provider):
    rp, _ = registered(provider, redirect_uris=["https://rp.example/cb?foo=bar"])
    answer = requests.get(
        provider.authorize_url(rp, redirect_uri="https://rp.example/cb?foo=zot"), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_oidcc_redirect_uri_query_added(provider):
    rp, _ = registered(provider)
    answer = requests.get(
        provider.authorize_url(rp, redirect_uri=REDIRECT + "?foo=bar"), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_oidcc_registration_logo_uri(provider):
    rp, body = registered(provider, logo_uri="https://rp.example/logo.png")
    assert body["logo_uri"] == "https://rp.example/logo.png"
    code_flow(provider, rp)


def test_oidcc_registration_policy_uri(provider):
    rp, body = registered(provider, policy_uri="https://rp.example/policy")
    assert body["policy_uri"] == "https://rp.example/policy"
    code_flow(provider, rp)


def test_oidcc_registration_tos_uri(provider):
    rp, body = registered(provider, tos_uri="https://rp.example/tos")
    assert body["tos_uri"] == "https://rp.example/tos"
    code_flow(provider, rp)


def _rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def test_oidcc_registration_jwks_uri(provider):
    key = _rsa("dyn-1")
    uri = provider.receiver.serve("/dyn/jwks-1.json", json.dumps({"keys": [key.as_dict(private=False)]}))
    rp, _ = registered(provider, key, token_endpoint_auth_method="private_key_jwt", jwks_uri=uri)
    code_flow(provider, rp)


def test_oidcc_refresh_token_rp_key_rotation(provider):
    first, second = _rsa("rot-1"), _rsa("rot-2")
    uri = provider.receiver.serve("/dyn/jwks-rot.json", json.dumps({"keys": [first.as_dict(private=False)]}))
    rp, _ = registered(
        provider, first, token_endpoint_auth_method="private_key_jwt", jwks_uri=uri, scope="openid offline_access"
    )
    flow = code_flow(provider, rp, scope="openid offline_access")
    # The relying party rotates: only the new key is published, and it signs the next assertion.
    provider.receiver.serve("/dyn/jwks-rot.json", json.dumps({"keys": [second.as_dict(private=False)]}))
    rp.private_key = second
    answer = provider.token(rp, grant_type="refresh_token", refresh_token=flow.tokens["refresh_token"])
    assert answer.status_code == 200, answer.text


def test_oidcc_registration_sector_uri(provider):
    uri = provider.receiver.serve("/dyn/sector.json", json.dumps([REDIRECT, "https://other.example/cb"]))
    rp, body = registered(provider, subject_type="pairwise", sector_identifier_uri=uri)
    other, _ = registered(
        provider, subject_type="pairwise", sector_identifier_uri=uri, redirect_uris=["https://other.example/cb"]
    )
    # One sector: the same pairwise sub for both clients.
    assert code_flow(provider, rp).claims["sub"] == code_flow(provider, other).claims["sub"]


def test_pairwise_client_on_several_hosts_needs_a_sector(provider):
    answer = register(provider, subject_type="pairwise", redirect_uris=[REDIRECT, "https://other.example/cb"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"


def test_oidcc_registration_sector_bad(provider):
    uri = provider.receiver.serve("/dyn/sector-bad.json", json.dumps(["https://elsewhere.example/cb"]))
    answer = register(provider, subject_type="pairwise", sector_identifier_uri=uri)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"


def test_oidcc_request_uri_unsigned(provider):
    uri = provider.receiver.url + "/dyn/request-unsigned.jwt"
    rp, _ = registered(provider, request_uris=[uri])
    inner = provider.authorize_params(rp)
    provider.receiver.serve("/dyn/request-unsigned.jwt", _unsigned(inner), "application/oauth-authz-req+jwt")
    code_flow(provider, rp, request_uri=uri, state=inner["state"], nonce=inner["nonce"])


def test_oidcc_request_uri_signed_rs256(provider):
    key = _rsa("req-1")
    uri = provider.receiver.url + "/dyn/request-signed.jwt"
    rp, _ = registered(
        provider,
        key,
        request_uris=[uri],
        request_object_signing_alg="RS256",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    inner = provider.authorize_params(rp, scope="openid email")
    now = int(time.time())
    signed = jwt.encode(
        {"alg": "RS256", "kid": "req-1"},
        {**inner, "iss": rp.client_id, "aud": provider.metadata["issuer"], "iat": now, "exp": now + 60},
        key,
    )
    provider.receiver.serve("/dyn/request-signed.jwt", signed, "application/oauth-authz-req+jwt")
    code_flow(provider, rp, request_uri=uri, state=inner["state"], nonce=inner["nonce"])
    # An unsigned object is refused for a client registered for RS256.
    provider.receiver.serve("/dyn/request-signed.jwt", _unsigned(inner), "application/oauth-authz-req+jwt")
    flow = authorize(provider, rp, request_uri=uri, state=inner["state"], expect_login=False)
    check_error_callback(provider, flow, "invalid_request_object")


def test_unregistered_request_uri_is_refused(provider):
    rp, _ = registered(provider)
    uri = provider.receiver.serve("/dyn/request-unregistered.jwt", _unsigned(provider.authorize_params(rp)))
    flow = authorize(provider, rp, request_uri=uri, expect_login=False)
    check_error_callback(provider, flow, "invalid_request_uri")


def test_oidcc_server_rotate_keys(provider):
    rp, _ = registered(provider)
    before = code_flow(provider, rp)
    old_kid = json.loads(base64.urlsafe_b64decode(before.tokens["id_token"].split(".")[0] + "=="))["kid"]
    idp(provider.env, "keys", "rotate", "--kind", "RS256", "--delay", "0")
    time.sleep(5.5)  # a running server looks for rotated keys every few seconds
    after = code_flow(provider, rp)
    new_kid = json.loads(base64.urlsafe_b64decode(after.tokens["id_token"].split(".")[0] + "=="))["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in provider.jwks()["keys"]}
    assert {old_kid, new_kid} <= kids, "the retired key stays published until its tokens expire"


def test_rfc7592_read_update_delete(provider):
    answer = register(provider)
    body = answer.json()
    manage = body["registration_client_uri"]
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    assert requests.get(manage, timeout=10).status_code == 401
    read = requests.get(manage, headers=auth, timeout=10)
    assert read.status_code == 200 and read.json()["client_id"] == body["client_id"]
    update = {k: v for k, v in read.json().items() if k != "registration_client_uri"}
    update["client_name"] = "Nytt navn"
    updated = requests.put(manage, json=update, headers=auth, timeout=10)
    assert updated.status_code == 200 and updated.json()["client_name"] == "Nytt navn"
    assert requests.delete(manage, headers=auth, timeout=10).status_code == 204
    assert requests.get(manage, headers=auth, timeout=10).status_code == 401


def test_oidcc_ensure_client_assertion_with_iss_aud_succeeds(provider):
    key = _rsa("aud-1")
    rp, _ = registered(
        provider, key, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
    )
    flow = authorize(provider, rp)
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "RS256", "kid": "aud-1"},
        {
            "iss": rp.client_id,
            "sub": rp.client_id,
            "aud": provider.metadata["issuer"],
            "iat": now,
            "exp": now + 60,
            "jti": f"jti-{now}",
        },
        key,
    )
    answer = requests.post(
        provider.metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": flow.callback["code"],
            "redirect_uri": rp.redirect_uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    # The same assertion again is a replay (jti): refused.
    flow = authorize(provider, rp, browser=flow.browser)
    replay = requests.post(
        provider.metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": flow.callback["code"],
            "redirect_uri": rp.redirect_uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"


def test_registered_default_max_age_applies(provider):
    rp, body = registered(provider, default_max_age=1, require_auth_time=True)
    assert body["default_max_age"] == 1
    first = code_flow(provider, rp)
    time.sleep(1.5)
    second = code_flow(provider, rp, browser=first.browser, expect_login=True)
    assert second.claims["auth_time"] > first.claims["auth_time"]
    assert register(provider, default_max_age="soon").status_code == 400
