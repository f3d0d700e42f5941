"""The app factor's devices (a citizen's phones, each with its own P-256 key) and activation codes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class AppDevice(db.Model):
    """One enrolled phone. Only its public key is kept: the private key never leaves the device.

    ``key_id`` is the public key's RFC 7638 thumbprint, the ``kid`` the device signs with.
    ``push_subscription`` is the Web Push subscription the device gave at enrolment, if any.
    """

    __tablename__ = "app_device"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    public_jwk: Mapped[dict] = mapped_column(sa.JSON)
    name: Mapped[str] = mapped_column(sa.String(64))
    push_subscription: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppActivation(db.Model):
    """A code for enrolling a device, shown in Min profil: a keyed hash, short life, few tries, used once."""

    __tablename__ = "app_activation"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
