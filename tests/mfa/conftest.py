"""Fixtures for the factor, chain, login and profile tests.

They run on SQLite, whose short-lived store follows the test's fake clock,
so codes, waits and windows expire when the test moves time, not when it sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import FakeClock, add_citizen, add_client, make_config
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
def app(app):
    app.test_client_class = EnglishClient
    return app


@pytest.fixture
def citizen(app):
    return add_citizen(app)


@pytest.fixture
def rp(app):
    return add_client()


@pytest.fixture
def outbox(tmp_path):
    return SmsOutbox(tmp_path / "sms.jsonl")
