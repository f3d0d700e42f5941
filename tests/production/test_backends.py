"""The code flow on each backend: SQLite alone, and PostgreSQL + Redis."""

from __future__ import annotations

import redis
import sqlalchemy as sa

from idp.extensions import db
from idp.models import ShortLivedState
from idp.store import DatabaseStore, RedisStore
from tests.conftest import PASSWORD, add_client, build_app, make_config
from tests.production.flows import (
    FlaskAgent,
    Login,
    RelyingParty,
    authorize,
    complete_login_pages,
    exchange_code,
    refresh,
    resume,
    userinfo,
    verify_id_token,
)


def test_login_refresh_and_userinfo(app, citizen, backend):
    add_client()
    agent = FlaskAgent(app)
    login = Login(RelyingParty("rp1", "rp1-secret"))
    login_path = authorize(agent, "", login)

    store = app.extensions["idp.store"]
    if backend.name == "postgres":
        assert db.engine.dialect.name == "postgresql"
        assert isinstance(store, RedisStore)
        # The login transaction lives in Redis under this run's prefix, not in the database.
        client = redis.Redis.from_url(backend.env["IDP_REDIS_URL"])
        keys = client.keys(backend.env["IDP_REDIS_KEY_PREFIX"] + "login_tx:*")
        client.close()
        assert len(keys) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ShortLivedState)) == 0
    else:
        assert db.engine.dialect.name == "sqlite"
        assert isinstance(store, DatabaseStore)

    resume_path = complete_login_pages(agent, iter(lambda: "", None), login_path, citizen.pid, PASSWORD)
    resume(agent, "", login, resume_path)
    tokens = exchange_code(agent, "", login)
    jwks = agent.request("GET", "/jwks").json()
    claims = verify_id_token(tokens["id_token"], jwks, issuer=app.config["IDP"].server.issuer, login=login)
    assert claims["pid"] == citizen.pid

    info = userinfo(agent, "", tokens["access_token"])
    assert info["sub"] == claims["sub"]
    assert info["given_name"] == "Kari"

    refreshed = refresh(agent, "", login)
    assert refreshed["access_token"] != tokens["access_token"]
    assert userinfo(agent, "", refreshed["access_token"])["sub"] == claims["sub"]
    # The rotated-out refresh token is dead on this backend too.
    old = agent.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": "Basic cnAxOnJwMS1zZWNyZXQ="},
    )
    assert old.status == 400


def test_a_resumed_login_cannot_be_resumed_twice(app, citizen):
    add_client()
    agent = FlaskAgent(app)
    login = Login(RelyingParty("rp1", "rp1-secret"))
    login_path = authorize(agent, "", login)
    resume_path = complete_login_pages(agent, iter(lambda: "", None), login_path, citizen.pid, PASSWORD)
    resume(agent, "", login, resume_path)
    again = agent.request("GET", resume_path)
    assert again.status == 400
    assert "expired" in again.text


def test_sqlite_files_use_write_ahead_logging(tmp_path):
    # Several workers share the file: with the rollback journal a writer
    # locks every reader out (see docs/benchmarks.md for the measured effect).
    app = build_app(make_config(tmp_path))
    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        db.session.remove()
