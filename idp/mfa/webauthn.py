"""Passkeys and security keys (WebAuthn), verified with py_webauthn.

As a second factor the citizen's own credentials are offered to the browser; where
config allows, a discoverable passkey with user verification is the whole login
(``passwordless_options``, ``identify``, ``verify_alone``), the citizen found by the
user handle the authenticator gives back. Registration (``registration_options``,
``register``) is called by Min profil.

The relying party ID and the origin come from ``server.issuer``, never from the
request: a passkey answers only for the host it was made for. Each challenge is used
once (popped from the login's state, or taken from the store for a registration, and
marked spent in the store so two racing requests cannot both use it) and expires after
``challenge_seconds``. CBOR, COSE keys, attestation and signatures are py_webauthn's
business; this module decides what to do with what it verified.

amr (RFC 8176): ``hwk`` for a credential bound to its device, ``swk`` for a synced one
(backup eligible: its private key is copied to a cloud account), plus ``user`` when the
authenticator checked the citizen (PIN, fingerprint, face). ID-porten names it
``Minid-WEBAUTHN`` either way.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm.attributes import set_committed_value
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from idp import audit
from idp.clock import now
from idp.config import Config, ConfigError, WebauthnConfig
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa.factor import Challenge, Outcome
from idp.models import Citizen, Passkey

SPENT = "webauthn_spent"  # store namespace: challenges already answered
# Characters of the browser's JSON answer: an assertion is well under 2 KiB, a
# registration without attestation about 1 KiB; anything much larger is not one.
MAX_ANSWER = 16 * 1024
NICKNAME_LENGTH = 64
USER_VERIFICATION = ("required", "preferred", "discouraged")

# What py_webauthn (and the JSON under it) raises for an answer that is not a valid one.
_INVALID = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


class AssertionForm(FlaskForm):
    """The login page's answer: the browser's assertion as JSON, put in the hidden field by webauthn.js."""

    tx = HiddenField()
    credential = HiddenField(validators=[DataRequired(), Length(max=MAX_ANSWER)])


class NotRegistered(Exception):  # noqa: N818 - reads as what happened
    """A registration was refused: ``reason`` is "expired", "wrong" or "duplicate"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Registration:
    """Options for navigator.credentials.create() (JSON) and what to keep until the browser answers."""

    options: str
    pending: dict[str, str]


def clean_nickname(raw: str) -> str:
    """What the citizen calls the passkey, without control characters (a NUL would not even store)."""
    return "".join(ch for ch in raw if ch.isprintable()).strip()[:NICKNAME_LENGTH]


class WebauthnFactor:
    name = "webauthn"
    label = _l("Passkey or security key")
    template = "login/factor_webauthn.html"
    form_class = AssertionForm
    sends_code = False
    # What an Outcome without its own amr would mean; verify() always says which.
    amr_values = {"rfc8176": ["hwk"], "idporten": ["Minid-WEBAUTHN"]}

    def __init__(self, config: WebauthnConfig, *, issuer: str, rp_name: str):
        if config.user_verification not in USER_VERIFICATION:
            raise ConfigError(f"webauthn.user_verification must be one of {', '.join(USER_VERIFICATION)}")
        if config.attestation != "none":
            raise ConfigError('webauthn.attestation must be "none": no vendor attestation is trusted')
        self.config = config
        parts = urlsplit(issuer)
        self.rp_id = parts.hostname or ""
        self.origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.rp_name = rp_name

    # ------------------------------------------------------------ the citizen's passkeys
    def passkeys(self, citizen: Citizen) -> list[Passkey]:
        return list(db.session.scalars(sa.select(Passkey).filter_by(citizen_id=citizen.id).order_by(Passkey.id)))

    def enrolled(self, citizen: Citizen) -> bool:
        # The factor's row stands for all of the citizen's passkeys: preferred, last used, removed at once.
        return rows.enrolment(citizen, self.name) is not None

    def remove(self, citizen: Citizen) -> None:
        db.session.execute(sa.delete(Passkey).where(Passkey.citizen_id == citizen.id))
        rows.remove(citizen, self.name)

    def remove_passkey(self, citizen: Citizen, passkey_id: int) -> Passkey | None:
        """Remove one of ``citizen``'s passkeys (another's id removes nothing); the last one takes the factor along."""
        key = self.passkey(citizen, passkey_id)
        if key is None:
            return None
        db.session.delete(key)
        db.session.flush()
        if not self.passkeys(citizen):
            rows.remove(citizen, self.name)
        return key

    def passkey(self, citizen: Citizen, passkey_id: int) -> Passkey | None:
        if not 0 < passkey_id < 2**31:  # an id from a URL: beyond the column's range on PostgreSQL
            return None
        return db.session.scalar(sa.select(Passkey).filter_by(id=passkey_id, citizen_id=citizen.id))

    # ------------------------------------------------------------ as a second factor
    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge:
        allowed = [_descriptor(key) for key in self.passkeys(citizen)]
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=self.config.challenge_seconds * 1000,
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement(self.config.user_verification),
        )
        self._remember(state, options.challenge)
        return Challenge({"options": options_to_json(options)})

    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome:
        challenge, refused = self._spend(state)
        if refused is not None:
            return refused
        credential = parse_assertion(response.get("credential", ""))
        key = self._own(citizen, credential) if credential is not None else None
        if key is None:
            # Not an assertion, or one by a credential that is not this citizen's.
            return Outcome(False, "wrong", restart=True)
        return self._check(
            key, credential, challenge, require_user_verification=self.config.user_verification == "required"
        )

    def _own(self, citizen: Citizen, credential: AuthenticationCredential) -> Passkey | None:
        return db.session.scalar(sa.select(Passkey).filter_by(citizen_id=citizen.id, credential_id=credential.raw_id))

    # ------------------------------------------------------------ as the whole login
    def passwordless_options(self, state: dict) -> str:
        """Options for a discoverable passkey with user verification (no credential listed: the browser finds it)."""
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=self.config.challenge_seconds * 1000,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        self._remember(state, options.challenge)
        return options_to_json(options)

    def identify(self, credential: AuthenticationCredential) -> Passkey | None:
        """The passkey a passwordless answer names, when the user handle it gives back is the one stored with it."""
        key = db.session.scalar(sa.select(Passkey).filter_by(credential_id=credential.raw_id))
        handle = credential.response.user_handle
        if key is None or handle is None or not secrets.compare_digest(handle, key.user_handle):
            return None
        # A factor removed (by support, say) logs in no more, whatever rows it left.
        return key if self.enrolled(key.citizen) else None

    def verify_alone(self, key: Passkey, state: dict, credential: AuthenticationCredential) -> Outcome:
        """Check a passwordless answer by ``key`` (from :meth:`identify`); user verification is required."""
        challenge, refused = self._spend(state)
        if refused is not None:
            return refused
        return self._check(key, credential, challenge, require_user_verification=True)

    # ------------------------------------------------------------ the checks both share
    def _remember(self, state: dict, challenge: bytes) -> None:
        expires = now() + timedelta(seconds=self.config.challenge_seconds)
        state.update(challenge=bytes_to_base64url(challenge), expires=expires.isoformat())

    def _spend(self, state: dict) -> tuple[bytes, Outcome | None]:
        """The pending challenge, taken out of ``state``; or why there is none to answer."""
        challenge = state.pop("challenge", None)
        expires = state.pop("expires", None)
        if not challenge or not expires or datetime.fromisoformat(expires) <= now():
            return b"", Outcome(False, "expired", restart=True)
        # The login's state is saved at the end of the request: two racing requests could both read it.
        if not _store().add(SPENT, challenge, {}, ttl=self.config.challenge_seconds):
            return b"", Outcome(False, "replay", restart=True)
        return base64url_to_bytes(challenge), None

    def _check(
        self, key: Passkey, credential: AuthenticationCredential, challenge: bytes, *, require_user_verification: bool
    ) -> Outcome:
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=key.public_key,
                # Compared below, once the signature is known to be the authenticator's.
                credential_current_sign_count=0,
                require_user_verification=require_user_verification,
            )
        except _INVALID:
            return Outcome(False, "wrong", restart=True)
        if key.sign_count and verified.new_sign_count <= key.sign_count:
            # A signed counter that did not move on: the key may have been copied (WebAuthn §6.1.1).
            audit.record(
                "webauthn.sign_count",
                outcome="refused",
                citizen=key.citizen,
                passkey=key.id,
                stored=key.sign_count,
                given=verified.new_sign_count,
            )
            return Outcome(False, "counter", restart=True)
        moment = now()
        # Compare-and-set: of two answers racing on one stored count, one moves it.
        moved = db.session.execute(
            sa.update(Passkey)
            .where(Passkey.id == key.id, Passkey.sign_count == key.sign_count)
            .values(sign_count=verified.new_sign_count, backup_state=verified.credential_backed_up, last_used_at=moment)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            db.session.refresh(key)
            return Outcome(False, "replay", restart=True)
        for column, value in (
            ("sign_count", verified.new_sign_count),
            ("backup_state", verified.credential_backed_up),
            ("last_used_at", moment),
        ):
            set_committed_value(key, column, value)
        return Outcome(True, amr=self.amr(key, user_verified=verified.user_verified))

    def amr(self, key: Passkey, *, user_verified: bool) -> dict[str, list[str]]:
        """``swk`` for a synced passkey (its key lives in a cloud account too), ``hwk`` for one bound to its device."""
        rfc8176 = ["swk" if key.backup_eligible else "hwk"] + (["user"] if user_verified else [])
        return {"rfc8176": rfc8176, "idporten": ["Minid-WEBAUTHN"]}

    # ------------------------------------------------------------ registration (Min profil)
    def registration_options(self, citizen: Citizen) -> Registration:
        existing = self.passkeys(citizen)
        # One random user handle per citizen: a passwordless login finds the citizen by it.
        handle = existing[0].user_handle if existing else secrets.token_bytes(32)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_id=handle,
            # What the authenticator shows in its list of accounts: the name, never the identity number.
            user_name=citizen.name,
            user_display_name=citizen.name,
            timeout=self.config.challenge_seconds * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                # Discoverable where the authenticator can: only those can log in without the password.
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement(self.config.user_verification),
            ),
            exclude_credentials=[_descriptor(key) for key in existing],
        )
        expires = now() + timedelta(seconds=self.config.challenge_seconds)
        pending = {
            "challenge": bytes_to_base64url(options.challenge),
            "user_handle": bytes_to_base64url(handle),
            "expires": expires.isoformat(),
        }
        return Registration(options_to_json(options), pending)

    def register(self, citizen: Citizen, pending: dict[str, str], answer: str, *, nickname: str) -> Passkey:
        """Verify the browser's answer to :meth:`registration_options` and keep the passkey.

        ``pending`` must already be taken out of the store (used once). Raises :class:`NotRegistered`.
        """
        if datetime.fromisoformat(pending["expires"]) <= now():
            raise NotRegistered("expired")
        credential = parse_registration(answer)
        if credential is None:
            raise NotRegistered("wrong")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(pending["challenge"]),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=self.config.user_verification == "required",
            )
        except _INVALID:
            raise NotRegistered("wrong") from None
        taken = db.session.scalar(sa.select(Passkey.id).filter_by(credential_id=verified.credential_id))
        if taken is not None:
            raise NotRegistered("duplicate")
        key = Passkey(
            citizen_id=citizen.id,
            credential_id=verified.credential_id,
            user_handle=base64url_to_bytes(pending["user_handle"]),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            # Backup eligible is fixed when the credential is made (WebAuthn §6.1: the BE flag).
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backup_state=verified.credential_backed_up,
            transports=[transport.value for transport in credential.response.transports or []][:8],
            aaguid=verified.aaguid,
            nickname=clean_nickname(nickname) or str(self.label),
        )
        db.session.add(key)
        rows.enrol(citizen, self.name)
        return key

    def rename(self, citizen: Citizen, passkey_id: int, nickname: str) -> Passkey | None:
        key = self.passkey(citizen, passkey_id)
        if key is not None:
            key.nickname = clean_nickname(nickname) or key.nickname
        return key


def _descriptor(key: Passkey) -> PublicKeyCredentialDescriptor:
    """A credential as options name it, with the transports its authenticator said it has (the browser's hint)."""
    known = {transport.value for transport in AuthenticatorTransport}
    transports = [AuthenticatorTransport(value) for value in key.transports or [] if value in known]
    return PublicKeyCredentialDescriptor(id=key.credential_id, transports=transports or None)


def parse_assertion(answer: str) -> AuthenticationCredential | None:
    """The browser's answer to navigator.credentials.get(), or None when it is not one."""
    if not isinstance(answer, str) or not answer or len(answer) > MAX_ANSWER:
        return None
    try:
        credential = parse_authentication_credential_json(answer)
    except _INVALID:
        return None
    return credential if credential.raw_id else None


def parse_registration(answer: str) -> RegistrationCredential | None:
    """The browser's answer to navigator.credentials.create(), or None when it is not one."""
    if not isinstance(answer, str) or not answer or len(answer) > MAX_ANSWER:
        return None
    try:
        return parse_registration_credential_json(answer)
    except _INVALID:
        return None


def _store():
    return current_app.extensions["idp.store"]


def make(config: Config) -> WebauthnFactor:
    return WebauthnFactor(config.webauthn, issuer=config.server.issuer, rp_name=config.branding.name)
