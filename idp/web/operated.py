"""The login's two questions about a guardian-operated account (idp/guardianship/operated.py), with their audit."""

from __future__ import annotations

from flask import current_app

from idp import audit
from idp.clock import now
from idp.guardianship import operated
from idp.models import Citizen
from idp.pid import mask_pid


def stopped(citizen: Citizen, *, client_id: str) -> bool:
    """True (and audited) when the account is operated under a mandate no longer in force: the login stops here."""
    mandate, why = operated.standing(citizen, current_app.extensions["idp.guardianship"], now().date())
    if why is None:
        return False
    audit.record(
        "login.operated",
        outcome=why,
        citizen=citizen,
        client_id=client_id,
        mandate=citizen.operated_under,
        guardian=mask_pid(mandate.guardian_pid) if mandate else None,
    )
    return True


def act_of(citizen: Citizen) -> dict[str, str] | None:
    """The session's ``act`` record for an operated account (checked by :func:`stopped` first), else None."""
    mandate, why = operated.standing(citizen, current_app.extensions["idp.guardianship"], now().date())
    return operated.act(mandate) if mandate is not None and why is None else None


def audit_detail(act: dict[str, str] | None) -> dict[str, str]:
    """What the login's audit event says of an operated account: by whom (masked) and under which mandate."""
    return {"operated_by": mask_pid(act["pid"]), "mandate": act["mandate"]} if act else {}
