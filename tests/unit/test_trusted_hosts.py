"""Requests naming a host that is not ours are refused before any page or document is made."""

from __future__ import annotations

import pytest

from tests.conftest import build_app, make_config


@pytest.fixture
def default_app(tmp_path):
    # The shipped default: no trusted_hosts set, so only the issuer's host (127.0.0.1) is answered.
    config = make_config(tmp_path, IDP_SERVER_TRUSTED_HOSTS="")
    return build_app(config)


@pytest.mark.parametrize(
    "path", ["/", "/profile/activation", "/.well-known/openid-configuration", "/jwks", "/authorize", "/nowhere"]
)
@pytest.mark.parametrize("host", ["idp-login.evil.example", "127.0.0.1.evil.example", "localhost", "", "ä.example"])
def test_a_foreign_host_is_refused(default_app, path, host):
    response = default_app.test_client().get(path, headers={"Host": host})
    assert response.status_code == 400
    assert response.location is None
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the refusal is a response like any other


def test_the_issuers_host_is_answered_on_any_port(default_app):
    client = default_app.test_client()
    assert client.get("/", headers={"Host": "127.0.0.1:5000"}).status_code == 200
    assert client.get("/.well-known/openid-configuration", headers={"Host": "127.0.0.1"}).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_address_the_load_balancer_used(default_app, path):
    assert default_app.test_client().get(path, headers={"Host": "10.1.2.3:5000"}).status_code == 200


def test_a_forwarded_host_is_checked_behind_a_proxy(tmp_path):
    config = make_config(tmp_path, IDP_SERVER_TRUSTED_HOSTS="", IDP_SERVER_TRUST_PROXY_HEADERS="true")
    client = build_app(config).test_client()
    forged = client.get("/", headers={"Host": "127.0.0.1", "X-Forwarded-Host": "idp-login.evil.example"})
    assert forged.status_code == 400
    assert client.get("/", headers={"Host": "10.0.0.5", "X-Forwarded-Host": "127.0.0.1"}).status_code == 200


def test_a_leading_dot_trusts_subdomains(tmp_path):
    client = build_app(make_config(tmp_path, IDP_SERVER_TRUSTED_HOSTS=".login.example")).test_client()
    assert client.get("/", headers={"Host": "node1.login.example"}).status_code == 200
    assert client.get("/", headers={"Host": "login.example.evil"}).status_code == 400
