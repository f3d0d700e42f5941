"""oidcc-config-certification-test-plan: discovery and JWKS, checked as the suite does."""

from __future__ import annotations

import base64

import requests

REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_oidcc_discovery_endpoint_verification(provider):
    answer = requests.get(provider.url + "/.well-known/openid-configuration", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    meta = answer.json()
    for name in REQUIRED:
        assert name in meta, name
    # The issuer is exactly the URL discovery was fetched under (OIDC Discovery §4.3).
    assert meta["issuer"] == provider.url
    for name, value in meta.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            # Only plain http here because the test issuer is local; a deployment's issuer is https.
            assert value.startswith(meta["issuer"].split(":")[0] + "://"), name
            assert value.startswith(meta["issuer"]), name
    assert "openid" in meta["scopes_supported"]
    assert "code" in meta["response_types_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert set(meta["subject_types_supported"]) <= {"public", "pairwise"}
    assert set(meta["grant_types_supported"]) >= {"authorization_code"}
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    assert {"sub", "iss", "auth_time", "acr"} <= set(meta["claims_supported"])
    assert meta["claims_parameter_supported"] is True
    assert meta["request_parameter_supported"] is True
    assert meta["request_uri_parameter_supported"] is True
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert meta["code_challenge_methods_supported"] == ["S256"]
    # Everything announced answers.
    for endpoint in (
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "pushed_authorization_request_endpoint",
        "registration_endpoint",
        "userinfo_endpoint",
    ):
        assert requests.post(meta[endpoint], timeout=10).status_code != 404, endpoint


def test_oidcc_discovery_jwks(provider):
    meta = provider.metadata
    answer = requests.get(meta["jwks_uri"], timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    keys = answer.json()["keys"]
    assert keys
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids)), "every kid is unique"
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), "no private key material"
        assert key.get("use", "sig") == "sig"
        if key["kty"] == "RSA":
            bits = len(base64.urlsafe_b64decode(key["n"] + "==")) * 8
            assert bits >= 2048
            assert key["e"] == "AQAB"
        elif key["kty"] == "EC":
            assert key["crv"] == "P-256"
        else:
            raise AssertionError(f"unexpected key type {key['kty']}")
    kinds = {"RSA" if alg in ("RS256", "PS256") else "EC" for alg in meta["id_token_signing_alg_values_supported"]}
    assert kinds <= {k["kty"] for k in keys}, "a key for every advertised signing algorithm"


def test_discovery_lists_nothing_we_do_not_do(provider):
    meta = provider.metadata
    for unsupported in (
        "userinfo_signing_alg_values_supported",
        "id_token_encryption_alg_values_supported",
        "request_object_encryption_alg_values_supported",
        "check_session_iframe",
        "device_authorization_endpoint",
    ):
        assert unsupported not in meta
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]


def test_rfc8414_metadata_is_the_same(provider):
    answer = requests.get(provider.url + "/.well-known/oauth-authorization-server", timeout=10)
    assert answer.status_code == 200 and answer.json() == provider.metadata
