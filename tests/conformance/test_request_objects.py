"""Signed request objects by value (OIDC Core §6.1, RFC 9101): what is accepted and what is refused."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conformance.suite import authorize, check_error_callback, code_flow


def _signed(provider, rp, key, **overrides) -> tuple[dict, str]:
    inner = provider.authorize_params(rp, scope="openid email")
    now = int(time.time())
    claims = {
        **inner,
        "iss": rp.client_id,
        "aud": provider.metadata["issuer"],
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return inner, jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def test_signed_request_object_by_value(provider):
    rp = provider.clients["pkjwt"]
    inner, request_object = _signed(provider, rp, rp.private_key)
    flow = code_flow(provider, rp, scope="openid", state=inner["state"], nonce=inner["nonce"], request=request_object)
    assert flow.claims["nonce"] == inner["nonce"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://someone-else.example"},
        {"iss": "another-client"},
        {"exp": int(time.time()) - 3600},
        {"client_id": "basic"},
    ],
    ids=["wrong-aud", "wrong-iss", "expired", "other-client-id"],
)
def test_request_object_claims_are_checked(provider, overrides):
    rp = provider.clients["pkjwt"]
    inner, request_object = _signed(provider, rp, rp.private_key, **overrides)
    flow = authorize(provider, rp, state=inner["state"], request=request_object, expect_login=False)
    check_error_callback(provider, flow, "invalid_request_object")


def test_request_object_signed_by_an_unknown_key_is_refused(provider):
    rp = provider.clients["pkjwt"]
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1"})  # same kid, other key
    inner, request_object = _signed(provider, rp, stranger)
    flow = authorize(provider, rp, state=inner["state"], request=request_object, expect_login=False)
    check_error_callback(provider, flow, "invalid_request_object")


def test_request_and_request_uri_together_are_invalid(provider):
    rp = provider.clients["pkjwt"]
    inner, request_object = _signed(provider, rp, rp.private_key)
    flow = authorize(
        provider, rp, request=request_object, request_uri=provider.receiver.url + "/request/signed", expect_login=False
    )
    check_error_callback(provider, flow, "invalid_request")


def test_hostile_values_do_not_break_error_responses(provider):
    rp = provider.clients["pkjwt"]
    header = base64.urlsafe_b64encode(json.dumps({"alg": 'ø"\\'}).encode()).rstrip(b"=").decode()
    flow = authorize(provider, rp, request=f"{header}.e30.c2ln", expect_login=False)
    check_error_callback(provider, flow, "invalid_request_object")
    url = provider.authorize_url(rp) + "&%22%C3%B8=1&%22%C3%B8=2"
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and "error=invalid_request" in answer.headers["Location"]
