"""Redis going away in the middle of a login: a clear page, nothing corrupted, and recovery."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuthorizationCode, LoginSession, Token
from tests.conftest import PASSWORD, add_citizen, add_client, build_app, make_config
from tests.live import free_port
from tests.production.backends import postgres_redis
from tests.production.flows import (
    FlaskAgent,
    Login,
    RelyingParty,
    authorize,
    authorize_url,
    code_from,
    complete_login_pages,
    exchange_code,
    login_page,
    resume,
    submit_password,
    userinfo,
)
from tests.services import service_unavailable


class RedisServer:
    """A private redis-server without persistence: a restart loses every key, as a failover might."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            service_unavailable("redis-server", "not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outage(tmp_path, clock):
    """An app on a private schema and a private Redis the test can kill and restart."""
    with postgres_redis() as backend, private_redis() as server:
        config = make_config(tmp_path, **{**backend.env, "IDP_REDIS_URL": server.url})
        app = build_app(config, clock)
        with app.app_context():
            citizen = add_citizen(app)
            add_client()
            yield app, server, citizen.pid
            db.session.remove()


def _rows(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _assert_unavailable_page(reply) -> None:
    assert reply.status == 503
    assert "temporarily unavailable" in reply.text
    assert "Traceback" not in reply.text


def test_redis_down_before_the_password(outage):
    app, server, pid = outage
    agent = FlaskAgent(app)
    login = Login(RelyingParty("rp1", "rp1-secret"))
    login_path = authorize(agent, "", login)
    page = login_page(agent, "", login_path)

    server.stop()
    _assert_unavailable_page(submit_password(agent, "", login_path, page, pid, PASSWORD))
    _assert_unavailable_page(agent.request("GET", authorize_url("", Login(login.rp))))
    ready = agent.request("GET", "/readyz")
    assert ready.status == 503
    assert ready.json()["checks"] == {"database": True, "keys": True, "redis": False}
    # Nothing was half-done in the database.
    assert (_rows(LoginSession), _rows(AuthorizationCode), _rows(Token)) == (0, 0, 0)

    server.start()  # empty: the transaction was lost with Redis
    expired = agent.request("GET", login_path)
    assert expired.status == 400
    assert "expired" in expired.text
    assert agent.request("GET", "/readyz").status == 200

    fresh = Login(login.rp)
    resume_path = complete_login_pages(agent, iter(lambda: "", None), authorize(agent, "", fresh), pid, PASSWORD)
    resume(agent, "", fresh, resume_path)
    assert userinfo(agent, "", exchange_code(agent, "", fresh)["access_token"])["given_name"] == "Kari"


def test_redis_down_between_password_and_resume(outage):
    app, server, pid = outage
    agent = FlaskAgent(app)
    login = Login(RelyingParty("rp1", "rp1-secret"))
    resume_path = complete_login_pages(agent, iter(lambda: "", None), authorize(agent, "", login), pid, PASSWORD)

    server.stop()
    _assert_unavailable_page(agent.request("GET", resume_path))
    assert _rows(AuthorizationCode) == 0  # no code was issued for the interrupted request
    assert _rows(LoginSession) == 1  # the login itself happened and stays valid

    server.start()
    assert agent.request("GET", resume_path).status == 400  # the lost transaction cannot resume
    # The citizen's session survived in the database: the next login needs no password.
    again = Login(login.rp)
    code_from(agent.request("GET", authorize_url("", again)), again)
    assert exchange_code(agent, "", again)["access_token"]
