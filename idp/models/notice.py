"""Letters sent to tell citizens of a change (a second factor phased out): each one once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


class NoticeSent(db.Model):
    """One notice about one account sent to one recipient: the account's citizen, or a guardian of theirs.

    The unique key is what keeps a re-run (or a second run started beside the first) from sending twice.
    """

    __tablename__ = "notice_sent"
    __table_args__ = (sa.UniqueConstraint("notice", "account_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice: Mapped[str] = mapped_column(sa.String(64))  # e.g. "factor-phase-out:pin"
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(sa.String(16))  # "citizen" or "guardian"
    locale: Mapped[str] = mapped_column(sa.String(8))
    letter: Mapped[str] = mapped_column(sa.String(255))  # the gateway's name for the letter (its file)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
