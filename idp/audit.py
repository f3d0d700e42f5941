"""Recording authentication events in the append-only audit log."""

from __future__ import annotations

from flask import has_request_context, request

from idp.clock import now
from idp.extensions import db
from idp.models import AuditEvent, Citizen
from idp.pid import mask_pid


def record(
    event: str,
    *,
    outcome: str,
    citizen: Citizen | None = None,
    pid: str | None = None,
    client_id: str | None = None,
    **detail: object,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits).

    Never pass secrets in ``detail``: passwords, codes and tokens stay out.
    """
    pid = citizen.pid if citizen is not None else pid
    entry = AuditEvent(
        at=now(),
        event=event,
        outcome=outcome,
        citizen_id=citizen.id if citizen is not None else None,
        pid_masked=mask_pid(pid) if pid else None,
        client_id=client_id,
        detail=detail,
    )
    if has_request_context():
        entry.ip = request.remote_addr
        entry.user_agent = (request.user_agent.string or "")[:256]
    db.session.add(entry)
    return entry
