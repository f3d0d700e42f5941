"""Fixtures for the ordering pages in process: SQLite, a fake clock, the people of a small population register."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from idp.pid import generate_pid
from idp.population import Person, import_people
from tests.conftest import FakeClock, make_config
from tests.mfa.flows import EnglishClient, SmsOutbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path,
        IDP_ASSURANCE_PASSWORD_ONLY="false",
        IDP_SMS_OUTBOX=str(tmp_path / "sms.jsonl"),
        IDP_LETTERS_OUTBOX=str(tmp_path / "letters"),
    )


@pytest.fixture
def app(app):
    app.test_client_class = EnglishClient
    return app


@pytest.fixture
def people(app) -> list[str]:
    """Three people in the population register, none of them with an account."""
    persons = [
        Person(
            pid=generate_pid(birth_date=date(1980 + i, 4, 2), synthetic=True),
            given_name=f"Åse{i}",
            family_name="Ødegård",
            street_address=f"Storgata {i}",
            postal_code="0155",
            locality="Oslo",
            country="NO",
        )
        for i in range(3)
    ]
    import_people(persons, source="test")
    return [person.pid for person in persons]


@pytest.fixture
def outbox(tmp_path):
    return SmsOutbox(tmp_path / "sms.jsonl")


@pytest.fixture
def letters(tmp_path):
    def read() -> list[str]:
        folder = tmp_path / "letters"
        return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))] if folder.exists() else []

    return read
