"""With the production default (no networks allowed), URLs a client registered on our own
network are refused before any connection, and the client gets the spec's error.

The hosts listen on 127.0.0.1 and count connections, so "refused" means never contacted.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.extensions import db
from idp.models import LoginSession, SessionClient
from idp.oidc.logout import end_expired_sessions
from tests.conftest import add_client, make_config
from tests.flows import REDIRECT_URI, authorize_params, query
from tests.hosts import http_answer

INITIAL_ACCESS_TOKEN = "initial-access-token"
NAMES = ["127.0.0.1", "localhost"]  # a literal loopback address, and a name resolving to one


@pytest.fixture
def config(tmp_path, backend):
    return make_config(
        tmp_path,
        IDP_FETCH_ALLOW_NETWORKS="",
        IDP_REGISTRATION_ENABLED="true",
        IDP_REGISTRATION_INITIAL_ACCESS_TOKEN=INITIAL_ACCESS_TOKEN,
        **backend.env,
    )


@pytest.mark.parametrize("name", NAMES)
def test_jwks_uri_inside_is_invalid_client(app, hosts, name):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    host = hosts(http_answer({"keys": [key.as_dict(private=False)]}))
    add_client(
        client_id="rp-inside", secret=None, auth_method="private_key_jwt", jwks_uri=f"http://{name}:{host.port}/jwks"
    )
    claims = {"iss": "rp-inside", "sub": "rp-inside", "aud": "http://127.0.0.1:5000/token", "jti": "j1"}
    claims |= {"exp": 2_000_000_000, "iat": 1_700_000_000}
    answer = app.test_client().post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": "not-a-code",
            "redirect_uri": REDIRECT_URI,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key),
        },
    )
    assert answer.status_code in (400, 401) and answer.get_json()["error"] == "invalid_client"
    assert host.connections == 0


@pytest.mark.parametrize("name", NAMES)
def test_request_uri_inside_is_invalid_request_uri(app, hosts, name):
    host = hosts(http_answer("eyJhbGciOiJub25lIn0.e30.", headers={"Content-Type": "application/oauth-authz-req+jwt"}))
    request_uri = f"http://{name}:{host.port}/request.jwt"
    add_client(request_uris=[request_uri])
    answer = app.test_client().get("/authorize", query_string=authorize_params(request_uri=request_uri))
    assert answer.status_code == 302
    assert query(answer.location)["error"] == "invalid_request_uri"
    assert host.connections == 0


@pytest.mark.parametrize("name", NAMES)
def test_sector_identifier_uri_inside_is_invalid_client_metadata(app, hosts, name):
    host = hosts(http_answer(["https://rp.example/cb"]))
    sector = f"http://{name}:{host.port}/sector.json"
    metadata = {"redirect_uris": ["https://rp.example/cb"], "subject_type": "pairwise", "sector_identifier_uri": sector}
    answer = app.test_client().post(
        "/register",
        data=json.dumps(metadata),
        headers={"Authorization": f"Bearer {INITIAL_ACCESS_TOKEN}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_client_metadata"
    # The registrant learns that the URI is refused, not what its host resolved to.
    assert "127.0.0.1" not in answer.get_json()["error_description"].replace(sector, "")
    assert host.connections == 0


@pytest.mark.parametrize("name", NAMES)
def test_backchannel_logout_uri_inside_is_not_contacted(app, citizen, clock, hosts, name):
    host = hosts(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    add_client(backchannel_logout_uri=f"http://{name}:{host.port}/backchannel")
    moment = clock()
    session = LoginSession(
        cookie_hash="c" * 64,
        sid="ended-session",
        citizen=citizen,
        auth_time=moment,
        acr="idporten-loa-low",
        amr=["pwd"],
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + timedelta(minutes=1),
    )
    session.clients.append(SessionClient(client_id="rp1", first_at=moment))
    db.session.add(session)
    db.session.commit()
    clock.advance(minutes=2)
    assert end_expired_sessions() == 1  # the session still ends; only the notice is not sent
    assert host.connections == 0
