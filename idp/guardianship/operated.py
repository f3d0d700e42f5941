"""Guardian-operated accounts: a ward's own account that the guardian logs in with, under a registered mandate.

The account is usable only while that mandate is in force; after it expires or is
revoked the login stops with a clear page until support acts (``idp guardians operate``
with a new mandate, or ``idp guardians release``).
"""

from __future__ import annotations

from datetime import date

from idp.guardianship.register import GuardianshipRegister, MandateRecord
from idp.models import Citizen


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
