"""SSO login sessions: created once a login's requirement is met, found by cookie.

The cookie holds a random opaque value; the database holds its SHA-256, the
citizen, and the facts the policy needs later (level, factors, auth_time).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, current_app, g, request
from flask_babel import get_locale
from sqlalchemy.orm import joinedload

from idp.clock import now
from idp.extensions import db
from idp.models import Citizen, CitizenStatus, LoginSession, SessionClient

# Activity is written at most this often, not on every request that finds the session: an
# idle session may therefore end up to this much before idle_seconds after its last use.
LAST_SEEN_PRECISION = timedelta(seconds=60)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def start_session(
    *, citizen: Citizen, acr: str, amr: list[str], response: Response, password_used: bool = True
) -> LoginSession:
    """Record a completed login and set its cookie on ``response``; ends any previous session."""
    config = current_app.config["IDP"]
    previous = current_session()
    if previous is not None:
        previous.ended_at = now()
    cookie = secrets.token_urlsafe(32)
    moment = now()
    session = LoginSession(
        cookie_hash=_hash(cookie),
        sid=secrets.token_urlsafe(16),
        citizen=citizen,
        auth_time=moment,
        acr=acr,
        amr=amr,
        password_used=password_used,
        locale=str(get_locale()),
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + timedelta(seconds=config.session.lifetime_seconds),
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:256],
    )
    db.session.add(session)
    g.login_session = session
    response.set_cookie(
        config.session.cookie_name,
        cookie,
        max_age=config.session.lifetime_seconds,
        secure=config.server.secure_cookies,
        httponly=True,
        samesite="Lax",  # Lax: the relying party's top-level redirect to /authorize must carry it.
        path="/",
    )
    return session


def current_session() -> LoginSession | None:
    """The live session named by this request's cookie, or None."""
    if "login_session" in g:
        return g.login_session
    config = current_app.config["IDP"]
    cookie = request.cookies.get(config.session.cookie_name)
    found = None
    if cookie and cookie.isascii():  # ours are URL-safe base64: anything else names no session
        # The citizen comes in the same query: every use of a session checks their status.
        found = db.session.scalar(
            sa.select(LoginSession).filter_by(cookie_hash=_hash(cookie)).options(joinedload(LoginSession.citizen))
        )
        moment = now()
        idle = timedelta(seconds=config.session.idle_seconds)
        if found is not None and (
            found.ended_at is not None
            or found.expires_at <= moment
            or found.last_seen_at + idle <= moment
            or found.citizen.status != CitizenStatus.active
            # A guardian's session of a ward's account ends when the account is no longer operated under the
            # mandate it was opened with: released to the ward, or taken over under another mandate.
            or (found.act is not None and found.act.get("mandate") != found.citizen.operated_under)
        ):
            found = None
        if found is not None and found.last_seen_at + LAST_SEEN_PRECISION <= moment:
            found.last_seen_at = moment
    g.login_session = found
    return found


def end_session(session: LoginSession, response: Response) -> None:
    session.ended_at = now()
    g.login_session = None
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session.cookie_name, path="/", secure=config.server.secure_cookies, httponly=True, samesite="Lax"
    )


def remember_client(session: LoginSession, client_id: str) -> None:
    """Note that a relying party received tokens in this session, for logout."""
    if not any(c.client_id == client_id for c in session.clients):
        session.clients.append(SessionClient(client_id=client_id, first_at=now()))
