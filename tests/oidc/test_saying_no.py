"""Saying no instead of accepting quietly: scopes the client is not registered for, levels nobody reaches.

Discovery advertises only the acr values some configured factor reaches. A
voluntary acr_values above them asks for the best available; an essential acr
above them is refused at once with unmet_authentication_requirements (OpenID
Connect Core Unmet Authentication Requirements 1.0), without a login that
cannot succeed.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuthorizationCode
from tests.conftest import PASSWORD, add_client
from tests.flows import REDIRECT_URI, authorize_params, login_for_code, query
from tests.oidc.test_code_flow import exchange

LOW, SUBSTANTIAL, HIGH = "idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high"
ESSENTIAL_HIGH = json.dumps({"id_token": {"acr": {"essential": True, "value": HIGH}}})


def test_discovery_advertises_only_the_levels_a_configured_factor_reaches(app):
    # The test config's factors reach substantial (sms, totp) and low (pin); none reaches high.
    meta = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert meta["acr_values_supported"] == [LOW, SUBSTANTIAL]


def test_an_essential_acr_nobody_reaches_is_refused_before_any_login(app, rp):
    http = app.test_client()
    answer = http.get("/authorize", query_string=authorize_params(claims=ESSENTIAL_HIGH, state="st-h"))
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI)
    params = query(answer.location)
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == "st-h"
    assert params["iss"] == app.config["IDP"].server.issuer
    assert "code" not in params


def test_an_essential_acr_among_reachable_ones_goes_to_the_login(app, rp):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [HIGH, SUBSTANTIAL]}}})
    answer = app.test_client().get("/authorize", query_string=authorize_params(claims=claims))
    assert answer.status_code == 302 and answer.location.startswith("/login")


def test_voluntary_acr_values_nobody_reaches_ask_for_the_best_available(app, citizen, rp):
    http = app.test_client()
    answer = http.get("/authorize", query_string=authorize_params(acr_values=HIGH))
    assert answer.status_code == 302 and answer.location.startswith("/login")
    # The password alone reaches low, the best available is substantial: a minimum, never a downgrade.
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, acr_values=HIGH, state="st-v")
    assert back["error"] == "unmet_authentication_requirements" and back["state"] == "st-v"


def test_unregistered_scopes_are_dropped_and_the_granted_scope_returned(app, citizen):
    add_client(client_id="narrow", secret="narrow-secret", scope="openid profile")
    http = app.test_client()
    back = login_for_code(
        http, pid=citizen.pid, password=PASSWORD, client_id="narrow", scope="openid pid profile email unknown"
    )
    stored = db.session.scalars(sa.select(AuthorizationCode).filter_by(client_id="narrow")).one()
    assert stored.scope == "openid profile"
    tokens = exchange(http, back["code"], auth=("narrow", "narrow-secret")).get_json()
    assert tokens["scope"] == "openid profile"  # RFC 6749 §5.1: required when it differs from the request


def test_a_request_whose_scopes_are_all_unregistered_is_invalid_scope(app, citizen):
    add_client(client_id="narrow", secret="narrow-secret", scope="openid profile")
    answer = app.test_client().get(
        "/authorize", query_string=authorize_params(client_id="narrow", scope="pid email", state="st-s")
    )
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI)
    params = query(answer.location)
    assert params["error"] == "invalid_scope" and params["state"] == "st-s"


def test_refresh_cannot_widen_and_a_narrowed_refresh_says_what_it_granted(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, scope="openid profile email offline_access")
    tokens = exchange(http, back["code"]).get_json()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    wider = http.post("/token", data={**refresh, "scope": "openid profile pid"}, auth=("rp1", "rp1-secret"))
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    narrower = http.post("/token", data={**refresh, "scope": "openid offline_access"}, auth=("rp1", "rp1-secret"))
    assert narrower.status_code == 200, narrower.get_json()
    assert narrower.get_json()["scope"] == "openid offline_access"
