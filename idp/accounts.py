"""A citizen's account as the hosted pages meet it: found by national identity number,
locked when the attempt limits say so.

The login pages and *Min profil* (activation letters) both check a password or a code
against an account; the lock and its audit event must not depend on which page failed.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import Citizen, CitizenStatus
from idp.pid import InvalidPid, parse_pid


def find_citizen(raw_pid: str) -> tuple[str | None, Citizen | None]:
    """The number as parsed (None when it is not a valid one) and the citizen who has it, if any."""
    try:
        pid = parse_pid(raw_pid, allow_synthetic=current_app.config["IDP"].citizens.allow_synthetic_pids)
    except InvalidPid:
        return None, None
    return pid, db.session.scalar(sa.select(Citizen).filter_by(pid=pid))


def count_failure(citizen: Citizen, *, client_id: str | None = None) -> tuple[int, bool]:
    """A failed attempt against the account: (seconds it must now wait, whether it is now locked).

    The lock is the citizen's status, committed with the caller's transaction.
    """
    wait, lock = current_app.extensions["idp.limits"].failure(citizen.id, now())
    if lock:
        citizen.status = CitizenStatus.locked
        audit.record("account.locked", outcome="locked", citizen=citizen, client_id=client_id)
    return wait, lock
