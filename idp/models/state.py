"""Short-lived state rows backing :class:`idp.store.DatabaseStore`."""

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class ShortLivedState(db.Model):
    """One expiring entry: either a JSON value or a counter, never both in practice.

    ``expires_at`` is always written in UTC. SQLite has no time zone type and
    hands it back naive, so readers must treat naive values as UTC.
    """

    __tablename__ = "short_lived_state"

    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # none_as_null so counter rows hold SQL NULL rather than the JSON literal null.
    value: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
