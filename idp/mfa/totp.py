"""TOTP (RFC 6238) from an authenticator app; a time step once accepted is never accepted again."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

import pyotp
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from idp.clock import now
from idp.config import Config, TotpConfig
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa.factor import Challenge, CodeForm, Outcome
from idp.models import Citizen, EnrolledFactor


class TotpFactor:
    name = "totp"
    label = _l("Code from an authenticator app")
    template = "login/factor_totp.html"
    form_class = CodeForm
    sends_code = False
    amr_values = {"rfc8176": ["otp"], "idporten": ["Minid-TOTP"]}

    def __init__(self, config: TotpConfig):
        self.config = config

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self.config.digits, interval=self.config.period)

    def _fernet(self) -> Fernet:
        """The key that seals secrets at rest: configured, or derived from the deployment's secret key."""
        material = self.config.encryption_key or current_app.extensions["idp.secrets"]["secret_key"]
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp totp secrets").derive(material.encode())
        return Fernet(base64.urlsafe_b64encode(key))

    def secret_of(self, row: EnrolledFactor) -> str:
        """The enrolled secret in clear, for verifying a code; a row sealed with another key yields none."""
        try:
            return self._fernet().decrypt((row.secret or "").encode()).decode()
        except InvalidToken:
            return ""

    def enrolled(self, citizen: Citizen) -> bool:
        row = rows.enrolment(citizen, self.name)
        return row is not None and bool(row.secret)

    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge:
        return Challenge()

    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome:
        row = rows.enrolment(citizen, self.name)
        if row is None or not row.secret:
            return Outcome(False, "wrong")
        return self.accept(row, response.get("code", ""))

    def matching_timecode(self, secret: str, code: str) -> int | None:
        """The time step within the window whose code this is, or None."""
        totp = self._totp(secret)
        current = totp.timecode(now())
        code = code.strip()
        for step in range(current - self.config.valid_window, current + self.config.valid_window + 1):
            # As bytes: compare_digest refuses str with characters beyond ASCII, which anyone can type.
            if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
                return step
        return None

    def accept(self, row: EnrolledFactor, code: str) -> Outcome:
        secret = self.secret_of(row)
        step = self.matching_timecode(secret, code) if secret else None
        if step is None:
            return Outcome(False, "wrong")
        if row.last_timecode is not None and step <= row.last_timecode:
            return Outcome(False, "replay")
        # Compare-and-set in one statement: of two requests racing with one code, only one moves the step.
        moved = db.session.execute(
            sa.update(EnrolledFactor)
            .where(
                EnrolledFactor.id == row.id,
                sa.or_(EnrolledFactor.last_timecode.is_(None), EnrolledFactor.last_timecode < step),
            )
            .values(last_timecode=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            db.session.refresh(row)
            return Outcome(False, "replay")
        # The row now holds what the statement wrote; reading it back would cost a query.
        set_committed_value(row, "last_timecode", step)
        return Outcome(True)

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def provisioning_uri(self, citizen: Citizen, secret: str) -> str:
        # The app shows the name, not the identity number: phones get lost.
        return self._totp(secret).provisioning_uri(name=citizen.name, issuer_name=self.config.issuer)

    def enrol(self, citizen: Citizen, secret: str, *, confirmed_timecode: int | None = None) -> EnrolledFactor:
        # Sealed: a copy of the database alone must not let anyone make this citizen's codes.
        sealed = self._fernet().encrypt(secret.encode()).decode()
        return rows.enrol(citizen, self.name, secret=sealed, last_timecode=confirmed_timecode)

    def remove(self, citizen: Citizen) -> None:
        rows.remove(citizen, self.name)


def make(config: Config) -> TotpFactor:
    return TotpFactor(config.totp)
