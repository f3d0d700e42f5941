"""Fixtures for the factor, chain, login and profile tests.

The app's short-lived store follows the test's fake clock here, so codes,
waits and windows expire when the test moves time, not when it sleeps.
Signing keys are made at the fake clock's time so ID tokens can be signed
on either side of the PIN cutoff.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import g

from idp.extensions import db
from idp.oidc import keys as signing_keys
from idp.store import DatabaseStore
from tests.conftest import FakeClock, add_citizen, add_client, build_app, make_config
from tests.mfa.flows import EnglishClient, SmsOutbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """Extra IDP_* settings; a test changes them before asking for ``app``."""
    return {
        # The chain as MinID runs it: every login needs a second factor.
        "IDP_ASSURANCE_PASSWORD_ONLY": "false",
        "IDP_SMS_OUTBOX": str(tmp_path / "sms.jsonl"),
        "IDP_LETTERS_OUTBOX": str(tmp_path / "letters"),
    }


@pytest.fixture
def config(tmp_path, env):
    return make_config(tmp_path, **env)


@pytest.fixture
def app(config, clock):
    signing_keys.init(config.keys_dir, kinds=config.keys.kinds, now=datetime(2020, 1, 1, tzinfo=UTC))
    app = build_app(config, clock)
    app.test_client_class = EnglishClient

    @app.teardown_request
    def _forget_request_state(_exc):
        # The test holds one app context open around all its requests, so Flask's ``g``
        # (where sessions.py caches the login session and Flask-WTF the CSRF token) would
        # carry over to the next request, even another client's. In production every
        # request has an app context, and so a ``g``, of its own.
        for name in list(g):
            g.pop(name)

    with app.app_context():
        store = DatabaseStore(db, clock=clock)
        app.extensions["idp.store"] = store
        app.extensions["idp.limits"].store = store
        yield app
        db.session.remove()


@pytest.fixture
def citizen(app):
    return add_citizen(app)


@pytest.fixture
def rp(app):
    return add_client()


@pytest.fixture
def outbox(tmp_path):
    return SmsOutbox(tmp_path / "sms.jsonl")
