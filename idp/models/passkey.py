"""Passkeys and security keys (WebAuthn credentials) a citizen registered in Min profil."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class Passkey(db.Model):
    """One WebAuthn credential: what the browser's authenticator made, as py_webauthn verified it.

    ``user_handle`` is the WebAuthn user id the authenticator keeps with a discoverable
    credential and gives back at a passwordless login: random, the same for all of one
    citizen's passkeys, never the national identity number (the authenticator may show it
    or sync it to a cloud).
    """

    __tablename__ = "passkey"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    # WebAuthn allows credential ids of up to 1023 bytes.
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary(1023), unique=True)
    user_handle: Mapped[bytes] = mapped_column(sa.LargeBinary(64), index=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary())  # COSE_Key, as the authenticator sent it
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Backup eligible: a synced passkey (iCloud Keychain, Google Password Manager), not bound to one device.
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backup_state: Mapped[bool] = mapped_column(default=False)
    transports: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    aaguid: Mapped[str] = mapped_column(sa.String(36))
    nickname: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    citizen = relationship("Citizen")
