"""Each process keeps registrations a few seconds; a change committed here counts at once."""

from __future__ import annotations

import sqlalchemy as sa

from idp.extensions import db
from idp.models import Client
from idp.models.oauth import digest
from idp.oidc.client_cache import ClientCache
from tests.conftest import add_client


def _secret_checks(cache: ClientCache, secret: str) -> bool:
    return cache.get("rp1").check_client_secret(secret)


def _change_elsewhere(secret: str) -> None:
    # What another process (`idp clients …`, another node) does: a write this process's ORM never sees.
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(Client.__table__).where(Client.__table__.c.client_id == "rp1"),
            {"client_secret_hash": digest(secret)},
        )


def test_a_change_from_another_process_counts_after_the_cache_time(app, rp, monkeypatch):
    moment = [1000.0]
    monkeypatch.setattr("idp.oidc.client_cache.time.monotonic", lambda: moment[0])
    cache = ClientCache(10)
    assert _secret_checks(cache, "rp1-secret")
    _change_elsewhere("rotated")
    moment[0] += 9
    assert _secret_checks(cache, "rp1-secret")  # still this process's copy
    moment[0] += 2
    assert _secret_checks(cache, "rotated")
    assert not _secret_checks(cache, "rp1-secret")


def test_a_change_committed_in_this_process_counts_at_once(app, rp):
    cache = app.extensions["idp.clients"]
    assert cache.get("rp1").scope == rp.scope
    rp.scope = "openid"
    db.session.commit()
    assert cache.get("rp1").scope == "openid"
    db.session.execute(sa.update(Client).where(Client.client_id == "rp1").values(scope="openid profile"))
    db.session.commit()
    assert cache.get("rp1").scope == "openid profile"
    db.session.delete(db.session.scalar(sa.select(Client).filter_by(client_id="rp1")))
    db.session.commit()
    assert cache.get("rp1") is None


def test_a_rolled_back_change_keeps_the_copy(app, rp):
    cache = app.extensions["idp.clients"]
    kept = cache.get("rp1")
    rp.scope = "openid"
    db.session.flush()
    db.session.rollback()
    assert cache.get("rp1") is kept


def test_unknown_ids_are_not_kept_and_copies_belong_to_no_session(app, rp):
    cache = ClientCache(10)
    for n in range(50):
        assert cache.get(f"guess-{n}") is None
    assert cache._clients.keys() == set()
    copy = cache.get("rp1")
    assert copy not in db.session
    copy.scope = "changed in memory"
    db.session.commit()
    assert db.session.scalar(sa.select(Client.scope).filter_by(client_id="rp1")) == rp.scope


def test_a_client_added_after_a_miss_is_found(app):
    cache = app.extensions["idp.clients"]
    assert cache.get("late") is None
    add_client(client_id="late")
    assert cache.get("late").client_id == "late"
