"""The app: a login waits for the citizen to approve it on an enrolled phone, picking the number on screen.

MinID's app, as a factor. Each device holds its own P-256 key pair; the provider keeps the
public key only. At login the chain starts an approval (short-lived store: service, created,
expiry, a two-digit number and three choices) and a push tells the devices. The app shows the
service and the three numbers; the citizen picks the one the login page shows and unlocks the
device key (the phone's own check), and the app sends a decision signed by that key
(``idp/api/app_device.py``). The login page then collects it: :meth:`AppFactor.verify` checks
the signed proof again against the device's key, the number, the expiry and that it is used once.

Enrolment: the phone sends the national identity number, an activation code (shown in
Min profil, or an activation letter's) and its public key; see :func:`enrol_device`.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import math
import random
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from wtforms import HiddenField

from idp.clock import now
from idp.config import AppConfig, Config
from idp.extensions import db
from idp.mfa import activation as letters
from idp.mfa import enrolment as rows
from idp.mfa.codes import code_hash, code_matches, numeric_code
from idp.mfa.factor import Challenge, Outcome, TryLater
from idp.mfa.gateways.push import PushError, PushGateway, make_push_gateway
from idp.models import AppActivation, AppDevice, Citizen
from idp.untrusted import json_loads

log = logging.getLogger(__name__)

APPROVALS = "app_approval"  # approval id -> the approval (store)
DECIDED = "app_decided"  # approval id -> who decided: of two racing decisions only the first is kept
WAITING = "app_waiting"  # citizen id -> {"ids": [...]}: the approvals a device may list
PURPOSE = "app_activation"  # the keyed hash of activation codes
GRACE_SECONDS = 60  # a decision taken in time may be collected by the login page this much later
ALGORITHM = "ES256"
NAME_MAX = 64
CODE_DIGITS = 12
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{1,256}={0,2}")
# RFC 8176 registers no "app" method: the device's key is a software-secured key ("swk"), and
# "user" says the phone checked its user (fingerprint, face or PIN) before it signed.
AMR_KEY = {"rfc8176": ["swk"], "idporten": ["Minid-APP"]}
AMR_KEY_AND_USER = {"rfc8176": ["swk", "user"], "idporten": ["Minid-APP"]}


class AppForm(FlaskForm):
    """The login page's form: nothing to type, the answer comes from the app ("I have approved")."""

    tx = HiddenField()


class DeviceError(ValueError):
    """A device's request or key was refused; ``code`` is the API's error code."""

    def __init__(self, code: str, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


# ---------------------------------------------------------------- keys and signatures
def device_key(jwk: object) -> ECKey:
    """A device's public key from its JWK: P-256, public only. Raises DeviceError otherwise."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise DeviceError("invalid_key", "The public key must be an EC P-256 JWK.")
    if "d" in jwk:
        raise DeviceError("invalid_key", "Send the public key only; the private key never leaves the device.")
    if not all(isinstance(jwk.get(part), str) and len(jwk[part]) <= 64 for part in ("x", "y")):
        raise DeviceError("invalid_key", "The public key must be an EC P-256 JWK.")
    try:
        return ECKey.import_key({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]})
    except (JoseError, ValueError, TypeError) as exc:  # a point not on the curve, bad base64
        raise DeviceError("invalid_key", "The public key is not a valid P-256 point.") from exc


def unverified_header(token: str) -> dict:
    """The protected header of a compact JWS, before its signature is checked (to find the key)."""
    parts = token.split(".")
    try:
        if len(parts) != 3 or not token.isascii():
            raise ValueError("not a compact JWS")
        header = json_loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, UnicodeError) as exc:  # binascii.Error is a ValueError
        raise DeviceError("invalid_signature", "The request must be a compact JWS.") from exc
    if not isinstance(header, dict):
        raise DeviceError("invalid_signature", "The request must be a compact JWS.")
    return header


def verified_claims(token: str, key: ECKey) -> dict:
    """The payload of a compact JWS signed with ES256 by ``key``, as a JSON object. Raises DeviceError."""
    try:
        payload = jws.deserialize_compact(token, key, algorithms=[ALGORITHM]).payload
        claims = json_loads(payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise DeviceError("invalid_signature", "The signature does not verify with the device's key.") from exc
    if not isinstance(claims, dict):
        raise DeviceError("invalid_signature", "The signed payload must be a JSON object.")
    return claims


# ---------------------------------------------------------------- devices
def devices_of(citizen: Citizen) -> list[AppDevice]:
    return list(
        db.session.scalars(sa.select(AppDevice).filter_by(citizen_id=citizen.id).order_by(AppDevice.created_at))
    )


def find_device(key_id: str) -> AppDevice | None:
    return db.session.scalar(sa.select(AppDevice).filter_by(key_id=key_id))


def _push_service_host(endpoint: str) -> bool:
    """Whether the endpoint names a host as push services do: a DNS name IDNA can encode, not an address."""
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - a port that is no number raises here
        host = parts.hostname or ""
        host.encode("idna")
    except (ValueError, UnicodeError):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host)
    return False


def check_subscription(subscription: object) -> dict | None:
    """A Web Push subscription as browsers give it (endpoint, keys.p256dh, keys.auth), or None. Raises DeviceError."""
    if subscription is None:
        return None
    keys = subscription.get("keys") if isinstance(subscription, dict) else None
    endpoint = subscription.get("endpoint") if isinstance(subscription, dict) else None
    if (
        not isinstance(endpoint, str)
        or not endpoint.startswith("https://")
        or len(endpoint) > 1024
        or not endpoint.isprintable()
        or not _push_service_host(endpoint)
        or not isinstance(keys, dict)
        or not all(isinstance(keys.get(k), str) and _BASE64URL.fullmatch(keys[k]) for k in ("p256dh", "auth"))
    ):
        raise DeviceError(
            "invalid_request", "push_subscription must be a Web Push subscription with an https endpoint."
        )
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def clean_name(name: object) -> str:
    """The device's name as the citizen gave it: 1 to 64 printable characters. Raises DeviceError."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise DeviceError("invalid_request", f"name must be 1 to {NAME_MAX} printable characters.")
    return name.strip()


def enrol_device(citizen: Citizen, key: ECKey, name: str, subscription: dict | None) -> AppDevice:
    """Add a device with its public key; the citizen's app factor is on from the first one. Raises DeviceError."""
    config = current_app.config["IDP"].app
    key_id = key.thumbprint()
    if find_device(key_id) is not None:
        raise DeviceError("key_in_use", "This key is already enrolled.")
    if len(devices_of(citizen)) >= config.max_devices:
        raise DeviceError("too_many_devices", f"At most {config.max_devices} devices; remove one in your profile.")
    device = AppDevice(
        citizen_id=citizen.id,
        key_id=key_id,
        public_jwk=key.as_dict(private=False),
        name=name,
        push_subscription=subscription,
        created_at=now(),
    )
    db.session.add(device)
    if rows.enrolment(citizen, "app") is None:
        rows.enrol(citizen, "app")
    db.session.flush()
    return device


def remove_device(citizen: Citizen, device: AppDevice) -> None:
    """Remove one device; with the last one the app factor goes too."""
    db.session.delete(device)
    db.session.flush()
    if not devices_of(citizen):
        rows.remove(citizen, "app")


# ---------------------------------------------------------------- activation codes
def _printed(code: str) -> str:
    digits = re.sub(r"[\s\u00a0-]", "", code)
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def new_activation_code(citizen: Citizen) -> tuple[str, datetime]:
    """A new code for enrolling a device (it replaces any unused one) and when it expires; kept as a keyed hash."""
    moment = now()
    expires = moment + timedelta(seconds=current_app.config["IDP"].app.activation_seconds)
    db.session.execute(sa.delete(AppActivation).where(AppActivation.citizen_id == citizen.id))
    code = _printed(numeric_code(CODE_DIGITS))
    db.session.add(
        AppActivation(
            citizen_id=citizen.id,
            code_hash=code_hash(code, purpose=PURPOSE),
            created_at=moment,
            expires_at=expires,
            attempts=0,
        )
    )
    return code, expires


def spend_activation_code(citizen: Citizen, code: str) -> str | None:
    """What ``code`` was, now used up: "code" (the citizen's live activation code from Min profil) or "letter"
    (a live activation letter's); None when it is neither.

    A wrong code counts against the live code, which dies after ``activation_max_tries``; the
    caller also counts it against the account (accounts.begin_check/failed).
    """
    config = current_app.config["IDP"].app
    live = db.session.scalar(
        sa.select(AppActivation).where(
            AppActivation.citizen_id == citizen.id,
            AppActivation.used_at.is_(None),
            AppActivation.expires_at > now(),
            AppActivation.attempts < config.activation_max_tries,
        )
    )
    if live is not None and code_matches(live.code_hash, _printed(code), purpose=PURPOSE):
        # One statement: of two requests racing with the code only one spends it.
        spent = db.session.execute(
            sa.update(AppActivation)
            .where(AppActivation.id == live.id, AppActivation.used_at.is_(None))
            .values(used_at=now())
            .execution_options(synchronize_session=False)
        ).rowcount
        return "code" if spent == 1 else None
    if letters.spend_letter(citizen, code):
        return "letter"
    if live is not None:
        db.session.execute(
            sa.update(AppActivation)
            .where(AppActivation.id == live.id)
            .values(attempts=AppActivation.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    return None


# ---------------------------------------------------------------- the factor
class AppFactor:
    name = "app"
    label = _l("Confirm in the app")
    template = "login/factor_app.html"
    form_class = AppForm
    # A push to the citizen's phones: limited per account and network like codes (no push bombing).
    sends_code = True
    amr_values = AMR_KEY

    def __init__(self, config: AppConfig, gateway: PushGateway):
        self.config = config
        self.gateway = gateway

    def enrolled(self, citizen: Citizen) -> bool:
        return rows.enrolment(citizen, self.name) is not None

    def start(self, citizen: Citizen, state: dict, *, service: str) -> Challenge:
        devices = devices_of(citizen)
        if not devices:
            raise LookupError("no app device enrolled")
        moment = now()
        sends = int(state.get("sends", 0))
        if sends >= self.config.max_sends:
            raise TryLater(self.config.approval_seconds, used_up=True)
        if "sent_at" in state:
            ready = datetime.fromisoformat(state["sent_at"]) + timedelta(seconds=self.config.resend_seconds)
            if ready > moment:
                raise TryLater(math.ceil((ready - moment).total_seconds()))
        approval = secrets.token_urlsafe(16)
        number = 10 + secrets.randbelow(90)
        choices = [number]
        while len(choices) < 3:
            other = 10 + secrets.randbelow(90)
            if other not in choices:
                choices.append(other)
        random.SystemRandom().shuffle(choices)
        expires = moment + timedelta(seconds=self.config.approval_seconds)
        entry = {
            "id": approval,
            "citizen_id": citizen.id,
            "service": service,
            "created": moment.isoformat(),
            "expires": expires.isoformat(),
            "number": number,
            "choices": choices,
            "status": "pending",
        }
        ttl = self.config.approval_seconds + GRACE_SECONDS
        store = _store()
        store.put(APPROVALS, approval, entry, ttl=ttl)
        # A new request replaces the one before: only the latest can be approved.
        if state.get("approval"):
            store.delete(APPROVALS, state["approval"])
        waiting = (store.get(WAITING, str(citizen.id)) or {}).get("ids", [])
        waiting = [i for i in waiting if i != state.get("approval")][-9:] + [approval]
        store.put(WAITING, str(citizen.id), {"ids": waiting}, ttl=ttl)
        state.update(approval=approval, sends=sends + 1, sent_at=moment.isoformat())
        message = {"type": "approval", "approval": approval, "service": service, "expires": expires.isoformat()}
        for device in devices:
            try:
                self.gateway.notify(device=device.key_id, subscription=device.push_subscription, message=message)
            except PushError as exc:
                # The app also asks for waiting approvals when opened: a lost push delays, it does not fail.
                log.warning("push to an app device failed: %s", exc)
        return Challenge({"number": number, "expires": expires.isoformat()})

    def status(self, state: dict) -> str:
        """For the waiting page: "pending" while the app has not answered in time, else "decided" (read-only)."""
        entry = _store().get(APPROVALS, state.get("approval") or "") if state.get("approval") else None
        if entry is None or entry["status"] != "pending" or datetime.fromisoformat(entry["expires"]) <= now():
            return "decided"
        return "pending"

    def verify(self, citizen: Citizen, state: dict, response: Mapping[str, str]) -> Outcome:
        approval = state.get("approval")
        store = _store()
        entry = store.get(APPROVALS, approval) if approval else None
        if entry is None or entry.get("citizen_id") != citizen.id:
            return self._ended(state, "expired")
        if entry["status"] == "pending":
            if datetime.fromisoformat(entry["expires"]) <= now():
                return self._ended(state, "expired")
            return Outcome(False, "pending")
        if entry["status"] != "approved":  # "denied" or "wrong_number": the attempt is over
            return self._ended(state, entry["status"])
        device = find_device(entry.get("device", ""))
        if device is None or device.citizen_id != citizen.id:
            return self._ended(state, "device_removed")
        # The decision again, from the device's own signature: the store alone is not trusted with the result.
        try:
            proof = verified_claims(entry["proof"], device_key(device.public_jwk))
        except DeviceError:
            return self._ended(state, "wrong")
        chosen = proof.get("number")
        if (
            proof.get("approval") != approval
            or proof.get("decision") != "approve"
            or not isinstance(chosen, int)
            or not hmac.compare_digest(str(chosen).encode(), str(entry["number"]).encode())
        ):
            return self._ended(state, "wrong")
        # take(): of two requests collecting one approval only one wins.
        if store.take(APPROVALS, approval) is None:
            return self._ended(state, "replay")
        state.pop("approval", None)
        device.last_used_at = now()
        return Outcome(True, amr=AMR_KEY_AND_USER if proof.get("user_verified") is True else AMR_KEY)

    def _ended(self, state: dict, reason: str) -> Outcome:
        if state.get("approval"):
            _store().delete(APPROVALS, state.pop("approval"))
        return Outcome(False, reason, restart=True)

    def waiting(self, device: AppDevice) -> list[dict]:
        """The approvals waiting for the device's citizen, as the app shows them (never which number is right)."""
        store = _store()
        ids = (store.get(WAITING, str(device.citizen_id)) or {}).get("ids", [])
        found = []
        for approval in ids:
            entry = store.get(APPROVALS, approval)
            if (
                entry is not None
                and entry["citizen_id"] == device.citizen_id
                and entry["status"] == "pending"
                and datetime.fromisoformat(entry["expires"]) > now()
            ):
                found.append({k: entry[k] for k in ("id", "service", "created", "expires", "choices")})
        return found

    def decide(self, device: AppDevice, approval: str, claims: dict, proof: str) -> str:
        """Record the device's signed decision on an approval of its citizen; returns the approval's new status.

        Raises DeviceError: ``not_found`` (no such approval for this citizen), ``expired``,
        ``already_decided``.
        """
        store = _store()
        entry = store.get(APPROVALS, approval)
        if entry is None or entry["citizen_id"] != device.citizen_id:
            raise DeviceError("not_found", "No such approval is waiting.")
        expires = datetime.fromisoformat(entry["expires"])
        if expires <= now():
            raise DeviceError("expired", "The approval has expired.")
        if entry["status"] != "pending":
            raise DeviceError("already_decided", "The approval was already answered.")
        left = math.ceil((expires - now()).total_seconds()) + GRACE_SECONDS
        if not store.add(DECIDED, approval, {"device": device.key_id}, ttl=left):
            raise DeviceError("already_decided", "The approval was already answered.")
        if claims["decision"] == "deny":
            status = "denied"
        else:
            chosen = str(claims["number"]).encode()
            status = "approved" if hmac.compare_digest(chosen, str(entry["number"]).encode()) else "wrong_number"
        entry.update(
            status=status,
            device=device.key_id,
            user_verified=claims.get("user_verified") is True,
            decided=now().isoformat(),
            proof=proof,
        )
        store.put(APPROVALS, approval, entry, ttl=left)
        device.last_used_at = now()
        return status

    def remove(self, citizen: Citizen) -> None:
        db.session.execute(sa.delete(AppDevice).where(AppDevice.citizen_id == citizen.id))
        rows.remove(citizen, self.name)


def _store():
    return current_app.extensions["idp.store"]


def make(config: Config) -> AppFactor:
    return AppFactor(config.app, make_push_gateway(config))
