"""The embedded population register: the people the provider may serve, loaded by the operator."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class RegisteredPerson(db.Model):
    """One person as the register knows them: name and the postal address letters go to."""

    __tablename__ = "population_register"

    id: Mapped[int] = mapped_column(primary_key=True)
    pid: Mapped[str] = mapped_column(sa.String(11), unique=True)
    given_name: Mapped[str] = mapped_column(sa.String(200))
    family_name: Mapped[str] = mapped_column(sa.String(200))
    street_address: Mapped[str] = mapped_column(sa.String(200))
    postal_code: Mapped[str] = mapped_column(sa.String(16))
    locality: Mapped[str] = mapped_column(sa.String(100))
    country: Mapped[str] = mapped_column(sa.String(2))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
