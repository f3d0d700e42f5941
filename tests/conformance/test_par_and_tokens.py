"""PAR (RFC 9126), revocation (RFC 7009) and introspection (RFC 7662) against the live provider.

No certification plan of the issue covers these; the tests follow the RFCs' requirements.
"""

from __future__ import annotations

import requests

from tests.conformance.suite import authorize, check_error_callback, code_flow, userinfo

URN = "urn:ietf:params:oauth:request_uri:"


def _push(provider, rp, **params):
    return provider.post("pushed_authorization_request_endpoint", rp, **provider.authorize_params(rp, **params))


def test_par_request_uri_is_single_use_and_bound_to_the_client(provider):
    rp = provider.clients["basic"]
    pushed = _push(provider, rp, scope="openid email", state="pushed-state", nonce=None)
    assert pushed.status_code == 201, pushed.text
    assert "no-store" in pushed.headers["Cache-Control"]
    body = pushed.json()
    assert body["request_uri"].startswith(URN)
    assert 60 <= body["expires_in"] <= 120
    flow = code_flow(
        provider,
        rp,
        request_uri=body["request_uri"],
        redirect_uri=None,
        scope=None,
        state=None,
        nonce=None,
        response_type="code",
    )
    assert flow.callback["state"] == "pushed-state"
    info = userinfo(provider, flow.tokens["access_token"]).json()
    assert "email" in info  # the pushed scope was used
    again = requests.get(
        provider.metadata["authorization_endpoint"],
        params={"client_id": rp.client_id, "request_uri": body["request_uri"]},
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 400 and "Location" not in again.headers
    other = _push(provider, rp).json()["request_uri"]
    stolen = requests.get(
        provider.metadata["authorization_endpoint"],
        params={"client_id": provider.clients["post"].client_id, "request_uri": other},
        allow_redirects=False,
        timeout=10,
    )
    assert stolen.status_code == 400 and "Location" not in stolen.headers


def test_par_needs_client_authentication_and_valid_parameters(provider):
    rp = provider.clients["basic"]
    endpoint = provider.metadata["pushed_authorization_request_endpoint"]
    anonymous = requests.post(endpoint, data=provider.authorize_params(rp), timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong_secret = requests.post(endpoint, data=provider.authorize_params(rp), auth=(rp.client_id, "x"), timeout=10)
    assert wrong_secret.status_code == 401
    bad_redirect = _push(provider, rp, redirect_uri="https://attacker.example/cb")
    assert bad_redirect.status_code == 400 and bad_redirect.json()["error"] == "invalid_request"
    assert "Location" not in bad_redirect.headers
    nested = _push(provider, rp, request_uri=URN + "x")
    assert nested.status_code == 400


def test_client_that_requires_par_cannot_skip_it(provider):
    rp = provider.clients["par"]
    flow = authorize(provider, rp, expect_login=False)
    check_error_callback(provider, flow, "invalid_request")
    pushed = _push(provider, rp, nonce=None).json()["request_uri"]
    flow = code_flow(
        provider, rp, request_uri=pushed, redirect_uri=None, scope=None, state=None, nonce=None, response_type=None
    )
    assert flow.claims["aud"] == rp.client_id


def test_introspection_reports_only_the_clients_own_live_tokens(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp, scope="openid profile offline_access")
    access, refresh = flow.tokens["access_token"], flow.tokens["refresh_token"]
    answer = provider.post("introspection_endpoint", rp, token=access)
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    body = answer.json()
    assert body["active"] is True
    assert body["client_id"] == rp.client_id and body["sub"] == flow.claims["sub"]
    assert set(body["scope"].split()) == {"openid", "profile", "offline_access"}
    assert body["exp"] > body["iat"]
    refresh_info = provider.post("introspection_endpoint", rp, token=refresh, token_type_hint="refresh_token").json()
    assert refresh_info["active"] is True and refresh_info["token_type"] == "refresh_token"
    assert provider.post("introspection_endpoint", provider.clients["post"], token=access).json() == {"active": False}
    assert provider.post("introspection_endpoint", rp, token="unknown").json() == {"active": False}
    public = provider.post("introspection_endpoint", provider.clients["public"], token=access)
    assert public.status_code in (400, 401) and public.json()["error"] == "invalid_client"


def test_revocation(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp, scope="openid offline_access")
    assert provider.post("revocation_endpoint", rp, token="unknown-token").status_code == 200  # RFC 7009 §2.2
    anonymous = requests.post(
        provider.metadata["revocation_endpoint"], data={"token": flow.tokens["access_token"]}, timeout=10
    )
    assert anonymous.status_code in (400, 401)
    revoked = provider.post(
        "revocation_endpoint", rp, token=flow.tokens["access_token"], token_type_hint="access_token"
    )
    assert revoked.status_code == 200
    assert userinfo(provider, flow.tokens["access_token"]).status_code == 401
    assert provider.post("introspection_endpoint", rp, token=flow.tokens["access_token"]).json() == {"active": False}

    second = code_flow(provider, rp, scope="openid offline_access")
    assert provider.post("revocation_endpoint", rp, token=second.tokens["refresh_token"]).status_code == 200
    # A revoked refresh token ends the grant: it cannot refresh, and its access token is gone too.
    refresh = provider.token(rp, grant_type="refresh_token", refresh_token=second.tokens["refresh_token"])
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert userinfo(provider, second.tokens["access_token"]).status_code == 401
