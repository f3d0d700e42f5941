"""The logout plans: oidcc-rp-initiated-logout-, oidcc-backchannel-rp-initiated-logout- and
oidcc-frontchannel-rp-initiated-logout-certification-test-plan."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conformance.browserless import parse
from tests.conformance.suite import authorize, check_error_callback, code_flow

POST_LOGOUT = "https://rp.example/logged-out"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _end_session(provider, flow, method: str = "GET", **params: str | None) -> requests.Response:
    params = {k: v for k, v in params.items() if v is not None}
    url = provider.metadata["end_session_endpoint"]
    if method == "POST":
        return flow.browser.post(url, data=params, allow_redirects=False, timeout=10)
    return flow.browser.get(url + "?" + urlencode(params), allow_redirects=False, timeout=10)


def _assert_logged_out(provider, flow, rp) -> None:
    """After logout, prompt=none must fail: the session is gone (the suite's final step)."""
    again = authorize(provider, rp, browser=flow.browser, prompt="none", expect_login=False)
    check_error_callback(provider, again, "login_required")


def _assert_still_logged_in(provider, flow, rp) -> None:
    again = authorize(provider, rp, browser=flow.browser, prompt="none", expect_login=False)
    assert again.callback.get("code"), again.callback


def _no_redirect(answer: requests.Response) -> None:
    assert "Location" not in answer.headers, answer.headers.get("Location")
    assert answer.status_code in (200, 400)
    assert answer.headers["Content-Type"].startswith("text/html")


def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(provider):
    endpoint = provider.metadata["end_session_endpoint"]
    assert endpoint.startswith(provider.metadata["issuer"])


def test_oidcc_rp_initiated_logout(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(
        provider, flow, id_token_hint=flow.tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT, state="s1 ä&"
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == POST_LOGOUT
    assert parse_qs(location.query) == {"state": ["s1 ä&"]}
    _assert_logged_out(provider, flow, rp)


def test_rp_initiated_logout_by_post(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(
        provider,
        flow,
        "POST",
        id_token_hint=flow.tokens["id_token"],
        post_logout_redirect_uri=POST_LOGOUT,
        state="s2",
        client_id=rp.client_id,
    )
    assert answer.status_code == 302 and answer.headers["Location"] == POST_LOGOUT + "?state=s2"
    _assert_logged_out(provider, flow, rp)


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(
        provider,
        flow,
        id_token_hint=flow.tokens["id_token"],
        post_logout_redirect_uri="https://attacker.example/",
        state="s",
    )
    _no_redirect(answer)
    _assert_still_logged_in(provider, flow, rp)


def test_oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(
        provider,
        flow,
        id_token_hint=flow.tokens["id_token"],
        post_logout_redirect_uri=POST_LOGOUT + "?added=1",
        state="s",
    )
    _no_redirect(answer)


def test_oidcc_rp_initiated_logout_modified_id_token_hint(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    header, payload, signature = flow.tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    answer = _end_session(
        provider, flow, id_token_hint=f"{header}.{forged}.{signature}", post_logout_redirect_uri=POST_LOGOUT, state="s"
    )
    _no_redirect(answer)
    _assert_still_logged_in(provider, flow, rp)


def test_oidcc_rp_initiated_logout_bad_id_token_hint(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow, id_token_hint="not-a-jwt", post_logout_redirect_uri=POST_LOGOUT, state="s")
    _no_redirect(answer)


def test_oidcc_rp_initiated_logout_no_id_token_hint(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow, client_id=rp.client_id, post_logout_redirect_uri=POST_LOGOUT, state="s")
    _no_redirect(answer)
    # A confirmation page; confirming logs out and stays with us.
    form = parse(answer.text).forms[0]
    confirmed = flow.browser.post(provider.url + form["action"], data=form["fields"], allow_redirects=False)
    _no_redirect(confirmed)
    _assert_logged_out(provider, flow, rp)


def test_oidcc_rp_initiated_logout_no_params(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow)
    _no_redirect(answer)
    assert parse(answer.text).forms, "a confirmation form"


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow, id_token_hint=flow.tokens["id_token"])
    _no_redirect(answer)
    _assert_logged_out(provider, flow, rp)


def test_oidcc_rp_initiated_logout_no_state(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow, id_token_hint=flow.tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT)
    assert answer.status_code == 302 and answer.headers["Location"] == POST_LOGOUT
    _assert_logged_out(provider, flow, rp)


def test_oidcc_rp_initiated_logout_only_state(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    answer = _end_session(provider, flow, id_token_hint=flow.tokens["id_token"], state="only")
    _no_redirect(answer)
    _assert_logged_out(provider, flow, rp)


def test_oidcc_backchannel_logout_discovery_endpoint_verification(provider):
    meta = provider.metadata
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_oidcc_backchannel_rp_initiated_logout(provider):
    rp = provider.clients["backchannel"]
    flow = code_flow(provider, rp)
    started = time.monotonic()
    answer = _end_session(
        provider, flow, id_token_hint=flow.tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT, state="bc"
    )
    assert answer.status_code == 302 and answer.headers["Location"] == POST_LOGOUT + "?state=bc"
    assert time.monotonic() - started < 2, "the citizen never waits for relying parties"
    form = provider.receiver.wait_for_post("/backchannel")
    token = form["logout_token"][0]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "logout+jwt"
    assert header["alg"] in provider.metadata["id_token_signing_alg_values_supported"]
    claims = jwt.decode(token, KeySet.import_key_set(provider.jwks()), algorithms=[header["alg"]]).claims
    now = time.time()
    assert claims["iss"] == provider.metadata["issuer"]
    assert claims["aud"] == rp.client_id
    assert abs(claims["iat"] - now) < 300 and claims["exp"] > now
    assert claims["jti"]
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sid"] == flow.claims["sid"]
    assert claims["sub"] == flow.claims["sub"]
    assert "nonce" not in claims
    _assert_logged_out(provider, flow, rp)
    # Tokens of the ended session without offline_access no longer work.
    info = requests.get(
        provider.metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {flow.tokens['access_token']}"},
        timeout=10,
    )
    assert info.status_code == 401


def test_oidcc_frontchannel_logout_discovery_endpoint_verification(provider):
    meta = provider.metadata
    assert meta["frontchannel_logout_supported"] is True
    assert meta["frontchannel_logout_session_supported"] is True


def test_oidcc_frontchannel_rp_initiated_logout(provider):
    rp = provider.clients["frontchannel"]
    flow = code_flow(provider, rp)
    answer = _end_session(
        provider, flow, id_token_hint=flow.tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT, state="fc"
    )
    assert answer.status_code == 200
    page = parse(answer.text)
    assert len(page.iframes) == 1
    frame = urlsplit(page.iframes[0])
    assert f"{frame.scheme}://{frame.netloc}{frame.path}" == "https://rp.example/frontchannel"
    assert parse_qs(frame.query) == {"from": ["op"], "iss": [provider.metadata["issuer"]], "sid": [flow.claims["sid"]]}
    assert "frame-src https://rp.example" in answer.headers["Content-Security-Policy"]
    # Then on to the relying party, with its state: a link for people, a script once the frames have
    # loaded, and the Refresh header after a bounded wait for browsers (and drivers) without script.
    assert page.links["continue"] == POST_LOGOUT + "?state=fc"
    seconds, _sep, target = answer.headers["Refresh"].partition("; url=")
    assert 0 < int(seconds) <= 5
    assert target == POST_LOGOUT + "?state=fc"
    _assert_logged_out(provider, flow, rp)


def test_cross_site_logout_post_is_resent_as_get(provider):
    answer = requests.post(
        provider.metadata["end_session_endpoint"],
        data={"state": "x", "client_id": "basic"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/logout?state=x&client_id=basic"


def test_backchannel_logout_never_makes_the_citizen_wait(provider):
    basic, slow = provider.clients["basic"], provider.clients["slow"]
    flow = code_flow(provider, slow)
    code_flow(provider, basic, browser=flow.browser, expect_login=False)  # SSO: two clients in one session
    started = time.monotonic()
    answer = _end_session(provider, flow, id_token_hint=flow.tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT)
    assert answer.status_code == 302
    assert time.monotonic() - started < 2.5, "the slow relying party answers only after 3 s"
    assert provider.receiver.wait_for_post("/slow-backchannel")["logout_token"]
