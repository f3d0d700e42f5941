"""Activation letters: a one-time code sent by post to the citizen's registered address (MinID's aktiveringsbrev).

A letter proves the citizen has the address the population register gives: it activates an
ordered account, and lets a citizen who lost every second factor set a new password. The code
is kept only as a keyed hash; a letter is spent by one statement, so of two requests racing
with its code only one wins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app

from idp.clock import now
from idp.extensions import db
from idp.mfa.codes import code_hash, code_matches, numeric_code
from idp.models import ActivationLetter, Citizen

PURPOSE = "activation"  # the keyed hash of every activation letter, ordered in Min profil or at /order
_GROUP = 4
_GROUPS = 3


def _as_printed(code: str) -> str:
    """The code as the letter prints it (1234-5678-9012), however the citizen spaced or dashed it."""
    digits = "".join(char for char in code if char not in " -\t\u00a0")
    return "-".join(digits[i : i + _GROUP] for i in range(0, len(digits), _GROUP))


def live_letter(citizen: Citizen) -> ActivationLetter | None:
    """The citizen's unused letter still valid, if one is on its way."""
    return db.session.scalar(
        sa.select(ActivationLetter).where(
            ActivationLetter.citizen_id == citizen.id,
            ActivationLetter.expires_at > now(),
            ActivationLetter.used_at.is_(None),
        )
    )


def send_letter(citizen: Citizen, *, body: Callable[[str, date], str]) -> ActivationLetter:
    """Post a new code; ``body(code, valid_until)`` words the letter. Raises NoAddress without an address."""
    moment = now()
    expires = moment + timedelta(days=current_app.config["IDP"].letters.activation_days)
    code = "-".join(numeric_code(_GROUP) for _ in range(_GROUPS))
    current_app.extensions["idp.letters"].send(citizen=citizen, kind="activation", body=body(code, expires.date()))
    letter = ActivationLetter(
        citizen_id=citizen.id, code_hash=code_hash(code, purpose=PURPOSE), issued_at=moment, expires_at=expires
    )
    db.session.add(letter)
    return letter


def spend_letter(citizen: Citizen, code: str) -> bool:
    """True when ``code`` is that of one of the citizen's live letters, which is now used up."""
    letter = next(
        (
            candidate
            for candidate in db.session.scalars(
                sa.select(ActivationLetter).where(
                    ActivationLetter.citizen_id == citizen.id,
                    ActivationLetter.expires_at > now(),
                    ActivationLetter.used_at.is_(None),
                )
            )
            if code_matches(candidate.code_hash, _as_printed(code), purpose=PURPOSE)
        ),
        None,
    )
    if letter is None:
        return False
    spent = db.session.execute(
        sa.update(ActivationLetter)
        .where(ActivationLetter.id == letter.id, ActivationLetter.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    return spent == 1
