"""A client's jwks_uri at the token endpoint: cached, refetched within a cap, hostile hosts cost little.

Every client authenticates with ``private_key_jwt`` against keys on a local
host. A bogus code after good client authentication answers ``invalid_grant``;
failed client authentication answers ``invalid_client``: that tells the two apart.
"""

from __future__ import annotations

import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import add_client, make_config
from tests.hosts import http_answer

ISSUER = "http://127.0.0.1:5000"
DEADLINE = 2
SLACK = 1.5  # generous: the bound matters, not the speed


@pytest.fixture
def config(tmp_path, backend):
    return make_config(tmp_path, IDP_FETCH_DEADLINE_SECONDS=str(DEADLINE), **backend.env)


def _key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid or secrets.token_hex(8)})


def _jwks(*keys: ECKey) -> bytes:
    return http_answer({"keys": [key.as_dict(private=False) for key in keys]})


def _client_with_jwks_uri(host) -> str:
    client_id = "rp-" + secrets.token_hex(4)
    # A path of its own: the jwks_uri cache outlives the test, and ports are reused.
    add_client(
        client_id=client_id,
        secret=None,
        auth_method="private_key_jwt",
        jwks_uri=f"{host.url}/{client_id}/jwks.json",
    )
    return client_id


def _token_request(app, client_id: str, key: ECKey):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER + "/token", "jti": secrets.token_urlsafe(8)}
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, {**claims, "iat": now, "exp": now + 60}, key)
    return app.test_client().post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": "not-a-code",
            "redirect_uri": "https://rp.example/callback",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def _error(response) -> str:
    assert response.status_code in (400, 401), (response.status_code, response.get_data(as_text=True))
    return response.get_json()["error"]


def test_random_kids_refetch_the_jwks_uri_at_most_once_per_period(app, hosts):
    key = _key()
    host = hosts(_jwks(key))
    client_id = _client_with_jwks_uri(host)
    for _ in range(20):
        assert _error(_token_request(app, client_id, _key())) == "invalid_client"
    # The first request fetched the set; one unknown kid refetched it; the other 19 waited for the period.
    assert host.connections == 2
    assert _error(_token_request(app, client_id, key)) == "invalid_grant"  # the real key still authenticates
    assert host.connections == 2


def test_rotated_keys_are_followed_at_once(app, hosts):
    old, new = _key("old"), _key("new")
    host = hosts(_jwks(old))
    client_id = _client_with_jwks_uri(host)
    assert _error(_token_request(app, client_id, old)) == "invalid_grant"
    host.answer = _jwks(new)  # the relying party rotates
    assert _error(_token_request(app, client_id, new)) == "invalid_grant"
    assert host.connections == 2
    # The old key is gone; asking for it again does not refetch within the period.
    assert _error(_token_request(app, client_id, old)) == "invalid_client"
    assert host.connections == 2


def test_a_dripping_jwks_uri_costs_one_deadline_then_nothing(app, hosts):
    key = _key()
    host = hosts(_jwks(key), drip=0.5)
    client_id = _client_with_jwks_uri(host)
    started = time.monotonic()
    assert _error(_token_request(app, client_id, key)) == "invalid_client"
    assert time.monotonic() - started < DEADLINE + SLACK
    # A failed fetch is not tried again within the period: the next requests answer at once.
    started = time.monotonic()
    for _ in range(5):
        assert _error(_token_request(app, client_id, key)) == "invalid_client"
    assert time.monotonic() - started < SLACK
    assert host.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        http_answer("not json"),
        http_answer({"keys": "none"}),
        http_answer({"keys": ["not a key", 7]}),
        http_answer({"keys": [{"kty": "EC", "kid": "k", "crv": "P-256", "x": "bad"}]}),
        http_answer({"keys": [{"kty": ["EC"], "kid": "k"}]}),
        http_answer([1, 2]),
        http_answer({"keys": [], "pad": "x" * 70000}),
        http_answer("", status="302 Found", headers={"Location": "http://169.254.169.254/"}),
        http_answer("", status="500 Internal Server Error"),
    ],
    ids=[
        "not-json",
        "keys-not-list",
        "keys-not-objects",
        "bad-key",
        "kty-not-string",
        "not-object",
        "too-large",
        "redirect",
        "500",
    ],
)
def test_a_hostile_jwks_document_is_invalid_client_never_a_server_error(app, hosts, answer):
    host = hosts(answer)
    client_id = _client_with_jwks_uri(host)
    assert _error(_token_request(app, client_id, _key("k"))) == "invalid_client"
