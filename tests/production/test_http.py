"""What every response gets from ops.RequestMiddleware, whichever layer answered it."""

from __future__ import annotations

import io
import json
import logging

import pytest
from flask import Response
from prometheus_client import REGISTRY

from idp import ops
from tests.conftest import build_app, make_config

STRICT = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=()",
}


def _strict(response) -> None:
    for name, part in STRICT.items():
        assert part in response.headers.get(name, ""), (response.request.path, name)
    assert response.headers["X-Request-ID"]


@pytest.fixture
def http(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a failing view answers 500, as in production

    @app.route("/test/boom")
    def boom():
        raise RuntimeError("a bug")

    @app.route("/test/own")
    def own():
        return Response(
            "<p>x</p>", headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "max-age=1"}
        )

    return app.test_client()


def test_strict_headers_on_every_kind_of_response(http):
    answers = {
        "probe": http.get("/healthz"),
        "document": http.get("/jwks"),
        "page": http.get("/"),
        "static file": http.get("/static/idp.css"),
        "not found": http.get("/no/such/page"),
        "wrong method": http.post("/jwks"),
        "bad token request": http.post("/token", data={"grant_type": "authorization_code"}),
        "server error": http.get("/test/boom"),
        "metrics": http.get("/metrics"),
    }
    answers["not modified"] = http.get("/jwks", headers={"If-None-Match": answers["document"].headers["ETag"]})
    expected = {"probe": 200, "document": 200, "page": 200, "static file": 200, "not found": 404}
    expected |= {"wrong method": 405, "bad token request": 401, "server error": 500, "metrics": 200}
    expected |= {"not modified": 304}
    assert {kind: r.status_code for kind, r in answers.items()} == expected
    for response in answers.values():
        _strict(response)
        assert "Strict-Transport-Security" not in response.headers  # the test issuer is http
    assert answers["page"].headers["Cache-Control"] == "no-store"
    assert answers["not found"].headers["Cache-Control"] == "no-store"


def test_a_response_keeps_the_headers_it_set_itself(http):
    own = http.get("/test/own")
    assert own.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert own.headers.getlist("Cache-Control") == ["max-age=1"]
    assert own.headers["X-Frame-Options"] == "DENY"


def test_hsts_with_an_https_issuer(tmp_path):
    app = build_app(make_config(tmp_path, IDP_SERVER_ISSUER="https://login.example"))
    for path in ("/healthz", "/"):
        assert app.test_client().get(path).headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_documents_are_timed_counted_and_logged_with_the_request_id(app):
    def count(endpoint: str) -> float:
        labels = {"endpoint": endpoint, "method": "GET"}
        return REGISTRY.get_sample_value("idp_request_duration_seconds_count", labels) or 0.0

    before = {endpoint: count(endpoint) for endpoint in ("oidc.jwks", "oidc.discovery", "ops.healthz", "pages.index")}
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(ops.JsonFormatter())
    access = logging.getLogger("idp.access")
    access.addHandler(handler)
    old_level, old_disabled = access.level, access.disabled
    access.setLevel(logging.INFO)
    access.disabled = False  # the migrations' logging set-up disables loggers that existed before it
    try:
        http = app.test_client()
        for n, path in enumerate(("/jwks", "/.well-known/openid-configuration", "/healthz", "/")):
            assert http.get(path, headers={"X-Request-ID": f"trace-{n}"}).status_code == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
        access.disabled = old_disabled

    assert {endpoint: count(endpoint) - n for endpoint, n in before.items()} == dict.fromkeys(before, 1.0)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [(r["request_id"], r["endpoint"], r["status"]) for r in records] == [
        ("trace-0", "oidc.jwks", 200),
        ("trace-1", "oidc.discovery", 200),
        ("trace-2", "ops.healthz", 200),
        ("trace-3", "pages.index", 200),
    ]
    assert all(r["logger"] == "idp.access" and r["duration_ms"] >= 0 for r in records)
