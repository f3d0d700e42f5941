"""A citizen's account as the hosted pages meet it: found by national identity number, every
check of one of its secrets throttled, the browsers it logged in with remembered as known devices.

Every page that checks a secret (the login's password and second factor, the activation
letter's order and use, the current password in *Min profil*) calls :func:`begin_check`
before checking and :func:`failed` or :func:`passed` after, so the limits of
``idp/policy/limits.py``, their audit events and the known devices do not depend on which
page was used. The policy decides; this module brings it the request's network and device
cookie and audits what it decided.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import Citizen
from idp.pid import InvalidPid, parse_pid
from idp.policy.limits import Attempt, Failure, Limits

DEVICE_COOKIE = "idp_device_"  # + the first characters of the account's key: one cookie per account


def valid_pid(raw_pid: str) -> str | None:
    """The number as parsed, or None when it is not a valid national identity number here."""
    try:
        return parse_pid(raw_pid, allow_synthetic=current_app.config["IDP"].citizens.allow_synthetic_pids)
    except InvalidPid:
        return None


def find_citizen(raw_pid: str) -> tuple[str | None, Citizen | None]:
    """The number as parsed (None when it is not a valid one) and the citizen who has it, if any."""
    pid = valid_pid(raw_pid)
    if pid is None:
        return None, None
    return pid, db.session.scalar(sa.select(Citizen).filter_by(pid=pid))


def _limits() -> Limits:
    return current_app.extensions["idp.limits"]


def begin_check(
    pid: str | None, *, event: str, citizen: Citizen | None = None, client_id: str | None = None, **detail: object
) -> Attempt:
    """Check-before for a secret of the account ``pid`` (None: no valid number), from this request.

    A refusal is audited as ``event`` (``delayed``, or ``rate_limited`` when the network is
    held) and must be answered without checking the secret. Call before any write that must
    wait for the request's commit: an allowed attempt holds its scopes at once.
    """
    attempt = _limits().begin(account=pid, network=request.remote_addr, device=known_device(pid), now=now())
    if not attempt.allowed:
        outcome = "rate_limited" if attempt.scope == "network" else "delayed"
        audit.record(
            event, outcome=outcome, citizen=citizen, pid=pid, client_id=client_id, scope=attempt.scope, **detail
        )
    return attempt


def failed(
    attempt: Attempt, *, citizen: Citizen | None = None, pid: str | None = None, client_id: str | None = None
) -> Failure:
    """Record-after: the secret was wrong. Each scope this failure made wait is audited (``limits.throttled``)."""
    failure = _limits().failed(attempt, now())
    for throttle in failure.throttles:
        audit.record(
            "limits.throttled",
            outcome=throttle.stage,
            citizen=citizen,
            pid=pid,
            client_id=client_id,
            scope=throttle.scope,
            failures=throttle.failures,
            seconds=throttle.seconds,
        )
    return failure


def passed(attempt: Attempt) -> None:
    """Record-after: the secret was right; the counts stand until the login completes."""
    _limits().passed(attempt)


def code_send_wait(citizen: Citizen) -> tuple[int, str]:
    """Seconds before a one-time code may be sent for this citizen from this request's network (0: now), and whose
    limit ("account" or "network") holds it. Asking counts nothing."""
    return _limits().code_send_wait(account=citizen.pid, network=request.remote_addr, now=now())


def code_sent(citizen: Citizen) -> None:
    """Count a one-time code really sent for this citizen from this request's network."""
    _limits().code_sent(account=citizen.pid, network=request.remote_addr, now=now())


def login_completed(citizen: Citizen, response: Response) -> None:
    """A complete login: forget the account's failures here and remember this browser as a known device."""
    _limits().completed(account=citizen.pid, network=request.remote_addr, device=known_device(citizen.pid))
    config = current_app.config["IDP"]
    key = _limits().account_key(citizen.pid)
    expires = now() + timedelta(days=config.limits.device_days)
    # A new device each time (OWASP): a cookie copied away before this login counts apart.
    value = _devices().dumps({"account": key, "device": secrets.token_urlsafe(16), "expires": int(expires.timestamp())})
    response.set_cookie(
        DEVICE_COOKIE + key[:16],
        value,
        max_age=config.limits.device_days * 24 * 3600,
        secure=config.server.secure_cookies,
        httponly=True,
        samesite="Strict",  # only our own pages' forms check secrets
        path="/",
    )


def known_device(pid: str | None) -> str | None:
    """The device this browser is for the account ``pid``: its cookie's nonce when signed by us for that account."""
    if pid is None:
        return None
    key = _limits().account_key(pid)
    raw = request.cookies.get(DEVICE_COOKIE + key[:16])
    if not raw:
        return None
    try:
        value = _devices().loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("account") != key or not isinstance(value.get("device"), str):
        return None
    if not isinstance(value.get("expires"), int) or value["expires"] <= now().timestamp():
        return None
    return value["device"]


def _devices() -> URLSafeSerializer:
    return URLSafeSerializer(
        current_app.secret_key, salt="idp.known-device", signer_kwargs={"digest_method": hashlib.sha256}
    )
