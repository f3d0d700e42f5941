"""A session's last activity, written at most once a minute, still keeps it alive and lets it go idle."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from idp.extensions import db
from idp.models import LoginSession
from idp.sessions import LAST_SEEN_PRECISION
from tests.conftest import PASSWORD, add_client
from tests.flows import authorize_params, login_for_code


def _silent_code(client) -> bool:
    """Whether /authorize answers from the session (a code) rather than with the login page."""
    response = client.get("/authorize", query_string=authorize_params())
    assert response.status_code == 302
    return response.location.startswith("https://rp.example/callback")


def test_activity_is_written_at_most_once_a_minute(app, citizen, clock):
    add_client()
    client = app.test_client()
    login_for_code(client, pid=citizen.pid, password=PASSWORD)
    session = db.session.scalar(sa.select(LoginSession))
    started = session.last_seen_at

    clock.advance(seconds=LAST_SEEN_PRECISION.total_seconds() - 1)
    assert _silent_code(client)
    db.session.refresh(session)
    assert session.last_seen_at == started

    clock.advance(seconds=2)
    assert _silent_code(client)
    db.session.refresh(session)
    assert session.last_seen_at == clock()


def test_use_keeps_a_session_alive_and_idleness_ends_it(app, citizen, clock):
    add_client()
    client = app.test_client()
    login_for_code(client, pid=citizen.pid, password=PASSWORD)
    idle = timedelta(seconds=app.config["IDP"].session.idle_seconds)
    for _ in range(3):
        # Each use within the idle time, but longer apart than the write interval: all recorded.
        clock.advance(seconds=(idle - LAST_SEEN_PRECISION).total_seconds() - 1)
        assert _silent_code(client)
    clock.advance(seconds=idle.total_seconds())
    assert not _silent_code(client)
