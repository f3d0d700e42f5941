"""Each login step commits what it wrote: nothing may live only in the request's open transaction.

In the other tests one database session serves every request, so an uncommitted
write would still be seen by the next one. Here each request ends as in
production: its session is removed, and whatever it did not commit is gone.
"""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, LoginSession
from idp.policy.limits import SCOPES
from idp.transactions import NAMESPACE
from tests.mfa.flows import finish, id_token_claims, password_step, submit_code, tx_of

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def app(app):
    @app.teardown_request
    def _end_session(_exc):
        db.session.remove()

    return app


def _events(citizen) -> list[tuple[str, str]]:
    rows = db.session.execute(
        sa.select(AuditEvent.event, AuditEvent.outcome).filter_by(citizen_id=citizen.id).order_by(AuditEvent.id)
    )
    return [tuple(row) for row in rows]


def test_a_totp_login_with_mistakes_commits_every_step(app, citizen, rp, clock):
    app.extensions["idp.chain"].factors["totp"].enrol(citizen, SECRET)
    db.session.commit()
    store = app.extensions["idp.store"]
    client = app.test_client()

    assert password_step(client, citizen, password="wrong").status_code == 400
    account = app.extensions["idp.limits"].account_key(citizen.pid)
    assert store.get(SCOPES, account)["failures"] == 1  # the failure counts
    tx = tx_of(password_step(client, citizen).location)
    assert store.get(NAMESPACE, tx)["step"]["citizen_id"] == citizen.id

    assert submit_code(client, tx, pyotp.TOTP(SECRET).at(clock(), counter_offset=3)).status_code == 400
    code = finish(client, submit_code(client, tx, pyotp.TOTP(SECRET).at(clock())))["code"]
    assert store.get(NAMESPACE, tx) is None  # resumed once
    assert store.get(SCOPES, account) is None  # a complete login forgets the failures
    assert id_token_claims(client, code)["amr"] == ["pwd", "otp", "mfa"]
    assert db.session.scalars(sa.select(LoginSession)).one().acr == "idporten-loa-substantial"
    assert _events(citizen) == [
        ("login.password", "failure"),
        ("login.password", "success"),
        ("login.factor", "wrong"),
        ("login.factor", "success"),
        ("login.complete", "success"),
    ]


def test_an_sms_login_commits_the_code_and_its_tries(app, citizen, rp, outbox):
    from idp.mfa.enrolment import enrol

    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    assert submit_code(client, tx, "00000").status_code == 400
    finish(client, submit_code(client, tx, outbox.last_code()))
    assert _events(citizen) == [
        ("login.password", "success"),
        ("login.code_sent", "success"),
        ("login.factor", "wrong"),
        ("login.factor", "success"),
        ("login.complete", "success"),
    ]
