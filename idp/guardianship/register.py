"""The guardianship register: one small interface, and the embedded default on our database.

The login asks "which mandates of this guardian are in force on this day?", and Min profil
"which mandates does this guardian have?" (``GuardianshipRegister``). An external register (HTTP, like the national
guardianship register) can answer that instead; support's add / list / revoke
are the embedded register's own, and live on ``DatabaseRegister``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import sqlalchemy as sa

from idp.extensions import db
from idp.models import Mandate


@dataclass(frozen=True)
class MandateRecord:
    """A mandate as the register reports it, whichever register that is."""

    reference: str
    guardian_pid: str
    ward_pid: str
    ward_name: str
    roles: tuple[str, ...]
    valid_from: date
    valid_to: date | None = None
    revoked: bool = False

    def in_force(self, day: date) -> bool:
        return not self.revoked and self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def covers(self, roles: Iterable[str]) -> tuple[str, ...]:
        """The asked-for roles this mandate covers (roles are ORed: any one is enough)."""
        return tuple(role for role in roles if role in self.roles)


class GuardianshipRegister(Protocol):
    def mandates_in_force(self, guardian_pid: str, day: date) -> list[MandateRecord]: ...

    def find(self, reference: str) -> MandateRecord | None: ...

    def mandates_of(self, guardian_pid: str) -> list[MandateRecord]:
        """Every mandate of the guardian, in force or not: Min profil says why an ended one cannot be used."""
        ...


class DuplicateReference(ValueError):
    """A mandate with this reference is registered already."""


def _record(row: Mandate) -> MandateRecord:
    return MandateRecord(
        reference=row.reference,
        guardian_pid=row.guardian_pid,
        ward_pid=row.ward_pid,
        ward_name=row.ward_name,
        roles=tuple(row.roles),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        revoked=row.revoked_at is not None,
    )


class DatabaseRegister:
    """The embedded register: the ``mandate`` table. Writes join the caller's transaction (the caller commits)."""

    def mandates_in_force(self, guardian_pid: str, day: date) -> list[MandateRecord]:
        rows = db.session.scalars(
            sa.select(Mandate)
            .where(
                Mandate.guardian_pid == guardian_pid,
                Mandate.revoked_at.is_(None),
                Mandate.valid_from <= day,
                sa.or_(Mandate.valid_to.is_(None), Mandate.valid_to >= day),
            )
            .order_by(Mandate.ward_name, Mandate.reference)
        )
        return [_record(row) for row in rows]

    def find(self, reference: str) -> MandateRecord | None:
        row = db.session.scalar(sa.select(Mandate).filter_by(reference=reference))
        return None if row is None else _record(row)

    def mandates_of(self, guardian_pid: str) -> list[MandateRecord]:
        return self.all(guardian_pid)

    def add_all(self, records: list[MandateRecord]) -> None:
        """Add every record or none: a reference already registered raises before anything is written."""
        references = [record.reference for record in records]
        taken = db.session.scalars(sa.select(Mandate.reference).where(Mandate.reference.in_(references))).first()
        if taken is not None:
            raise DuplicateReference(f"mandate {taken} is registered already")
        db.session.add_all(
            Mandate(
                reference=record.reference,
                guardian_pid=record.guardian_pid,
                ward_pid=record.ward_pid,
                ward_name=record.ward_name,
                roles=list(record.roles),
                valid_from=record.valid_from,
                valid_to=record.valid_to,
            )
            for record in records
        )

    def all(self, guardian_pid: str | None = None) -> list[MandateRecord]:
        query = sa.select(Mandate).order_by(Mandate.guardian_pid, Mandate.ward_name, Mandate.reference)
        if guardian_pid is not None:
            query = query.where(Mandate.guardian_pid == guardian_pid)
        return [_record(row) for row in db.session.scalars(query)]

    def revoke(self, reference: str, moment: datetime) -> MandateRecord | None:
        """Mark a mandate revoked (kept, for the record); None if no such reference."""
        row = db.session.scalar(sa.select(Mandate).filter_by(reference=reference))
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = moment
        return _record(row)
