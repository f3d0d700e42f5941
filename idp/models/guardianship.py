"""Guardianship mandates (vergefullmakter): who may act for whom, for which roles, and until when."""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow

# A role / area a mandate covers, and a client asks for: the same grammar in the register and the protocol.
ROLE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


class Mandate(db.Model):
    """One registered mandate. Identity numbers are stored in full (the login needs them) and never logged."""

    __tablename__ = "mandate"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The mandate's own reference (the guardianship authority's case number): how support names it.
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    guardian_pid: Mapped[str] = mapped_column(sa.String(11), index=True)
    ward_pid: Mapped[str] = mapped_column(sa.String(11), index=True)
    ward_name: Mapped[str] = mapped_column(sa.String(200))
    # The roles / areas the mandate covers (e.g. "helse", "bank"); a request's roles are ORed against them.
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)  # inclusive; None: until revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
