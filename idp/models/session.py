"""Login sessions (SSO), kept server-side: the cookie holds only an opaque id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class LoginSession(db.Model):
    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the cookie value, so a read of the table cannot hijack sessions.
    cookie_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The `sid` claim (OIDC Front/Back-Channel Logout): public, unlike the cookie.
    sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str] = mapped_column(sa.String(64))
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # The language the login pages were in: the `locale` claim (OIDC Core §5.1).
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(256))
    # Who really logged in when a guardian operates the account (RFC 8693's "act", kept here, not in tokens):
    # {"pid": the guardian's number, "mandate": its reference}.
    act: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))
    # False for a login of a passkey alone: a step-up then asks for the whole login, since the
    # chain's step-up adds a factor to a password that was given.
    password_used: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())

    citizen = relationship("Citizen")
    clients = relationship("SessionClient", cascade="all, delete-orphan")


class SessionClient(db.Model):
    """A relying party that received tokens in a session: logout must reach it."""

    __tablename__ = "session_client"

    session_id: Mapped[int] = mapped_column(sa.ForeignKey("login_session.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
