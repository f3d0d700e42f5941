"""Enrolled-factor rows, shared by the factor modules, the profile pages and the CLI."""

from __future__ import annotations

import sqlalchemy as sa

from idp.extensions import db
from idp.models import Citizen, EnrolledFactor


def enrolment(citizen: Citizen, name: str) -> EnrolledFactor | None:
    return db.session.scalar(sa.select(EnrolledFactor).filter_by(citizen_id=citizen.id, name=name))


def enrolments(citizen: Citizen) -> list[EnrolledFactor]:
    return list(
        db.session.scalars(sa.select(EnrolledFactor).filter_by(citizen_id=citizen.id).order_by(EnrolledFactor.id))
    )


def enrol(citizen: Citizen, name: str, **columns: object) -> EnrolledFactor:
    """Create or replace the citizen's factor of this kind (one of each kind)."""
    row = enrolment(citizen, name)
    if row is None:
        row = EnrolledFactor(citizen_id=citizen.id, name=name, preferred=False)
        db.session.add(row)
    for key, value in columns.items():
        setattr(row, key, value)
    return row


def remove(citizen: Citizen, name: str) -> bool:
    row = enrolment(citizen, name)
    if row is None:
        return False
    db.session.delete(row)
    return True


def set_preferred(citizen: Citizen, name: str) -> None:
    for row in enrolments(citizen):
        row.preferred = row.name == name
