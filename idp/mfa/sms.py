"""SMS one-time code: a short numeric code sent to the citizen's mobile, single use, few tries, short life."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.clock import now
from idp.config import Config, SmsConfig
from idp.mfa import enrolment as rows
from idp.mfa.codes import code_hash, code_matches, mask_phone, numeric_code
from idp.mfa.factor import Challenge, CodeForm, Outcome, TryLater
from idp.mfa.gateways.sms import SmsGateway, make_sms_gateway
from idp.models import Citizen

CODES = "sms_code"
TRIES = "sms_tries"
PURPOSE = "sms"
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalise_phone(raw: str) -> str:
    """E.164; a bare 8-digit number is Norwegian (+47). Raises ValueError otherwise."""
    phone = re.sub(r"[\s().-]", "", raw or "")
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if re.fullmatch(r"[2-9][0-9]{7}", phone):
        phone = "+47" + phone
    if not _PHONE.match(phone):
        raise ValueError("a mobile number has 8 digits, or + and the country code")
    return phone


class SmsFactor:
    name = "sms"
    label = _l("Code by SMS")
    template = "login/factor_sms.html"
    form_class = CodeForm
    sends_code = True
    amr_values = {"rfc8176": ["sms"], "idporten": ["Minid-OTC"]}

    def __init__(self, config: SmsConfig, gateway: SmsGateway):
        self.config = config
        self.gateway = gateway

    def enrolled(self, citizen: Citizen) -> bool:
        row = rows.enrolment(citizen, self.name)
        return row is not None and bool(row.phone)

    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge:
        row = rows.enrolment(citizen, self.name)
        if row is None or not row.phone:
            raise LookupError("no mobile number enrolled")
        self.send(
            row.phone,
            state,
            text=lambda code: _("%(code)s is your code for logging in to %(service)s.", code=code, service=service),
        )
        return Challenge({"phone": mask_phone(row.phone)})

    def send(self, phone: str, state: dict, *, text: Callable[[str], str]) -> None:
        """Send a fresh code to ``phone``, throttled per login; ``text`` words the message around the code."""
        moment = now()
        sends = int(state.get("sends", 0))
        if sends >= self.config.max_sends:
            raise TryLater(self.config.code_seconds, used_up=True)
        if "sent_at" in state:
            ready = datetime.fromisoformat(state["sent_at"]) + timedelta(seconds=self.config.resend_seconds)
            if ready > moment:
                raise TryLater(math.ceil((ready - moment).total_seconds()))
        code = numeric_code(self.config.code_length)
        challenge = secrets.token_urlsafe(16)
        expires = moment + timedelta(seconds=self.config.code_seconds)
        _store().put(
            CODES,
            challenge,
            {"hash": code_hash(code, purpose=PURPOSE), "expires": expires.isoformat()},
            ttl=self.config.code_seconds,
        )
        # A new code replaces the old one: only the latest works.
        if state.get("challenge"):
            _store().delete(CODES, state["challenge"])
        state.update(challenge=challenge, sends=sends + 1, sent_at=moment.isoformat())
        self.gateway.send(to=phone, text=text(code))

    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome:
        return self.check(state, response.get("code", ""))

    def check(self, state: dict, code: str) -> Outcome:
        challenge = state.get("challenge")
        entry = _store().get(CODES, challenge) if challenge else None
        if entry is None or datetime.fromisoformat(entry["expires"]) <= now():
            return Outcome(False, "expired", restart=True)
        tries = _store().incr(TRIES, challenge, ttl=self.config.code_seconds)
        if tries > self.config.max_tries:
            _store().delete(CODES, challenge)
            return Outcome(False, "exhausted", restart=True)
        if code_matches(entry["hash"], code, purpose=PURPOSE):
            # take(): of two requests racing with the right code only one wins.
            if _store().take(CODES, challenge) is None:
                return Outcome(False, "replay", restart=True)
            state.pop("challenge", None)
            return Outcome(True)
        if tries >= self.config.max_tries:
            _store().delete(CODES, challenge)
            return Outcome(False, "exhausted", restart=True)
        return Outcome(False, "wrong")

    def remove(self, citizen: Citizen) -> None:
        rows.remove(citizen, self.name)


def _store():
    return current_app.extensions["idp.store"]


def make(config: Config) -> SmsFactor:
    return SmsFactor(config.sms, make_sms_gateway(config))
