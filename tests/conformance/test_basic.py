"""oidcc-basic-certification-test-plan: one test per module, making the suite's checks."""

from __future__ import annotations

import time

import requests

from tests.conformance.suite import (
    authorize,
    check_error_callback,
    check_id_token,
    check_userinfo,
    code_flow,
    pkce,
    userinfo,
)


def test_oidcc_server(provider):
    rp = provider.clients["basic"]
    flow = code_flow(provider, rp)
    check_userinfo(userinfo(provider, flow.tokens["access_token"]), flow.claims)


def test_oidcc_server_client_secret_post(provider):
    rp = provider.clients["post"]
    flow = code_flow(provider, rp)
    check_userinfo(userinfo(provider, flow.tokens["access_token"]), flow.claims)


def test_oidcc_response_type_missing(provider):
    flow = authorize(provider, provider.clients["basic"], response_type=None, expect_login=False)
    check_error_callback(provider, flow, "invalid_request", "unsupported_response_type")
