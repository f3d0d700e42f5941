"""The interface every second factor implements, and the values it exchanges with the chain.

A factor verifies one proof and knows nothing of other factors, levels or
the chain. Its per-login ``state`` is a JSON-able dict the chain keeps in the
login transaction; the factor alone reads and writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from idp.models import Citizen


@dataclass(frozen=True)
class Challenge:
    """What the factor's page shows (a masked number, which code to type); never a secret."""

    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    # "ok", "wrong", "expired", "replay" (already used), "exhausted" (too many tries), or a reason of
    # the factor's own; "pending": no answer yet (an approval still waited for), which is no failure.
    reason: str = "ok"
    # The challenge is spent: the page must start a new one (send a new code).
    restart: bool = False
    # The amr values this proof earned, per amr profile, where they depend on the proof (a passkey
    # synced or bound to its device, the user verified or not); None: the factor's ``amr_values``.
    amr: dict[str, list[str]] | None = None

    @property
    def pending(self) -> bool:
        return self.reason == "pending"


class TryLater(Exception):  # noqa: N818 - reads as what the page tells the citizen
    """A new challenge cannot be made yet: ``seconds`` to wait, or ``used_up`` when this login may make no more."""

    def __init__(self, seconds: int, *, used_up: bool = False):
        super().__init__(f"try again in {seconds} s")
        self.seconds = seconds
        self.used_up = used_up


class Factor(Protocol):
    name: str
    label: str
    template: str  # the login page for this factor, under templates/login/
    form_class: type[FlaskForm]
    sends_code: bool  # starting it costs money and can be abused: per-IP limited
    amr_values: dict[str, list[str]]  # per amr profile: {"rfc8176": [...], "idporten": [...]}

    def enrolled(self, citizen: Citizen) -> bool: ...
    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge: ...
    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome: ...
    def remove(self, citizen: Citizen) -> None: ...


class CodeForm(FlaskForm):
    """A one-time code: what SMS, TOTP and PIN pages collect."""

    tx = HiddenField()
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )
