"""`idp accounts expire`: unactivated ordered accounts close after ordering.expire_days; the number is free again."""

from __future__ import annotations

import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, Citizen, CitizenStatus
from idp.ordering import expire_unactivated
from tests.conftest import add_citizen
from tests.flows import hidden
from tests.ordering.test_order_pages import order


def _order_and_confirm(client, pid, outbox):
    order(client, pid=pid)
    page = client.get("/order/phone").get_data(as_text=True)
    return client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": outbox.last_code()})


def test_unactivated_accounts_expire_and_can_be_ordered_again(app, people, outbox, letters, clock):
    activated_one = add_citizen(app)
    client = app.test_client()
    _order_and_confirm(client, people[0], outbox)
    ordered = db.session.scalar(sa.select(Citizen).filter_by(pid=people[0]))

    clock.advance(days=89)
    assert expire_unactivated() == 0
    clock.advance(days=1)
    assert expire_unactivated() == 1
    db.session.refresh(ordered)
    assert ordered.status == CitizenStatus.expired
    assert activated_one.status == CitizenStatus.active  # accounts support added are never expired
    assert [e.pid_masked for e in db.session.scalars(sa.select(AuditEvent).filter_by(event="account.expired"))] == [
        people[0][:6] + "*****"
    ]
    assert expire_unactivated() == 0  # once

    # The number is free again: a new order makes the same row a fresh, unactivated account.
    before = len(letters())
    _order_and_confirm(app.test_client(), people[0], outbox)
    db.session.refresh(ordered)
    assert ordered.status == CitizenStatus.active and not ordered.activated
    assert len(letters()) == before + 1 and "Your account has been ordered" in letters()[-1]
