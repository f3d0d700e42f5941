"""Throttling as the citizen meets it on the login pages, and support's `idp users lock` / `unlock`, on each backend."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent, CitizenStatus
from tests.conftest import make_config
from tests.mfa.flows import finish, hidden, password_step, submit_code, tx_of


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(tmp_path, **env, **backend.env)


def test_wrong_passwords_bring_growing_waits_and_never_a_lock(app, citizen, rp, clock, outbox):
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
    for _ in range(40):  # the old lock came at 30
        clock.advance(minutes=16)  # past every wait (the cap is 15 minutes)
        assert password_step(client, citizen, password="wrong-password").status_code == 429
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.active
    assert not db.session.scalars(sa.select(AuditEvent).filter_by(event="account.locked")).all()
    clock.advance(minutes=16)
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    finish(client, submit_code(client, tx, outbox.last_code()))


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


def test_a_networks_failures_on_all_accounts_hold_it(app, citizen, rp, clock):
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "ip_failures": 2})
    client = app.test_client()
    assert password_step(client, citizen).status_code in (302, 303)  # a success does not count
    assert password_step(client, citizen, password="wrong-password", prompt="login").status_code == 400
    second = password_step(client, citizen, password="wrong-password", prompt="login")
    assert second.status_code == 429
    third = password_step(client, citizen, prompt="login")
    assert third.status_code == 429
    page = third.get_data(as_text=True)
    assert "too many failed attempts from your network" in page and "minute" in page
    # Another network is not held.
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert password_step(client, citizen, prompt="login").status_code in (302, 303)
    events = db.session.scalars(sa.select(AuditEvent).filter_by(event="limits.throttled")).all()
    assert [(e.outcome, e.detail["scope"]) for e in events] == [("held", "network")]


def test_ip_code_limit_stops_sms_pumping(app, citizen, rp, outbox, clock):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "ip_codes_sent": 2})
    client = app.test_client()
    for _ in range(2):
        tx = tx_of(password_step(client, citizen, prompt="login").location)
        assert client.get(f"/login/step?tx={tx}").status_code == 200
    tx = tx_of(password_step(client, citizen, prompt="login").location)
    refused = client.get(f"/login/step?tx={tx}")
    # On the code page itself: how long is left, and the main button asks for a code.
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert re.search(r"Many codes have been sent to your network. You can ask for a new code in \d+ minutes?\.", html)
    assert 'name="code"' not in html and "Send a new code" in html
    # Refused clicks count for nothing: pressing again and again does not make the wait longer.
    for _ in range(5):
        client.post("/login/resend", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert len(outbox.messages()) == 2
    clock.advance(seconds=600)
    client.post("/login/resend", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert len(outbox.messages()) == 3
    assert 'name="code"' in client.get(f"/login/step?tx={tx}").get_data(as_text=True)


def test_code_limit_per_account_holds_on_every_network(app, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "account_codes_sent": 2})
    for network in ("192.0.2.1", "192.0.2.2"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = network
        tx = tx_of(password_step(client, citizen, prompt="login").location)
        assert client.get(f"/login/step?tx={tx}").status_code == 200
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.3"
    tx = tx_of(password_step(client, citizen, prompt="login").location)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    assert "Many codes have been sent for your account." in html
    assert len(outbox.messages()) == 2


def test_support_locks_and_unlocks_an_account(app, citizen, rp, clock, outbox):
    from idp.cli import main

    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    runner = app.test_cli_runner()
    locked = runner.invoke(main, ["users", "lock", citizen.pid])
    assert locked.exit_code == 0, locked.output
    assert "locked" in locked.output and citizen.pid not in locked.output  # masked
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.locked
    # A locked account does not log in with the right password, and says why (only after the right one).
    right = password_step(client, citizen)
    assert right.status_code == 403 and "Your account is locked" in right.get_data(as_text=True)
    assert password_step(client, citizen, password="wrong-password").status_code == 400
    result = runner.invoke(main, ["users", "unlock", citizen.pid])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output and citizen.pid not in result.output
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.active
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    finish(client, submit_code(client, tx, outbox.last_code()))
    events = db.session.scalars(sa.select(AuditEvent).filter(AuditEvent.event.like("account.%"))).all()
    assert [(e.event, e.detail) for e in events] == [
        ("account.locked", {"by": "cli"}),
        ("account.unlocked", {"by": "cli"}),
    ]


def test_unlock_forgets_the_accounts_failures_over_all_networks(app, citizen, rp, clock):
    from idp.cli import main

    client = app.test_client()
    for n in range(11):  # from eleven networks: only the account's count over all of them grows
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{n}"
        assert password_step(client, citizen, password="wrong-password").status_code in (400, 429)
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert password_step(client, citizen).status_code == 429
    assert app.test_cli_runner().invoke(main, ["users", "unlock", citizen.pid]).exit_code == 0
    assert password_step(client, citizen).status_code in (302, 303)
