"""PIN-code letters (legacy): numbered one-time codes sent by post; login asks for one by number and burns it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from idp.clock import now
from idp.config import Config, PinConfig
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa.codes import code_hash, code_matches, numeric_code
from idp.mfa.factor import Challenge, CodeForm, Outcome
from idp.models import Citizen, EnrolledFactor, PinCode

PURPOSE = "pin"


class PinFactor:
    name = "pin"
    label = _l("PIN code from your letter")
    template = "login/factor_pin.html"
    form_class = CodeForm
    sends_code = False
    amr_values = {"rfc8176": ["pin"], "idporten": ["Minid-PIN"]}

    def __init__(self, config: PinConfig):
        self.config = config

    def _unused(self, citizen: Citizen) -> list[PinCode]:
        row = rows.enrolment(citizen, self.name)
        return [code for code in row.pin_codes if code.used_at is None] if row else []

    def enrolled(self, citizen: Citizen) -> bool:
        return bool(self._unused(citizen))

    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge:
        unused = self._unused(citizen)
        if not unused:
            raise LookupError("no unused PIN codes")
        # A random number, so someone who saw one code cannot predict the next question.
        state["number"] = secrets.choice(unused).number
        return Challenge({"number": state["number"]})

    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome:
        row = rows.enrolment(citizen, self.name)
        number = state.get("number")
        code = next((c for c in row.pin_codes if c.number == number), None) if row else None
        if code is None:
            return Outcome(False, "expired", restart=True)
        if code.used_at is not None:
            return Outcome(False, "replay", restart=True)
        if not code_matches(code.code_hash, response.get("code", ""), purpose=PURPOSE):
            return Outcome(False, "wrong")
        # Burn it in one statement: of two requests racing with one code, only one succeeds.
        moment = now()
        burned = db.session.execute(
            sa.update(PinCode)
            .where(PinCode.id == code.id, PinCode.used_at.is_(None))
            .values(used_at=moment)
            .execution_options(synchronize_session=False)
        ).rowcount
        if burned != 1:
            db.session.refresh(code)
            return Outcome(False, "replay", restart=True)
        # The row now holds what the statement wrote; reading it back would cost a query.
        set_committed_value(code, "used_at", moment)
        state.pop("number", None)
        return Outcome(True)

    def issue_letter(self, citizen: Citizen) -> tuple[EnrolledFactor, list[tuple[int, str]]]:
        """A new letter replaces the old one; returns the codes for the letter text, the only place they exist."""
        row = rows.enrol(citizen, self.name)
        row.pin_codes.clear()
        # The old codes must be gone before the new ones reuse their numbers.
        db.session.flush()
        codes = [
            (number, numeric_code(self.config.code_length)) for number in range(1, self.config.codes_per_letter + 1)
        ]
        for number, code in codes:
            row.pin_codes.append(PinCode(number=number, code_hash=code_hash(code, purpose=PURPOSE)))
        return row, codes

    def remove(self, citizen: Citizen) -> None:
        rows.remove(citizen, self.name)


def make(config: Config) -> PinFactor:
    return PinFactor(config.pin)
