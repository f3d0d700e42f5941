"""Discovery and the JWKS as pre-serialised documents: caching headers, ETag/304, and key changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from idp.oidc import keys as signing_keys
from tests.conftest import FakeClock, build_app, make_config

PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks")


@pytest.mark.parametrize("path", PATHS)
def test_documents_are_cacheable_and_answer_304_to_their_etag(app, path):
    http = app.test_client()
    first = http.get(path)
    assert first.status_code == 200
    assert first.mimetype == "application/json"
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    etag = first.headers["ETag"]

    for offered in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = http.get(path, headers={"If-None-Match": offered})
        assert again.status_code == 304, offered
        assert again.data == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == "public, max-age=300"
    assert http.get(path, headers={"If-None-Match": '"other"'}).data == first.data

    head = http.head(path)
    assert head.status_code == 200
    assert head.data == b""
    assert int(head.headers["Content-Length"]) == len(first.data)


def test_the_views_behind_the_routes_serve_the_same_documents(app):
    http = app.test_client()
    for path in PATHS:
        endpoint, _args = app.url_map.bind("localhost").match(path)
        with app.test_request_context(path):
            from_view = app.view_functions[endpoint]()
        assert from_view.get_data() == http.get(path).data
        assert from_view.headers["ETag"] == http.get(path).headers["ETag"]
        assert http.post(path).status_code == 405
        assert "GET" in http.options(path).headers["Allow"]


def test_the_jwks_follows_a_rotation_at_the_next_reload_check(tmp_path):
    config = make_config(tmp_path, IDP_KEYS_RELOAD_CHECK_SECONDS="0")
    app = build_app(config)
    http = app.test_client()
    before = http.get("/jwks")
    new = signing_keys.rotate(config.keys_dir, kind="RS256", now=datetime.now(UTC), activate_after=timedelta(hours=1))
    after = http.get("/jwks", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    kids = [key["kid"] for key in after.get_json()["keys"]]
    # Published at once, though it signs only in an hour; the old key stays, first as the active one.
    assert new.kid in kids
    assert set(kids) > {key["kid"] for key in before.get_json()["keys"]}


def test_the_jwks_drops_an_expired_key_when_its_time_comes(tmp_path):
    clock = FakeClock()
    config = make_config(tmp_path, IDP_KEYS_RELOAD_CHECK_SECONDS="0")
    app = build_app(config, clock)
    http = app.test_client()
    retired = {key["kid"] for key in http.get("/jwks").get_json()["keys"]}
    signing_keys.rotate(
        config.keys_dir, kind="RS256", now=clock.current, activate_after=timedelta(0), retain_for=timedelta(hours=1)
    )
    both = json.loads(http.get("/jwks").data)["keys"]
    assert retired <= {key["kid"] for key in both}

    clock.advance(hours=2)  # no file changes now: only the clock says the old RSA key expired
    later = {key["kid"] for key in http.get("/jwks").get_json()["keys"]}
    assert len(later) == len(both) - 1


def test_the_jwks_is_serialised_once_per_key_state(app, clock):
    jwks = app.extensions["idp.jwks_document"]
    first = jwks()
    clock.advance(minutes=5)
    assert jwks() is first  # nothing changed state: the same bytes
    clock.advance(days=-1)
    assert jwks() is not first  # made for a later moment: remade rather than trusted
