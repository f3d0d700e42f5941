"""The activation letter's pages and the password change in Min profil count toward the same limits as the login."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent, Citizen, CitizenStatus
from tests.conftest import PASSWORD, add_citizen, make_config
from tests.mfa.flows import hidden, password_step, submit_code, submit_password, tx_of


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(tmp_path, **env, **backend.env)


def _activate(client, citizen, *, password=PASSWORD, code="0000-0000-0000"):
    token = hidden(client.get("/profile/activate").get_data(as_text=True), "csrf_token")
    return client.post(
        "/profile/activate",
        data={"csrf_token": token, "pid": citizen.pid, "password": password, "code": code},
        follow_redirects=True,
    )


def _order(client, pid, *, password="wrong-password"):
    token = hidden(client.get("/profile/activation").get_data(as_text=True), "csrf_token")
    return client.post(
        "/profile/activation", data={"csrf_token": token, "pid": pid, "password": password}, follow_redirects=True
    )


def test_wrong_activation_codes_count_toward_the_accounts_limits_and_never_lock(app, citizen, rp):
    client = app.test_client()
    for _ in range(3):
        assert _activate(client, citizen).status_code == 400
    fourth = _activate(client, citizen)
    assert fourth.status_code == 429 and "wait 1 minute" in fourth.get_data(as_text=True)
    # The login on the same network waits too: one count for every page that checks a secret.
    assert password_step(client, citizen).status_code == 429
    db.session.remove()
    assert db.session.get(Citizen, citizen.id).status == CitizenStatus.active
    throttled = db.session.scalars(sa.select(AuditEvent).filter_by(event="limits.throttled", citizen_id=citizen.id))
    assert [(e.outcome, e.detail["scope"]) for e in throttled] == [("delayed", "account_network")]


def test_activation_orders_count_toward_the_networks_limit(app, citizen, rp):
    limits = app.extensions["idp.limits"]
    limits.config = type(limits.config)(**{**limits.config.__dict__, "ip_failures": 3})
    others = [add_citizen(app, given_name=name) for name in ("Ola", "Per")]
    client = app.test_client()
    assert _order(client, others[0].pid).status_code == 400
    assert _order(client, others[1].pid).status_code == 400
    assert _activate(client, citizen).status_code == 429  # the third failure holds the network
    held = _order(client, citizen.pid, password=PASSWORD)
    assert held.status_code == 429 and "too many failed attempts from your network" in held.get_data(as_text=True)
    assert password_step(client, citizen).status_code == 429


def test_the_current_password_in_min_profil_is_throttled(app, citizen, rp, clock, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    login = client.get(client.get("/profile").location)
    tx = tx_of(submit_password(client, login.location, pid=citizen.pid).location)
    client.get(f"/login/step?tx={tx}")
    assert submit_code(client, tx, outbox.last_code()).location.endswith("/profile")
    token = hidden(client.get("/profile").get_data(as_text=True), "csrf_token")

    def change(current):
        return client.post(
            "/profile/password",
            data={"csrf_token": token, "current": current, "new": "nytt-pass-9", "repeat": "nytt-pass-9"},
            follow_redirects=True,
        )

    for _ in range(3):
        assert "current password is wrong" in change("gjetning").get_data(as_text=True)
    fourth = change("gjetning")
    assert fourth.status_code == 429 and "wait 1 minute" in fourth.get_data(as_text=True)
    refused = change(PASSWORD)  # even the right one waits, and is not checked
    assert refused.status_code == 429
    clock.advance(seconds=61)
    assert "Your password is changed" in change(PASSWORD).get_data(as_text=True)
    outcomes = db.session.scalars(sa.select(AuditEvent.outcome).filter_by(event="profile.password")).all()
    assert outcomes == ["failure"] * 4 + ["delayed", "success"]
