"""assurance.password_only: a citizen without a usable second factor may log in at the password's level."""

from __future__ import annotations

import pytest

from tests.mfa.flows import authorize, id_token_claims, query, submit_password


@pytest.fixture
def env(env):
    return {**env, "IDP_ASSURANCE_PASSWORD_ONLY": "true"}


def test_password_alone_reaches_low(app, citizen, rp):
    client = app.test_client()
    response = submit_password(client, authorize(client).location, pid=citizen.pid)
    back = client.get(response.location)
    claims = id_token_claims(client, query(back.location)["code"])
    assert claims["acr"] == "idporten-loa-low"
    assert claims["amr"] == ["pwd"]


def test_password_alone_does_not_reach_substantial(app, citizen, rp):
    client = app.test_client()
    response = submit_password(
        client, authorize(client, acr_values="idporten-loa-substantial").location, pid=citizen.pid
    )
    assert client.get(response.location).status_code == 403
