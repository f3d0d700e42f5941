"""The app's API, ``/app/v1``: enrol a device, list and answer waiting approvals, list and remove devices.

Every request carries ``Authorization: Device <compact JWS>``, signed with ES256 by the
device's key (OpenAPI document: app_openapi.json). Its protected header names the key:
``kid`` (the key's RFC 7638 thumbprint, given at enrolment) or, when enrolling, ``jwk`` (the
new public key, so enrolment proves the device holds the private key). Its payload has
``htm`` and ``htu`` (this request's method and path, as in DPoP, RFC 9449), ``iat`` (within
``app.request_skew_seconds`` of our clock) and ``jti`` (accepted once), and the request's own
values: what the device signs is what it asks. Answers are JSON; errors are
``{"error", "error_description"}`` with a code the app can act on, never a server error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from functools import cache, wraps
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_babel import gettext as _
from joserfc.jwk import ECKey

from idp import accounts, audit, ordering
from idp.clock import now
from idp.extensions import csrf, db
from idp.mfa import app as app_factor
from idp.mfa.app import DeviceError
from idp.mfa.enrolment import enrolment
from idp.mfa.gateways.sms import GatewayError, make_sms_gateway
from idp.models import AppDevice, Citizen, CitizenStatus
from idp.policy.limits import network_of

bp = Blueprint("app_api", __name__, url_prefix="/app/v1")
OPENAPI = Path(__file__).resolve().parent / "app_openapi.json"
SCHEME = "Device"
MAX_TOKEN = 8 * 1024  # a signed request with a public key and a push subscription fits in far less
JTIS = "app_jti"  # store: "<key id>:<jti>" of requests already accepted
RATES = "app_rate"  # store: requests per device and per network in the current minute
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # an RFC 7638 thumbprint is 43 base64url characters
JTI = re.compile(r"[\x21-\x7e]{16,128}")  # printable ASCII: it becomes a key in the store


def _answer(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(error: str, description: str, status: int = 400, **headers: str) -> Response:
    response = _answer({"error": error, "error_description": description}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = f'{SCHEME} error="{error}"'
    response.headers.update(headers)
    return response


STATUS = {
    "invalid_request": 400,
    "invalid_key": 400,
    "invalid_signature": 401,
    "unknown_device": 401,
    "stale_request": 401,
    "replayed": 401,
    "not_found": 404,
    "key_in_use": 409,
    "too_many_devices": 409,
    "already_decided": 409,
    "expired": 410,
}


def _refused(exc: DeviceError) -> Response:
    return _error(exc.code, exc.description, STATUS.get(exc.code, 400))


def _factor() -> app_factor.AppFactor | None:
    return current_app.extensions["idp.chain"].factors.get("app")


def _config():
    return current_app.config["IDP"].app


def _rate_limited(scope: str, limit: int) -> Response | None:
    """Count this request in ``scope``'s current minute; the refusal once the minute's limit is passed."""
    moment = now()
    minute = int(moment.timestamp() // 60)
    key = hmac.new(current_app.secret_key.encode(), scope.encode(), hashlib.sha256).hexdigest()[:32]
    count = current_app.extensions["idp.store"].incr(RATES, f"{key}:{minute}", ttl=60)
    if count <= limit:
        return None
    wait = max(1, 60 - int(moment.timestamp()) % 60)
    return _error("rate_limited", "Too many requests; try again later.", 429, **{"Retry-After": str(wait)})


def _signed_request(*, enrolling: bool) -> tuple[AppDevice | None, ECKey, dict, str]:
    """The device (None when enrolling), its key, the verified claims and the token. Raises DeviceError."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme != SCHEME or not token or len(token) > MAX_TOKEN:
        raise DeviceError("invalid_signature", f"Sign the request: Authorization: {SCHEME} <compact JWS>.")
    header = app_factor.unverified_header(token)
    if header.get("alg") != app_factor.ALGORITHM:
        raise DeviceError("invalid_signature", "Requests are signed with ES256.")
    device = None
    if enrolling:
        key = app_factor.device_key(header.get("jwk"))
    else:
        kid = header.get("kid")
        device = app_factor.find_device(kid) if isinstance(kid, str) and KEY_ID.fullmatch(kid) else None
        if device is None:
            raise DeviceError("unknown_device", "No device is enrolled with this key (it may have been removed).")
        key = app_factor.device_key(device.public_jwk)
    claims = app_factor.verified_claims(token, key)
    if claims.get("htm") != request.method or claims.get("htu") != request.path:
        raise DeviceError("invalid_signature", "htm and htu must be this request's method and path.")
    iat = claims.get("iat")
    skew = _config().request_skew_seconds
    # Written as "not within" so that a NaN (which JSON parsers accept) is refused too; a JSON integer too
    # large for a float is refused before the subtraction, which would raise OverflowError.
    if (
        not isinstance(iat, int | float)
        or isinstance(iat, bool)
        or not -(2**53) < iat < 2**53
        or not abs(now().timestamp() - iat) <= skew
    ):
        raise DeviceError("stale_request", f"iat must be within {skew} seconds of the provider's clock.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not JTI.fullmatch(jti):
        raise DeviceError("invalid_request", "jti must be a unique string of 16 to 128 printable ASCII characters.")
    # Kept as long as the request's iat could still be accepted: after that the clock check refuses it.
    if not current_app.extensions["idp.store"].add(JTIS, f"{key.thumbprint()}:{jti}", {}, ttl=2 * skew + 1):
        raise DeviceError("replayed", "This request (its jti) was already received.")
    return device, key, claims, token


def device_api(*, enrolling: bool = False):
    """A signed API request: rate limited, its signature, time and jti checked; ``g.device``, ``g.claims`` set."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if _factor() is None:
                return _error("not_found", "The app is not in use here.", 404)
            config = _config()
            if refused := _rate_limited(
                f"network:{network_of(request.remote_addr)}", config.network_requests_per_minute
            ):
                return refused
            try:
                g.device, g.device_key, g.claims, g.token = _signed_request(enrolling=enrolling)
                if g.device is not None and (
                    refused := _rate_limited(f"device:{g.device.key_id}", config.device_requests_per_minute)
                ):
                    return refused
                return view(*args, **kwargs)
            except DeviceError as exc:
                db.session.rollback()
                return _refused(exc)

        return csrf.exempt(guarded)

    return decorate


@bp.errorhandler(413)
def _too_large(_exc):
    return _error("invalid_request", "The request is too large.", 413)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API's OpenAPI 3.1 document, its server URL made absolute from the configured issuer."""
    document = json.loads(_document())
    document["servers"] = [{"url": current_app.config["IDP"].server.url(bp.url_prefix)}]
    return jsonify(document)


@cache
def _document() -> str:
    return OPENAPI.read_text(encoding="utf-8")


@bp.get("/push-key")
def push_key() -> Response:
    """The VAPID public key a browser-based app subscribes to Web Push with (null when Web Push is not used)."""
    factor = _factor()
    key = getattr(factor.gateway, "public_key", None) if factor is not None else None
    return _answer({"vapid_public_key": key})


def _view(device: AppDevice) -> dict:
    return {
        "kid": device.key_id,
        "name": device.name,
        "created_at": device.created_at.isoformat(),
        "last_used_at": device.last_used_at.isoformat() if device.last_used_at else None,
    }


def _text(claims: dict, name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise DeviceError("invalid_request", f"{name} must be a string of 1 to {limit} characters.")
    return value


@bp.post("/devices")
@device_api(enrolling=True)
def enrol() -> Response:
    """A new device: the national identity number, an activation code and the key the request is signed with."""
    claims = g.claims
    raw_pid, code = _text(claims, "pid", 32), _text(claims, "code", 32)
    name = app_factor.clean_name(claims.get("name"))
    subscription = app_factor.check_subscription(claims.get("push_subscription"))
    if not current_app.extensions["idp.policy"].enrollable("app", now()):
        return _error("not_enrollable", "New devices cannot be enrolled now.", 403)
    pid, citizen = accounts.find_citizen(raw_pid)
    attempt = accounts.begin_check(pid, event="app.enrol", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        return _error(
            "rate_limited", "Too many wrong tries; try again later.", 429, **{"Retry-After": str(attempt.wait_seconds)}
        )
    spent = (
        app_factor.spend_activation_code(citizen, code) if citizen and citizen.status == CitizenStatus.active else None
    )
    if spent is None:
        audit.record("app.enrol", outcome="failure", citizen=citizen, pid=pid)
        failure = accounts.failed(attempt, citizen=citizen, pid=pid)
        db.session.commit()
        if failure.wait_seconds:
            return _error(
                "rate_limited",
                "Too many wrong tries; try again later.",
                429,
                **{"Retry-After": str(failure.wait_seconds)},
            )
        return _error("invalid_activation", "The national identity number or the activation code is wrong.")
    accounts.passed(attempt)
    if spent == "letter":
        # The letter went to the registered address: that activates an ordered account, as at /order/activate.
        ordering.activate(citizen, by="letter")
    device = app_factor.enrol_device(citizen, g.device_key, name, subscription)
    audit.record("app.enrol", outcome="success", citizen=citizen, device=device.key_id, push=subscription is not None)
    _tell_by_sms(citizen, device.name)
    db.session.commit()
    return _answer(_view(device), 201)


def _tell_by_sms(citizen: Citizen, name: str) -> None:
    """An SMS to the citizen's confirmed mobile: a device added by someone else is then noticed at once."""
    row = enrolment(citizen, "sms")
    phone = row.phone if row is not None and row.phone else (citizen.phone if citizen.phone_verified else None)
    if not phone:
        return
    config = current_app.config["IDP"]
    text = _(
        "A device called %(name)s can now log in as you with the app. If this was not you, contact user support.",
        name=name,
    )
    try:
        make_sms_gateway(config).send(to=phone, text=text)
    except GatewayError:
        audit.record("app.enrol_sms", outcome="gateway_error", citizen=citizen)


@bp.get("/devices")
@device_api()
def list_devices() -> Response:
    citizen = db.session.get(Citizen, g.device.citizen_id)
    return _answer(
        {
            "devices": [
                {**_view(device), "this_device": device.id == g.device.id} for device in app_factor.devices_of(citizen)
            ]
        }
    )


@bp.delete("/devices/<kid>")
@device_api()
def remove_device(kid: str) -> Response:
    """Remove one of the citizen's devices (this one too): its key logs in no more."""
    device = app_factor.find_device(kid)
    if device is None or device.citizen_id != g.device.citizen_id:
        raise DeviceError("not_found", "No such device of yours.")
    citizen = db.session.get(Citizen, device.citizen_id)
    app_factor.remove_device(citizen, device)
    audit.record("app.device_removed", outcome="success", citizen=citizen, device=kid, by=g.device.key_id)
    db.session.commit()
    return Response(status=204)


@bp.get("/approvals")
@device_api()
def waiting() -> Response:
    """Approvals waiting for the device's citizen: the service, when, and the three numbers to choose from."""
    return _answer({"approvals": _factor().waiting(g.device)})


def _decision(approval: str, decision: str) -> Response:
    claims = g.claims
    if claims.get("approval") != approval or claims.get("decision") != decision:
        raise DeviceError("invalid_request", f"Sign approval (this approval's id) and decision ({decision!r}).")
    if decision == "approve":
        number = claims.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or not 10 <= number <= 99:
            raise DeviceError("invalid_request", "number must be the two-digit number the citizen chose.")
        if not isinstance(claims.get("user_verified"), bool):
            raise DeviceError("invalid_request", "user_verified must be true or false.")
    citizen = db.session.get(Citizen, g.device.citizen_id)
    status = _factor().decide(g.device, approval, claims, g.token)
    audit.record("app.decision", outcome=status, citizen=citizen, device=g.device.key_id, approval=approval)
    db.session.commit()
    return _answer({"approval": approval, "status": status})


@bp.post("/approvals/<approval>/approve")
@device_api()
def approve(approval: str) -> Response:
    return _decision(approval, "approve")


@bp.post("/approvals/<approval>/deny")
@device_api()
def deny(approval: str) -> Response:
    return _decision(approval, "deny")
