"""Second factors a citizen has enrolled, PIN-code letters and activation letters."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class EnrolledFactor(db.Model):
    """One second factor of one citizen; at most one of each kind.

    Only the columns a factor needs are set: ``phone`` for SMS, ``secret`` and
    ``last_timecode`` for TOTP (the secret must be readable to verify codes),
    ``pin_codes`` for a PIN letter.
    """

    __tablename__ = "enrolled_factor"
    __table_args__ = (sa.UniqueConstraint("citizen_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    secret: Mapped[str | None] = mapped_column(sa.String(255))
    # The last TOTP time step accepted: an equal or older one is a replay.
    last_timecode: Mapped[int | None] = mapped_column(sa.BigInteger)
    preferred: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    citizen = relationship("Citizen")
    pin_codes = relationship("PinCode", cascade="all, delete-orphan", order_by="PinCode.number")


class PinCode(db.Model):
    """One numbered code of a PIN letter, stored as a keyed hash; burned when used."""

    __tablename__ = "pin_code"
    __table_args__ = (sa.UniqueConstraint("factor_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    factor_id: Mapped[int] = mapped_column(sa.ForeignKey("enrolled_factor.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActivationLetter(db.Model):
    """A one-time activation code sent by post, to set up a new factor without one (MinID's aktiveringsbrev)."""

    __tablename__ = "activation_letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
