"""Ordering an account without an operator: the account from the population register, its activation, its expiry.

The pages (idp/web/register.py) collect and confirm what the citizen gives; this module makes
the account. Its name and postal address come from the register, never from the citizen, so
the activation letter goes where the register says the person lives: using its code proves
who ordered. Until then the account reaches at most ``ordering.unactivated_level``.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.models import Citizen, CitizenStatus
from idp.population import Person


def open_account(
    person: Person, *, password_hash: str, phone: str, email: str | None, expired: Citizen | None = None
) -> Citizen:
    """A new, not yet activated account for ``person`` with the confirmed mobile number as its SMS factor.

    ``expired``: the person's account that expired unactivated; it is ordered anew in place, so its
    audit trail keeps pointing at one row.
    """
    citizen = expired or Citizen(pid=person.pid)
    citizen.given_name, citizen.family_name = person.given_name, person.family_name
    citizen.street_address, citizen.postal_code = person.street_address, person.postal_code
    citizen.locality, citizen.country = person.locality, person.country
    citizen.phone, citizen.phone_verified = phone, True
    citizen.email, citizen.email_verified = email, False
    citizen.password_hash = password_hash
    citizen.status = CitizenStatus.active
    citizen.activated = False
    citizen.created_at = now()
    db.session.add(citizen)
    db.session.flush()
    for row in rows.enrolments(citizen):
        rows.remove(citizen, row.name)
    rows.enrol(citizen, "sms", phone=phone)
    return citizen


def activate(citizen: Citizen, *, by: str) -> None:
    """The citizen used a letter sent to the register's address: the account may now reach every level."""
    if not citizen.activated:
        citizen.activated = True
        audit.record("account.activated", outcome="success", citizen=citizen, by=by)


def expire_unactivated() -> int:
    """Close accounts ordered ``ordering.expire_days`` ago or more and never activated; for a periodic job.

    Closed, not deleted: the audit trail names the row. An expired account cannot log in, and
    its number may be ordered again (by the person, when someone else ordered it first).
    """
    days = current_app.config["IDP"].ordering.expire_days
    stale = db.session.scalars(
        sa.select(Citizen).where(
            Citizen.activated.is_(False),
            Citizen.status == CitizenStatus.active,
            Citizen.created_at <= now() - timedelta(days=days),
        )
    ).all()
    for citizen in stale:
        citizen.status = CitizenStatus.expired
        audit.record("account.expired", outcome="success", citizen=citizen)
    db.session.commit()
    return len(stale)
