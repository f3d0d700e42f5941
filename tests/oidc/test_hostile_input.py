"""Hostile input the fuzz suite (tests/fuzz) found or security issue #9 listed, one test each.

Each gets the spec's error (``invalid_request``, ``invalid_client``...) or a
4xx page, never a 5xx, never a redirect it should not make, and never the
loss of a login the citizen completed.
"""

from __future__ import annotations

import base64

import pytest

from tests.flows import authorize_params, basic, query


def _is_error_page(response) -> bool:
    return response.status_code == 400 and response.location is None and response.mimetype == "text/html"


# ---------------------------------------------------------------- NUL, which PostgreSQL cannot store


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/authorize?client_id=rp1%00&response_type=code", None),
        ("get", "/login?tx=abc%00", None),
        ("get", "/logout?client_id=rp1%00", None),
    ],
)
def test_nul_in_a_page_request_gets_a_400_page(app, method, path, data):
    # PostgreSQL refuses NUL in text: the lookup failed with a 500.
    response = getattr(app.test_client(), method)(path, data=data)
    assert _is_error_page(response)


@pytest.mark.parametrize(
    ("path", "data", "headers"),
    [
        ("/token", {"grant_type": "authorization_code", "code": "x", "client_id": "rp1\x00", "client_secret": "s"}, {}),
        ("/revoke", {"token": "t\x00"}, basic("rp1", "rp1-secret")),
        ("/par", {"client_id": "rp1", "client_secret": "x", "nonce": "\x00"}, {}),
    ],
    ids=["token-form", "revoke", "par"],
)
def test_nul_at_a_machine_endpoint_gets_json_invalid_request(app, rp, path, data, headers):
    response = app.test_client().post(path, data=data, headers=headers)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("invalid_request", "invalid_client")


# ---------------------------------------------------------------- JSON nested too deeply


def test_a_claims_parameter_nested_too_deeply_is_invalid_request(app, rp):
    response = app.test_client().get("/authorize", query_string=authorize_params(claims="[" * 5000 + "]" * 5000))
    assert response.status_code == 302
    assert query(response.location)["error"] == "invalid_request"


def test_an_unsigned_request_object_nested_too_deeply_is_refused(app, rp):
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header, payload = part(b'{"alg": "none"}'), part(b"[" * 5000)
    response = app.test_client().get("/authorize", query_string=authorize_params(request=f"{header}.{payload}."))
    assert response.status_code == 302
    assert query(response.location)["error"] == "invalid_request_object"
