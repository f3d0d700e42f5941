"""Sessions that run out are logouts too: `idp sessions end-expired` tells their clients."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from joserfc import jwt

from idp.extensions import db
from idp.models import LoginSession, SessionClient, Token
from idp.oidc.id_token import keyring
from idp.oidc.logout import BACKCHANNEL_EVENT, end_expired_sessions
from tests.conformance.receiver import Receiver
from tests.conftest import add_client


def _session(citizen, clock, sid: str) -> LoginSession:
    moment = clock()
    session = LoginSession(
        cookie_hash=sid * 2,
        sid=sid,
        citizen=citizen,
        auth_time=moment,
        acr="idporten-loa-low",
        amr=["pwd"],
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + timedelta(hours=8),
    )
    session.clients.append(SessionClient(client_id="rp1", first_at=moment))
    db.session.add(session)
    return session


def _token(citizen, sid: str, scope: str, name: str, clock) -> Token:
    token = Token(
        grant_id=name,
        client_id="rp1",
        citizen_id=citizen.id,
        access_token_hash=name,
        scope=scope,
        issued_at=clock(),
        expires_in=600,
        auth_time=clock(),
        amr=["pwd"],
        sid=sid,
    )
    db.session.add(token)
    return token


def test_idle_sessions_end_with_logout_tokens(app, citizen, clock):
    receiver = Receiver()
    try:
        add_client(backchannel_logout_uri=receiver.url + "/bc")
        _session(citizen, clock, "idle-session")
        online = _token(citizen, "idle-session", "openid profile", "a" * 64, clock)
        offline = _token(citizen, "idle-session", "openid offline_access", "b" * 64, clock)
        db.session.commit()
        assert end_expired_sessions() == 0  # still fresh
        clock.advance(seconds=app.config["IDP"].session.idle_seconds + 1)
        _session(citizen, clock, "fresh-session")
        db.session.commit()

        assert end_expired_sessions() == 1
        token = receiver.wait_for_post("/bc")["logout_token"][0]
        claims = jwt.decode(token, keyring().public_keyset(now=clock())).claims
        assert claims["sid"] == "idle-session" and claims["events"] == {BACKCHANNEL_EVENT: {}}
        ended = db.session.scalar(sa.select(LoginSession).filter_by(sid="idle-session"))
        assert ended.ended_at is not None
        assert db.session.scalar(sa.select(LoginSession).filter_by(sid="fresh-session")).ended_at is None
        assert online.revoked_at is not None and offline.revoked_at is None
        assert end_expired_sessions() == 0  # each session is ended once
    finally:
        receiver.close()
