"""Lockout and rate limits as the citizen meets them on the login pages, and `idp users unlock`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent, CitizenStatus
from tests.mfa.flows import finish, password_step, submit_code, tx_of


@pytest.fixture
def env(env):
    return {**env, "IDP_LIMITS_LOCK_AFTER": "6", "IDP_LIMITS_IP_LOGINS": "50"}


def test_wrong_passwords_bring_growing_waits_then_a_lock(app, citizen, rp, clock, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    for _ in range(3):  # free_failures: typos cost nothing
        assert password_step(client, citizen, password="wrong-password").status_code == 400
    fourth = password_step(client, citizen, password="wrong-password")
    assert fourth.status_code == 429 and "wait 1 minute" in fourth.get_data(as_text=True)
    # While waiting, even the right password is not tried.
    assert password_step(client, citizen).status_code == 429
    clock.advance(seconds=61)
    fifth = password_step(client, citizen, password="wrong-password")
    assert fifth.status_code == 429 and "wait 2 minute" in fifth.get_data(as_text=True)
    clock.advance(seconds=121)
    sixth = password_step(client, citizen, password="wrong-password")
    assert sixth.status_code == 403 and "Your account is locked" in sixth.get_data(as_text=True)
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.locked
    # A locked account does not log in with the right password either, and says why.
    clock.advance(hours=1)
    right = password_step(client, citizen)
    assert right.status_code == 403 and "Your account is locked" in right.get_data(as_text=True)
    assert db.session.scalars(sa.select(AuditEvent).filter_by(event="account.locked")).one()


def test_success_resets_the_count(app, citizen, rp, clock, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    for _ in range(3):
        password_step(client, citizen, password="wrong-password")
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    finish(client, submit_code(client, tx, outbox.last_code()))
    for _ in range(3):
        assert password_step(client, citizen, password="wrong-password", prompt="login").status_code == 400


def test_ip_login_limit(app, citizen, rp):
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "ip_logins": 2})
    client = app.test_client()
    assert password_step(client, citizen, password="wrong-password").status_code == 400
    assert password_step(client, citizen, password="wrong-password").status_code == 400
    third = password_step(client, citizen)
    assert third.status_code == 429
    assert "too many attempts from your network" in third.get_data(as_text=True)


def test_ip_code_limit_stops_sms_pumping(app, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "ip_codes_sent": 2})
    client = app.test_client()
    for _ in range(2):
        tx = tx_of(password_step(client, citizen, prompt="login").location)
        assert client.get(f"/login/step?tx={tx}").status_code == 200
    tx = tx_of(password_step(client, citizen, prompt="login").location)
    assert client.get(f"/login/step?tx={tx}").status_code == 429
    assert len(outbox.messages()) == 2


def test_users_unlock_lets_a_locked_citizen_in_again(app, citizen, rp, clock, outbox):
    from idp.cli import main

    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    for _ in range(6):
        password_step(client, citizen, password="wrong-password")
        clock.advance(minutes=16)  # past every wait: only the count matters here
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.locked
    result = app.test_cli_runner().invoke(main, ["users", "unlock", citizen.pid])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output and citizen.pid not in result.output  # masked
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.active
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    finish(client, submit_code(client, tx, outbox.last_code()))
    events = db.session.scalars(sa.select(AuditEvent.event).filter(AuditEvent.event.like("account.%"))).all()
    assert events == ["account.locked", "account.unlocked"]
