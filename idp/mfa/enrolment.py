"""Enrolled-factor rows, shared by the factor modules, the profile pages and the CLI.

A citizen's rows are read once per request (Flask's ``g``): one login step asks
the chain, the policy and every factor about them, and each used to query again.
Every change goes through this module, which keeps the loaded list in step.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from idp.extensions import db
from idp.models import Citizen, EnrolledFactor


def _loaded(citizen: Citizen) -> list[EnrolledFactor]:
    loaded = g.setdefault("enrolments", {})
    if citizen.id not in loaded:
        loaded[citizen.id] = list(
            db.session.scalars(sa.select(EnrolledFactor).filter_by(citizen_id=citizen.id).order_by(EnrolledFactor.id))
        )
    return loaded[citizen.id]


def enrolment(citizen: Citizen, name: str) -> EnrolledFactor | None:
    return next((row for row in _loaded(citizen) if row.name == name), None)


def enrolments(citizen: Citizen) -> list[EnrolledFactor]:
    return list(_loaded(citizen))


def enrol(citizen: Citizen, name: str, **columns: object) -> EnrolledFactor:
    """Create or replace the citizen's factor of this kind (one of each kind)."""
    row = enrolment(citizen, name)
    if row is not None:
        for key, value in columns.items():
            setattr(row, key, value)
        return row
    row = EnrolledFactor(citizen_id=citizen.id, name=name, preferred=False, **columns)
    db.session.add(row)
    # Written now, so the row has its id for statements that name it (TOTP's compare-and-set).
    db.session.flush()
    _loaded(citizen).append(row)
    return row


def remove(citizen: Citizen, name: str) -> bool:
    row = enrolment(citizen, name)
    if row is None:
        return False
    db.session.delete(row)
    # Gone now, so a new row of this kind may follow in the same transaction (one of each kind).
    db.session.flush()
    _loaded(citizen).remove(row)
    return True


def set_preferred(citizen: Citizen, name: str) -> None:
    for row in _loaded(citizen):
        row.preferred = row.name == name
