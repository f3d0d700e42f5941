"""oidcc-formpost-basic-certification-test-plan: the Basic modules with response_mode=form_post.

The suite runs the Basic plan's modules again with form_post; the ones below
are those whose response differs. The page must work without JavaScript
(a visible submit button) and may not use inline script (our CSP forbids it).
"""

from __future__ import annotations

import re
import time

import requests

from tests.conformance.browserless import parse
from tests.conformance.suite import (
    authorize,
    check_error_callback,
    check_userinfo,
    code_flow,
    userinfo,
)


def test_form_post_page_works_without_javascript(provider):
    page = requests.get(provider.authorize_url(provider.clients["basic"], response_mode="form_post", prompt="none"),
                        allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    form = parse(page.text).forms[0]
    assert form["method"].lower() == "post" and form["action"] == provider.clients["basic"].redirect_uri
    assert re.search(r'<button type="submit"', page.text)
    assert not re.search(r"<script>(?!</script>)|onload=", page.text), "inline script is blocked by our CSP"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_oidcc_server_form_post(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp, response_mode="form_post")
    check_userinfo(userinfo(provider, flow.tokens["access_token"]), flow.claims)


def test_oidcc_server_client_secret_post_form_post(provider):
    code_flow(provider, provider.clients["post"], response_mode="form_post")


def test_oidcc_prompt_none_not_logged_in_form_post(provider):
    flow = authorize(provider, provider.clients["basic"], response_mode="form_post", prompt="none",
                     expect_login=False)
    check_error_callback(provider, flow, "login_required")


def test_oidcc_prompt_none_logged_in_form_post(provider):
    rp = provider.clients["basic"]
    first = code_flow(provider, rp, response_mode="form_post")
    code_flow(provider, rp, browser=first.browser, response_mode="form_post", prompt="none", expect_login=False)


def test_oidcc_max_age_1_form_post(provider):
    rp = provider.clients["basic"]
    first = code_flow(provider, rp, response_mode="form_post")
    time.sleep(1.5)
    second = code_flow(provider, rp, browser=first.browser, response_mode="form_post", max_age="1",
                       expect_login=True)
    assert second.claims["auth_time"] > first.claims["auth_time"]


def test_oidcc_response_type_missing_form_post(provider):
    flow = authorize(provider, provider.clients["basic"], response_mode="form_post", response_type=None,
                     expect_login=False)
    check_error_callback(provider, flow, "invalid_request", "unsupported_response_type")


def test_unsupported_response_mode_is_invalid_request(provider):
    flow = authorize(provider, provider.clients["basic"], response_mode="web_message", expect_login=False)
    check_error_callback(provider, flow, "invalid_request")
