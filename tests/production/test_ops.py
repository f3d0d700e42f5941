"""Probes, metrics, request ids and logs, in process on each backend and on a live node (idp serve)."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from prometheus_client import REGISTRY

from idp import ops
from idp.app import create_app
from idp.extensions import db
from idp.oidc import keys as signing_keys
from tests.conftest import PASSWORD, add_client, build_app, make_config
from tests.live import LiveServer, free_port
from tests.production.backends import postgres_redis
from tests.production.deployment import PASSWORD as LIVE_PASSWORD
from tests.production.deployment import prepare
from tests.production.flows import (
    FlaskAgent,
    HttpAgent,
    Login,
    RelyingParty,
    authorize_url,
    full_login,
    refresh,
    userinfo,
)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_healthz_and_readyz(app, backend):
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    expected = {"database": True, "keys": True}
    if backend.name == "postgres":
        expected["redis"] = True
    assert ready.json == {"status": "ready", "checks": expected}


def test_readyz_fails_without_an_active_key(app, clock):
    # Before the test keys were made (tests/conftest.py dates them 2000-01-01) nothing could be signed.
    clock.current = datetime(1999, 12, 31, tzinfo=UTC)
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["keys"] is False
    assert ready.json["checks"]["database"] is True


def test_metrics_count_logins_tokens_and_time_requests(app, citizen):
    add_client()
    before = {
        "ok": _sample("idp_logins_total", factor="password", result="success"),
        "bad": _sample("idp_logins_total", factor="password", result="failure"),
        "code": _sample("idp_tokens_issued_total", grant_type="authorization_code"),
        "refresh": _sample("idp_tokens_issued_total", grant_type="refresh_token"),
        "timed": _sample("idp_request_duration_seconds_count", endpoint="oidc.token", method="POST"),
    }
    agent = FlaskAgent(app)
    with pytest.raises(AssertionError):
        full_login(agent, [""], RelyingParty("rp1", "rp1-secret"), citizen.pid, "wrong-password")
    login = full_login(agent, [""], RelyingParty("rp1", "rp1-secret"), citizen.pid, PASSWORD)
    refresh(agent, "", login)

    assert _sample("idp_logins_total", factor="password", result="success") == before["ok"] + 1
    assert _sample("idp_logins_total", factor="password", result="failure") == before["bad"] + 1
    assert _sample("idp_tokens_issued_total", grant_type="authorization_code") == before["code"] + 1
    assert _sample("idp_tokens_issued_total", grant_type="refresh_token") == before["refresh"] + 1
    assert _sample("idp_request_duration_seconds_count", endpoint="oidc.token", method="POST") == before["timed"] + 2
    page = app.test_client().get("/metrics")
    assert page.status_code == 200
    assert page.mimetype == "text/plain"
    assert 'idp_logins_total{factor="password",result="success"}' in page.get_data(as_text=True)


def test_request_id_is_kept_or_made(app):
    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"}).headers["X-Request-ID"] == "lb-1234.abc"
    made = client.get("/healthz", headers={"X-Request-ID": "no spaces <allowed>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["X-Request-ID"] != made


@pytest.fixture(scope="module")
def live_node(tmp_path_factory):
    """One node, idp serve with two workers, on SQLite, for what only a real server process shows."""
    port = free_port()
    data = tmp_path_factory.mktemp("node")
    deployment = prepare(data, issuer=f"http://127.0.0.1:{port}")
    server = LiveServer(deployment.env, port=port, production=True)
    try:
        yield deployment, server, Path(server.log.name)
    finally:
        server.close()


def test_metrics_are_summed_over_the_workers(live_node):
    deployment, server, _log = live_node

    def successes() -> float:
        text = requests.get(server.url + "/metrics", timeout=10).text
        match = re.search(r'^idp_logins_total\{factor="password",result="success"\} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0

    before = successes()
    for _ in range(6):  # new connections each time: spread over both workers
        full_login(HttpAgent(), [server.url], deployment.rp, deployment.pid, LIVE_PASSWORD)
    # Whichever worker answers /metrics, it reports all six.
    assert {successes() for _ in range(4)} == {before + 6}


def test_logs_are_json_with_request_ids_and_hold_no_secrets(live_node):
    deployment, server, log_path = live_node
    agent = HttpAgent()
    agent.session.headers["X-Request-ID"] = "trace-me-42"
    login = full_login(agent, [server.url], deployment.rp, deployment.pid, LIVE_PASSWORD)
    info = userinfo(agent, server.url, login.tokens["access_token"])
    refreshed = refresh(agent, server.url, login)
    # A login hint in the query string is the easiest way for a number to reach a log.
    hinted_url = authorize_url(server.url, Login(deployment.rp)) + f"&login_hint={deployment.pid}"
    hinted = HttpAgent().request("GET", hinted_url)
    assert hinted.status == 302
    requests.get(server.url + "/healthz", timeout=10)  # the last line is written before this answer

    text = log_path.read_text()
    secrets = {
        "password": LIVE_PASSWORD,
        "national identity number": deployment.pid,
        "authorization code": login.code,
        "access token": login.tokens["access_token"],
        "refresh token": login.tokens["refresh_token"],
        "new refresh token": refreshed["refresh_token"],
        "id token": login.tokens["id_token"].split(".")[1],
        "client secret": deployment.rp.secret,
        "pkce verifier": login.verifier,
    }
    leaked = [name for name, value in secrets.items() if value in text]
    assert leaked == []
    assert info["sub"]

    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    ours = [r for r in records if r.get("request_id") == "trace-me-42" and r["logger"] == "idp.access"]
    endpoints = {r["endpoint"] for r in ours}
    assert endpoints >= {"oidc.authorize", "login.start", "oidc.resume", "oidc.token", "oidc.userinfo"}
    assert all(r["status"] < 500 and r["duration_ms"] >= 0 for r in ours)


def test_serve_empties_only_metric_files_of_the_multiprocess_folder(tmp_path, monkeypatch):
    chosen = tmp_path / "metrics"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"old counts")
    (chosen / "notes.txt").write_text("the operator's")
    monkeypatch.setenv(ops.MULTIPROC_ENV, str(chosen))
    assert ops.prepare_multiprocess_dir(tmp_path / "var") == str(chosen)
    assert sorted(p.name for p in chosen.iterdir()) == ["notes.txt"]

    monkeypatch.delenv(ops.MULTIPROC_ENV)
    assert ops.prepare_multiprocess_dir(tmp_path / "var") == str(tmp_path / "var" / "prometheus")


def test_database_down_gives_503_and_unready(tmp_path):
    # Nothing listens on a fresh free port: every connection is refused at once.
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp"
    config = make_config(tmp_path, IDP_DATABASE_URL=dead)
    signing_keys.init(config.keys_dir, kinds=config.keys.kinds, now=datetime.now(UTC))
    client = create_app(config).test_client()

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"] == {"database": False, "keys": True}
    assert client.get("/healthz").status_code == 200  # alive: restarting it would not help

    page = client.get(authorize_url("", Login(RelyingParty("rp1", "rp1-secret"))), headers={"Accept-Language": "en"})
    assert page.status_code == 503
    assert "temporarily unavailable" in page.get_data(as_text=True)
    assert page.headers["Retry-After"] == "30"
    token = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": "Basic cnAxOnJwMS1zZWNyZXQ="},
    )
    assert token.status_code == 503
    assert token.json["error"] == "temporarily_unavailable"


def test_database_connections_killed_cost_at_most_one_503(tmp_path, clock):
    """As after a PostgreSQL restart or failover: the pooled connections are dead, the server is back."""
    with postgres_redis() as backend:
        app = build_app(make_config(tmp_path, **backend.env), clock)
        with app.app_context():
            add_client()
            db.session.remove()
        client = app.test_client()
        token = {"grant_type": "authorization_code", "code": "x"}
        basic = {"Authorization": "Basic cnAxOnJwMS1zZWNyZXQ="}
        with app.app_context():
            # Several connections in the pool, as a busy node has: all of them die below.
            held = [db.engine.connect() for _ in range(3)]
            for conn in held:
                conn.exec_driver_sql("SELECT 1")
                conn.close()
        assert client.post("/token", data=token, headers=basic).status_code == 400

        admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = current_setting('application_name')"
                )
            ).scalar()
        admin.dispose()
        assert killed >= 3

        statuses = [client.post("/token", data=token, headers=basic).status_code for _ in range(4)]
        assert statuses in ([400] * 4, [503] + [400] * 3), statuses
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST LINE <script>\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n", 431),
    ],
    ids=["bad-request-line", "headers-too-large"],
)
def test_the_servers_own_error_responses_echo_nothing(live_node, request_bytes, status):
    """granian answers what it cannot parse without calling the app: a status and no body at all,
    so nothing of the request is reflected and there is no page for the security headers to guard."""
    _deployment, server, _log = live_node
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _sep, body = answer.decode("latin-1").partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = {name.lower(): value for name, _colon, value in (line.partition(": ") for line in lines)}
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert body == "" and headers["content-length"] == "0"
    assert "<script>" not in answer.decode("latin-1") and "bbbb" not in answer.decode("latin-1")


def test_posted_authorization_requests_are_resent_only_as_urls_the_server_accepts():
    from idp.cli import HTTP1_BUFFER_BYTES
    from idp.oidc.same_site import MAX_URL_BYTES

    # The request line is "GET <url> HTTP/1.1": the URL plus 13 bytes, and headers share the buffer.
    assert MAX_URL_BYTES + len("GET  HTTP/1.1") <= HTTP1_BUFFER_BYTES // 2
