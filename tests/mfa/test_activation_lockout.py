"""Wrong activation codes count against the account as wrong passwords do, with the same lock and audit event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, Citizen, CitizenStatus
from tests.conftest import PASSWORD
from tests.mfa.flows import hidden


@pytest.fixture
def env(env):
    # No growing waits in between: the second failure locks.
    return {**env, "IDP_LIMITS_FREE_FAILURES": "5", "IDP_LIMITS_LOCK_AFTER": "2"}


def test_wrong_activation_codes_lock_the_account_and_audit_it(app, citizen):
    client = app.test_client()
    token = hidden(client.get("/profile/activate").get_data(as_text=True), "csrf_token")
    for _ in range(2):
        wrong = client.post(
            "/profile/activate",
            data={"csrf_token": token, "pid": citizen.pid, "password": PASSWORD, "code": "0000-0000-0000"},
        )
        assert wrong.status_code == 400
    db.session.remove()
    assert db.session.get(Citizen, citizen.id).status == CitizenStatus.locked
    locks = db.session.scalars(sa.select(AuditEvent).filter_by(event="account.locked", citizen_id=citizen.id)).all()
    assert len(locks) == 1
