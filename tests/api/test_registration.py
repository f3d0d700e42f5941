"""Dynamic registration (RFC 7591) and the client configuration endpoint (RFC 7592) share the admin API's checks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import build_app, replace

TOKEN = "initial-access-token-for-tests"


@pytest.fixture
def app(config, clock):
    app = build_app(replace(config, "registration", enabled=True, initial_access_token=TOKEN), clock)
    with app.app_context():
        yield app
        db.session.remove()


def register(http, **metadata):
    body = {"client_name": "Dynamisk", "redirect_uris": ["https://dyn.example/cb"], **metadata}
    return http.post("/register", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def test_self_registration_gets_no_admin_rights_and_no_plain_http(app):
    http = app.test_client()
    assert register(http, grant_types=["client_credentials"], scope="admin").status_code == 400
    quietly = register(http, scope="openid admin pid")
    assert quietly.status_code == 201 and quietly.get_json()["scope"] == "openid"
    refused = register(http, redirect_uris=["http://dyn.example/cb"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_redirect_uri"
    assert register(http, redirect_uris=["http://127.0.0.1:8080/cb"]).status_code == 201


def test_client_configuration_endpoint_reads_replaces_and_deletes(app):
    http = app.test_client()
    made = register(http).get_json()
    manage = {"Authorization": f"Bearer {made['registration_access_token']}"}
    uri = made["registration_client_uri"].removeprefix("http://127.0.0.1:5000")
    read = http.get(uri, headers=manage).get_json()
    assert read["client_name"] == "Dynamisk"
    assert read["registration_access_token"] == made["registration_access_token"]  # RFC 7592 §3
    assert read["registration_client_uri"] == made["registration_client_uri"]
    body = {"client_id": made["client_id"], "client_name": "Nytt navn", "redirect_uris": ["https://dyn.example/2"]}
    replaced = http.put(uri, json=body, headers=manage)
    assert replaced.status_code == 200
    assert replaced.get_json()["redirect_uris"] == ["https://dyn.example/2"]
    # A replacement is checked as a registration is: plain http refused, nothing changed.
    refused = http.put(uri, json={**body, "redirect_uris": ["http://dyn.example/3"]}, headers=manage)
    assert refused.status_code == 400
    assert http.get(uri, headers=manage).get_json()["redirect_uris"] == ["https://dyn.example/2"]
    assert (
        http.put(
            uri, json={**body, "grant_types": ["client_credentials"], "scope": "admin"}, headers=manage
        ).status_code
        == 400
    )
    assert http.delete(uri, headers=manage).status_code == 204
    assert http.get(uri, headers=manage).status_code == 401
    events = db.session.scalars(sa.select(AuditEvent.event).where(AuditEvent.client_id == made["client_id"])).all()
    assert events == ["client.created", "client.updated", "client.deleted"]
