"""Guardian-operated accounts: a ward's own account that the guardian logs in with, under a registered mandate.

The account is usable only while that mandate is in force; after it expires or is
revoked the login stops with a clear page until support acts (``idp guardians operate``
with a new mandate, or ``idp guardians release``), or the guardian of a new mandate takes it
on in Min profil. Either way :func:`start` makes the account operated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from idp import audit
from idp.extensions import db
from idp.guardianship.register import GuardianshipRegister, MandateRecord
from idp.mfa.enrolment import enrol, set_preferred
from idp.models import Citizen, CitizenStatus
from idp.pid import mask_pid


def standing(citizen: Citizen, register: GuardianshipRegister, day: date) -> tuple[MandateRecord | None, str | None]:
    """(the mandate, None) when the account is operated under a mandate in force; (mandate or None, why not) else.

    ``(None, None)`` for an account nobody operates. Why not: ``unknown``, ``revoked``, ``expired``, ``not_yet``.
    """
    if not citizen.operated_under:
        return None, None
    mandate = register.find(citizen.operated_under)
    if mandate is None or mandate.ward_pid != citizen.pid:
        return None, "unknown"
    if mandate.revoked:
        return mandate, "revoked"
    if day < mandate.valid_from:
        return mandate, "not_yet"
    if not mandate.in_force(day):
        return mandate, "expired"
    return mandate, None


def usable(citizen: Citizen, register: GuardianshipRegister, day: date) -> bool:
    """Whether the account may be logged in with now: not operated, or operated under a mandate in force."""
    return standing(citizen, register, day)[1] is None


def act(mandate: MandateRecord) -> dict[str, str]:
    """The session's record of who really logged in, and under which mandate."""
    return {"pid": mandate.guardian_pid, "mandate": mandate.reference}


def start(ward: Citizen, mandate: MandateRecord, *, phone: str, by: str) -> None:
    """Operate ``ward``'s account under ``mandate`` (in force, checked by the caller): its codes go by SMS to the
    guardian's ``phone`` (E.164). The app is personal, so it is never set up for a ward. The caller commits."""
    ward.operated_under = mandate.reference
    enrol(ward, "sms", phone=phone)
    set_preferred(ward, "sms")
    audit.record(
        "guardianship.operated",
        outcome="success",
        citizen=ward,
        guardian=mask_pid(mandate.guardian_pid),
        mandate=mandate.reference,
        by=by,
    )


@dataclass(frozen=True)
class Ward:
    """One ward of a guardian as Min profil shows it, and what the guardian can do with the ward's account.

    ``state``: ``operating`` (the guardian operates it under this mandate), ``available`` (may start),
    ``other`` (operated under another guardian's mandate in force), ``no_account``, or why the mandate
    cannot be used: ``revoked``, ``expired``, ``not_yet``.
    """

    mandate: MandateRecord
    state: str
    account: Citizen | None


def overview(guardian: Citizen, register: GuardianshipRegister, day: date) -> list[Ward]:
    """Each ward of ``guardian``, under the mandate that counts: the one in force, else the latest that ended."""
    latest: dict[str, MandateRecord] = {}
    for mandate in register.mandates_of(guardian.pid):
        kept = latest.get(mandate.ward_pid)
        if kept is None or (mandate.in_force(day), mandate.valid_from) > (kept.in_force(day), kept.valid_from):
            latest[mandate.ward_pid] = mandate
    found = db.session.scalars(sa.select(Citizen).where(Citizen.pid.in_(list(latest)))) if latest else []
    accounts = {citizen.pid: citizen for citizen in found}
    wards = [_ward(mandate, accounts.get(pid), register, day) for pid, mandate in latest.items()]
    return sorted(wards, key=lambda ward: (ward.mandate.ward_name, ward.mandate.reference))


def _ward(mandate: MandateRecord, account: Citizen | None, register: GuardianshipRegister, day: date) -> Ward:
    if mandate.revoked:
        return Ward(mandate, "revoked", account)
    if day < mandate.valid_from:
        return Ward(mandate, "not_yet", account)
    if not mandate.in_force(day):
        return Ward(mandate, "expired", account)
    if account is None or account.status != CitizenStatus.active:
        return Ward(mandate, "no_account", None)
    if account.operated_under == mandate.reference:
        return Ward(mandate, "operating", account)
    current, why = standing(account, register, day)
    if current is not None and why is None and current.guardian_pid != mandate.guardian_pid:
        return Ward(mandate, "other", account)
    return Ward(mandate, "available", account)


def operable(guardian: Citizen, reference: str, register: GuardianshipRegister, day: date) -> Ward | None:
    """The ward under ``reference`` when ``guardian`` may start operating its account now, else None."""
    return next(
        (w for w in overview(guardian, register, day) if w.mandate.reference == reference and w.state == "available"),
        None,
    )
