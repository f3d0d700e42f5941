"""Citizens: the people who log in, identified by their national identity number."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class CitizenStatus(enum.StrEnum):
    active = "active"
    locked = "locked"
    disabled = "disabled"
    expired = "expired"  # ordered at /register and never activated (`idp accounts expire`); may be ordered anew


class Citizen(db.Model):
    __tablename__ = "citizen"

    id: Mapped[int] = mapped_column(primary_key=True)
    pid: Mapped[str] = mapped_column(sa.String(11), unique=True)
    given_name: Mapped[str] = mapped_column(sa.String(200))
    family_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    phone_verified: Mapped[bool] = mapped_column(default=False)
    street_address: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(16))
    locality: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[CitizenStatus] = mapped_column(
        sa.Enum(CitizenStatus, native_enum=False, length=16), default=CitizenStatus.active
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # When a value relying parties receive last changed (the OIDC ``updated_at`` claim). Not updated_at:
    # that one moves with a password rehash at login or a lock, which are no business of a relying party.
    claims_updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A guardian-operated account: the reference of the mandate under which its guardian logs in with it.
    operated_under: Mapped[str | None] = mapped_column(sa.String(64))
    # False for an account ordered at /order whose activation letter (sent to the population
    # register's address) is not used yet: it reaches at most ordering.unactivated_level.
    # Accounts support adds are activated at once.
    activated: Mapped[bool] = mapped_column(default=True)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def address(self) -> dict[str, str] | None:
        """The OIDC ``address`` claim (Core §5.1.1); letters go here."""
        parts = {
            "street_address": self.street_address,
            "postal_code": self.postal_code,
            "locality": self.locality,
            "country": self.country,
        }
        parts = {key: value for key, value in parts.items() if value}
        if not parts:
            return None
        lines = [self.street_address, " ".join(p for p in (self.postal_code, self.locality) if p)]
        parts["formatted"] = "\n".join(line for line in lines if line)
        return parts


# The columns whose values reach relying parties as claims (``pid`` never changes).
CLAIM_COLUMNS = (
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "phone",
    "phone_verified",
    "street_address",
    "postal_code",
    "locality",
    "country",
)


@sa.event.listens_for(Citizen, "before_update")
def _note_changed_claims(_mapper, _connection, citizen: Citizen) -> None:
    """Move claims_updated_at when an update changes a claim's value, whoever makes it (pages, CLI, API)."""
    state = sa.inspect(citizen)
    if any(state.attrs[name].history.has_changes() for name in CLAIM_COLUMNS):
        citizen.claims_updated_at = utcnow()
