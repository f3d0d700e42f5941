"""Min profil: the citizen's own second factors, password and recent logins; and the activation letter.

Authentication: the profile uses the provider's own SSO session instead of
being an OIDC client of itself. A citizen without one is sent through the
same hosted login (a login transaction with no relying party that returns
here), so the profile gets exactly the chain, limits and audit every
service gets, without a client registration or a token round trip.

The activation letter is the way back for a citizen who cannot log in
(nothing but a phased-out PIN letter): ordered with the password, sent by
post, and with its code and the password the citizen sets up a code by SMS.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from urllib.parse import urlencode

import segno
import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_babel import format_date
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from idp import accounts, audit, ordering, transactions
from idp.clock import now
from idp.errors import error_page
from idp.extensions import db
from idp.guardianship import operated
from idp.mfa import activation as activation_letters
from idp.mfa import app as app_factor
from idp.mfa import enrolment as rows
from idp.mfa import password
from idp.mfa.factor import TryLater
from idp.mfa.gateways.letter import NoAddress
from idp.mfa.gateways.sms import GatewayError
from idp.mfa.sms import normalise_phone
from idp.mfa.webauthn import NotRegistered, WebauthnFactor, clean_nickname
from idp.models import AuditEvent, Citizen, CitizenStatus, Client
from idp.policy.requirement import Requirement
from idp.sessions import current_session
from idp.web import notices
from idp.web.forms import (
    ActivationForm,
    ActivationOrderForm,
    AppDeviceForm,
    FactorForm,
    OperateForm,
    PasskeyAnswerForm,
    PasskeyNameForm,
    PasskeyRemoveForm,
    PasswordChangeForm,
    PhoneForm,
    ProfileCodeForm,
    number_and_password_errors,
)

bp = Blueprint("profile", __name__, url_prefix="/profile")

PENDING = "profile_pending"  # store namespace: an enrolment waiting for its confirming code
GRANTS = "activation_grant"  # store namespace: a checked activation code, for the setup page


def _chain():
    return current_app.extensions["idp.chain"]


def _store():
    return current_app.extensions["idp.store"]


def required_level(citizen: Citizen) -> str:
    """The level a profile session needs: the highest the citizen can reach now.

    Otherwise a password and a PIN code (low) could replace the mobile number
    that SMS codes (substantial) go to, and so buy a substantial login.
    """
    levels = current_app.extensions["idp.levels"]
    for level in reversed(levels.order):
        if _chain().options(citizen, Requirement(min_acr=level), now()):
            return level
    return levels.order[0]


def signed_in(view):
    """The profile's pages need a live SSO session at the citizen's highest level; else log in or step up."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        session = current_session()
        if session is None:
            return redirect(url_for("profile.login"))
        needed = required_level(session.citizen)
        if not current_app.extensions["idp.levels"].at_least(session.acr, needed):
            return redirect(url_for("profile.login", acr=needed))
        if not operated.usable(session.citizen, current_app.extensions["idp.guardianship"], now().date()):
            # The mandate ran out during the session: the guardian's session is over for this account too.
            return error_page(
                _("This account cannot be used now"),
                _(
                    "The account is operated by a guardian, and the guardianship mandate it is operated under "
                    "has expired or been revoked."
                ),
                status=403,
            )
        g.citizen = session.citizen
        g.pending_key = session.sid
        return view(*args, **kwargs)

    return wrapper


@bp.route("/login")
def login():
    """A login transaction with no relying party: the hosted login returns here when done."""
    levels = current_app.extensions["idp.levels"]
    wanted = request.args.get("acr", "")
    tx = transactions.begin(
        params={},
        client_id="",
        client_name=_("your profile"),
        requirement=Requirement(min_acr=wanted if levels.known(wanted) else levels.order[0]),
    )
    tx.step = {"return_to": url_for("profile.index")}
    transactions.save(tx)
    return redirect(url_for("login.start", tx=tx.id))


@bp.route("/cancel", methods=["POST"])
def cancel():
    """Leaving a profile login: there is no service to return to, so the front page."""
    tx_id = request.form.get("tx", "")
    if tx_id:
        transactions.finish(tx_id)
    return redirect(url_for("pages.index"))


KEPT = "profile_notice"  # in the signed session cookie: what a profile page says after a form was sent
KEPT_SECONDS = 600


# What went well, worded by the page drawn after the redirect; the argument is a factor's name, a date or "".
DONE: dict[str, Callable[[str], str]] = {
    "sms_on": lambda _a: _("Codes by SMS are turned on."),
    "totp_on": lambda _a: _("Your authenticator app is set up."),
    "removed": lambda name: (
        _("%(factor)s was removed.", factor=_chain().factors[name].label) if name in _chain().factors else ""
    ),
    "preferred": lambda _a: _("Your choice is saved."),
    "app_device_removed": lambda name: _("%(device)s can no longer log in as you.", device=name),
    "password": lambda _a: _("Your password is changed."),
    "passkey_on": lambda name: _("The passkey “%(name)s” is set up.", name=name),
    "passkey_renamed": lambda name: _("The passkey is now called “%(name)s”.", name=name),
    "passkey_removed": lambda name: _("The passkey “%(name)s” was removed.", name=name),
    "letter_sent": lambda _a: _("The activation letter is on its way to your registered address."),
    "operating": lambda name: _(
        "You now operate the account of %(name)s. Its codes come by SMS to your phone.", name=name
    ),
    "letter_already": lambda day: _(
        "An activation letter was already sent to you. It is valid until %(date)s.",
        date=format_date(date.fromisoformat(day), "long"),
    ),
}


def _keep(*, done: str | None = None, arg: str = "", **errors: dict) -> None:
    """What the next profile page drawn says: ``done`` (a key of DONE) and errors at fields (kept notices).

    Kept in the signed session cookie until the next form is sent (or a few minutes), so a
    reload or another language says it again, in that language.
    """
    browser_session[KEPT] = {"at": now().isoformat(), "done": done, "arg": arg, "errors": errors}


def _kept() -> tuple[str | None, dict[str, str]]:
    kept = browser_session.get(KEPT)
    if not isinstance(kept, dict) or now() - datetime.fromisoformat(kept["at"]) > timedelta(seconds=KEPT_SECONDS):
        return None, {}
    done = kept.get("done")
    message = DONE[done](str(kept.get("arg", ""))) if done in DONE else None
    return message, notices.worded(kept.get("errors"), now())


def _back(endpoint: str = "profile.index", anchor: str | None = None, **values):
    """Redirect after POST, to the page that says what came of it."""
    db.session.commit()
    return redirect(url_for(endpoint, _anchor=anchor, **values), 303)


def _level_name(level: str) -> str:
    names = {
        "idporten-loa-low": _("Low"),
        "idporten-loa-substantial": _("Substantial"),
        "idporten-loa-high": _("High"),
    }
    return names.get(level, level)


# The page each form is on: a form whose CSRF token was refused goes back there, saying why.
FORM_PAGES = {
    "profile.phone_confirm": "profile.phone_confirm",
    "profile.phone_resend": "profile.phone_confirm",
    "profile.totp": "profile.totp",
    "profile.activation": "profile.activation",
    "profile.activate": "profile.activate",
    "profile.activate_phone": "profile.activate_phone",
    "profile.activate_confirm": "profile.activate_confirm",
    "profile.activate_resend": "profile.activate_confirm",
    "profile.activate_totp": "profile.activate_totp",
    "profile.app_code": "profile.app_devices",
    "profile.app_remove": "profile.app_devices",
    "profile.passkey_new": "profile.passkey_new",
}


@bp.errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    """A form open longer than its token lives (or sent after cookies were cleared): its page again, saying so."""
    _keep(form=notices.notice("expired_form"))
    return redirect(url_for(FORM_PAGES.get(request.endpoint or "", "profile.index")), 303)


@bp.route("")
@signed_in
def index():
    citizen = g.citizen
    chain = _chain()
    policy = current_app.extensions["idp.policy"]
    enrolled = {row.name: row for row in rows.enrolments(citizen) if row.name in chain.factors}
    logins = db.session.scalars(
        sa.select(AuditEvent)
        .filter_by(citizen_id=citizen.id, event="login.complete")
        .order_by(AuditEvent.at.desc())
        .limit(10)
    ).all()
    ids = {event.client_id for event in logins if event.client_id}
    services = dict(db.session.execute(sa.select(Client.client_id, Client.name).where(Client.client_id.in_(ids))).all())
    message, errors = _kept()
    return render_template(
        "profile/index.html",
        services=services,
        citizen=citizen,
        factors=chain.factors,
        enrolled=enrolled,
        accepted={name: rule.accepted(now()) for name, rule in policy.rules.items()},
        logins=logins,
        level_name=_level_name,
        phone_form=PhoneForm(),
        factor_form=FactorForm(),
        password_form=PasswordChangeForm(),
        passkeys=_webauthn().passkeys(citizen) if _webauthn() else [],
        passkey_name_form=PasskeyNameForm(),
        operating=operated.overview(citizen, current_app.extensions["idp.guardianship"], now().date()),
        operate_form=OperateForm(),
        message=message,
        errors=errors,
    ), _refusal_status(errors)


# ---------------------------------------------------------------- SMS
@bp.route("/phone", methods=["POST"])
@signed_in
def phone():
    """Send a code to the new number; SMS is turned on only once the citizen types it back."""
    form = PhoneForm()
    sms = _chain().factors.get("sms")
    if sms is None:
        return error_page(_("Page not found"), _("Check the address."), status=404)
    if not form.validate_on_submit():
        _keep(phone=notices.notice("phone_invalid" if form.phone.data else "phone_missing"))
        return _back(anchor="sms")
    try:
        number = normalise_phone(form.phone.data)
    except ValueError:
        _keep(phone=notices.notice("phone_invalid"))
        return _back(anchor="sms")
    refused = _send_phone_code(g.citizen, sms, number, key=g.pending_key)
    if refused is not None and refused["key"] not in ("resend_wait",):
        _keep(phone=refused)
        return _back(anchor="sms")
    _keep(code=refused) if refused else _keep()
    return _back("profile.phone_confirm")


# What proves one person: a guardian operating a ward's account may set up none of them for the ward.
PERSONAL = ("totp", "app", "webauthn")


def _not_enrollable(name: str):
    """A page when the policy takes no new enrolments of this factor now (its enrol_until has passed), or when a
    guardian is operating the account and the factor is personal; else None."""
    session = current_session()  # None where a letter's code and the password stand in for a session
    if name in PERSONAL and session is not None and session.act:
        return error_page(
            _("That way of logging in is not available"),
            _("The app, authenticator apps and passkeys are personal and cannot be used for someone else."),
            status=403,
        )
    if current_app.extensions["idp.policy"].enrollable(name, now()):
        return None
    return error_page(_("That way of logging in is not available"), _("Choose another one."), status=403)


def _send_phone_code(
    citizen: Citizen, sms, number: str, *, key: str, text: Callable[[str], str] | None = None
) -> dict | None:
    """Send a code to confirm ``number``, within the limits: None when sent, else a notice saying why not.

    ``text`` words the SMS around the code (default: confirming one's own mobile number)."""
    if not current_app.extensions["idp.policy"].enrollable("sms", now()):
        return notices.notice("not_enrollable")
    wait, scope = accounts.code_send_wait(citizen)
    if wait:
        return notices.notice(f"codes_{scope}", until=now() + timedelta(seconds=wait))
    state = _store().get(PENDING, f"sms:{key}") or {}
    if state.get("phone") != number:
        state = {"phone": number}
    try:
        sms.send(number, state, text=text or _own_phone_text)
    except TryLater as later:
        if later.used_up:
            return notices.notice("sends_used")
        return notices.notice("resend_wait", until=now() + timedelta(seconds=later.seconds))
    except GatewayError:
        return notices.notice("send_failed")
    accounts.code_sent(citizen)
    _store().put(PENDING, f"sms:{key}", state, ttl=current_app.config["IDP"].sms.code_seconds)
    return None


def _own_phone_text(code: str) -> str:
    return _("%(code)s is your code to confirm your mobile number.", code=code)


def _confirm_phone(citizen: Citizen, key: str) -> dict | None:
    """Check the code sent to the pending number: None once SMS is enrolled with it, else the notice for its field."""
    form = ProfileCodeForm()
    sms = _chain().factors["sms"]
    state = _store().get(PENDING, f"sms:{key}")
    if state is None:
        return notices.notice("code_expired")
    if not form.validate_on_submit():
        return notices.notice("code_wrong" if form.code.data else "code_missing")
    outcome = sms.check(state, form.code.data)
    audit.record("profile.sms_confirm", outcome="success" if outcome.ok else outcome.reason, citizen=citizen)
    if not outcome.ok:
        if not outcome.restart:
            _store().put(PENDING, f"sms:{key}", state, ttl=current_app.config["IDP"].sms.code_seconds)
        else:
            # The code is spent; the number stays, so "send a new code" can send to it again.
            state.pop("challenge", None)
            _store().put(
                PENDING, f"sms:{key}", {**state, "spent": True}, ttl=current_app.config["IDP"].sms.code_seconds
            )
        db.session.commit()
        return notices.notice(f"code_{outcome.reason}")
    _store().delete(PENDING, f"sms:{key}")
    rows.enrol(citizen, "sms", phone=state["phone"])
    citizen.phone, citizen.phone_verified = state["phone"], True
    audit.record("profile.factor_added", outcome="success", citizen=citizen, factor="sms")
    db.session.commit()
    return None


def _confirm_page(key: str, action: str, resend: str):
    """The page that asks for the code sent to the pending number (GET, so it can be reloaded)."""
    state = _store().get(PENDING, f"sms:{key}")
    if state is None:
        return None
    _message, errors = _kept()
    return render_template(
        "profile/confirm_phone.html",
        form=ProfileCodeForm(),
        phone=state["phone"],
        action=action,
        resend=resend,
        spent=bool(state.get("spent")),
        errors=errors,
    ), 400 if errors else 200


@bp.route("/phone/confirm", methods=["GET", "POST"])
@signed_in
def phone_confirm():
    if request.method == "GET":
        page = _confirm_page(g.pending_key, url_for("profile.phone_confirm"), url_for("profile.phone_resend"))
        if page is None:
            _keep(phone=notices.notice("code_expired"))
            return redirect(url_for("profile.index", _anchor="sms"))
        return page
    refused = _confirm_phone(g.citizen, g.pending_key)
    if refused is not None:
        _keep(code=refused)
        return _back("profile.phone_confirm")
    _keep(done="sms_on")
    return _back()


@bp.route("/phone/resend", methods=["POST"])
@signed_in
def phone_resend():
    return _resend(g.citizen, g.pending_key, "profile.phone_confirm")


def _resend(citizen: Citizen, key: str, confirm_endpoint: str):
    state = _store().get(PENDING, f"sms:{key}")
    if state is None or "sms" not in _chain().factors:
        _keep(code=notices.notice("code_expired"))
        return _back(confirm_endpoint)
    refused = _send_phone_code(citizen, _chain().factors["sms"], state["phone"], key=key)
    _keep(code=refused) if refused else _keep()
    return _back(confirm_endpoint)


# ---------------------------------------------------------------- TOTP
@bp.route("/totp", methods=["GET", "POST"])
@signed_in
def totp():
    """Enrol an authenticator app: a QR code of a new secret, confirmed by one code from the app."""
    return _totp_enrolment(g.citizen, f"totp:{g.pending_key}", "profile.totp", back=True)


def _totp_enrolment(citizen: Citizen, key: str, endpoint: str, *, back: bool, done: Callable[[], None] = lambda: None):
    """The page with the pending secret (GET), or the check of the code from the app (POST, then a redirect)."""
    factor = _chain().factors.get("totp")
    if factor is None:
        return error_page(_("Page not found"), _("Check the address."), status=404)
    if refused := _not_enrollable("totp"):
        return refused
    form = ProfileCodeForm()
    pending = _store().get(PENDING, key)
    if request.method == "POST":
        if pending is None or not form.validate_on_submit():
            # No pending key: the page was open longer than a key waits for its code.
            _keep(code=notices.notice("expired_form" if pending is None else "code_missing"))
            return _back(endpoint)
        step = factor.matching_timecode(pending["secret"], form.code.data)
        audit.record("profile.totp_confirm", outcome="success" if step is not None else "wrong", citizen=citizen)
        if step is None:
            _keep(code=notices.notice("totp_wrong"))
            return _back(endpoint)
        _store().delete(PENDING, key)
        # The confirming code counts as used: it cannot log in afterwards.
        factor.enrol(citizen, pending["secret"], confirmed_timecode=step)
        audit.record("profile.factor_added", outcome="success", citizen=citizen, factor="totp")
        done()
        _keep(done="totp_on")
        return _back("profile.index" if back else "profile.activated")
    if pending is None:
        # Made once and kept while the page is reloaded: the key in the app must stay the one confirmed.
        pending = {"secret": factor.new_secret()}
        _store().put(PENDING, key, pending, ttl=600)
        db.session.commit()
    uri = factor.provisioning_uri(citizen, pending["secret"])
    _message, errors = _kept()
    return render_template(
        "profile/totp.html",
        form=form,
        errors=errors,
        action=url_for(endpoint),
        back=back,
        uri=uri,
        secret_groups=[pending["secret"][i : i + 4] for i in range(0, len(pending["secret"]), 4)],
        qr=segno.make(uri, error="m").svg_data_uri(scale=4),
    ), 400 if errors else 200


# ---------------------------------------------------------------- the app: devices and activation codes
def _app_missing():
    """The page saying the app is not offered here, or None when it is."""
    if "app" in _chain().factors:
        return None
    return error_page(_("Page not found"), _("Check the address."), status=404)


def _shown_code(key: str) -> dict | None:
    """The activation code made on this page a moment ago, while it may still be used (the store keeps it that long)."""
    return _store().get(PENDING, f"app:{key}")


@bp.route("/app")
@signed_in
def app_devices():
    """The citizen's phones with the app, and an activation code (QR and text) for adding one."""
    if refused := _app_missing():
        return refused
    shown = _shown_code(g.pending_key)
    qr = None
    if shown is not None:
        issuer = current_app.config["IDP"].server.issuer
        qr = segno.make(f"idp-app://enrol?{urlencode({'issuer': issuer, 'code': shown['code']})}", error="m")
    message, errors = _kept()
    return render_template(
        "profile/app.html",
        devices=app_factor.devices_of(g.citizen),
        form=AppDeviceForm(),
        enrollable=current_app.extensions["idp.policy"].enrollable("app", now()),
        shown=shown,
        expires=datetime.fromisoformat(shown["expires"]) if shown else None,
        qr=qr.svg_data_uri(scale=4) if qr else None,
        message=message,
        errors=errors,
    ), _refusal_status(errors)


@bp.route("/app/code", methods=["POST"])
@signed_in
def app_code():
    """A new activation code; the page it redirects to shows it while it is valid."""
    if refused := _app_missing():
        return refused
    if refused := _not_enrollable("app"):
        return refused
    if not AppDeviceForm().validate_on_submit():
        _keep(form=notices.notice("expired_form"))
        return _back("profile.app_devices")
    code, expires = app_factor.new_activation_code(g.citizen)
    seconds = current_app.config["IDP"].app.activation_seconds
    _store().put(PENDING, f"app:{g.pending_key}", {"code": code, "expires": expires.isoformat()}, ttl=seconds)
    audit.record("profile.app_code", outcome="success", citizen=g.citizen)
    _keep()
    return _back("profile.app_devices", anchor="code")


@bp.route("/app/remove", methods=["GET", "POST"])
@signed_in
def app_remove():
    """Remove one phone, after the citizen confirmed it on a page of its own."""
    if refused := _app_missing():
        return refused
    form = AppDeviceForm()
    wanted = request.args.get("device", "") if request.method == "GET" else (form.device.data or "")
    device = app_factor.find_device(wanted) if wanted else None
    if device is None or device.citizen_id != g.citizen.id:
        _keep(devices=notices.notice("not_removed"))
        return _back("profile.app_devices", anchor="devices")
    if request.method == "GET":
        form = AppDeviceForm(device=device.key_id, confirm="yes")
        return render_template("profile/app_remove.html", device=device, form=form)
    if not form.validate_on_submit() or form.confirm.data != "yes":
        browser_session.pop(KEPT, None)
        return _back("profile.app_remove", device=device.key_id)
    name = device.name
    app_factor.remove_device(g.citizen, device)
    audit.record("profile.app_device_removed", outcome="success", citizen=g.citizen, device=wanted)
    _keep(done="app_device_removed", arg=name)
    return _back("profile.app_devices")


# ---------------------------------------------------------------- passkeys
def _webauthn() -> WebauthnFactor | None:
    return _chain().factors.get("webauthn")


def _passkey_pending() -> str:
    return f"webauthn:{g.pending_key}"


def _no_passkeys():
    return error_page(_("Page not found"), _("Check the address."), status=404)


@bp.route("/passkeys", methods=["POST"])
@signed_in
def passkey_add():
    """Adding a passkey, first its name: then the page whose button has the browser make it."""
    factor = _webauthn()
    if factor is None:
        return _no_passkeys()
    if refused := _not_enrollable("webauthn"):
        return refused
    form = PasskeyNameForm()
    nickname = clean_nickname(form.nickname.data or "") if form.validate_on_submit() else ""
    if not nickname:
        _keep(nickname=notices.notice("too_long" if "nickname" in form.errors else "nickname_missing"))
        return _back(anchor="passkeys")
    registration = factor.registration_options(g.citizen)
    pending = {**registration.pending, "options": registration.options, "nickname": nickname}
    _store().put(PENDING, _passkey_pending(), pending, ttl=current_app.config["IDP"].webauthn.challenge_seconds)
    _keep()
    return _back("profile.passkey_new")


@bp.route("/passkeys/new", methods=["GET", "POST"])
@signed_in
def passkey_new():
    """The page that makes the passkey (GET), and the check of what the browser made (POST, then a redirect)."""
    factor = _webauthn()
    if factor is None:
        return _no_passkeys()
    if refused := _not_enrollable("webauthn"):
        return refused
    if request.method == "GET":
        pending = _store().get(PENDING, _passkey_pending())
        if pending is None:
            _keep(nickname=notices.notice("webauthn_expired"))
            return redirect(url_for("profile.index", _anchor="passkeys"))
        _message, errors = _kept()
        page = render_template(
            "profile/passkey_new.html",
            nickname=pending["nickname"],
            options=pending["options"],
            form=PasskeyAnswerForm(),
            errors=errors,
        )
        return page, 400 if errors else 200
    form = PasskeyAnswerForm()
    if not form.validate_on_submit():
        _keep(form=notices.notice("webauthn_missing"))
        return _back("profile.passkey_new")
    # Taken: the challenge is answered once, whatever comes of it.
    pending = _store().take(PENDING, _passkey_pending())
    if pending is None:
        _keep(nickname=notices.notice("webauthn_expired"))
        return _back(anchor="passkeys")
    try:
        key = factor.register(g.citizen, pending, form.credential.data, nickname=pending["nickname"])
    except NotRegistered as refused:
        audit.record("profile.passkey_added", outcome=refused.reason, citizen=g.citizen)
        _keep(nickname=notices.notice(f"webauthn_{refused.reason}"))
        return _back(anchor="passkeys")
    audit.record(
        "profile.passkey_added",
        outcome="success",
        citizen=g.citizen,
        factor="webauthn",
        passkey=key.id,
        aaguid=key.aaguid,
        synced=key.backup_eligible,
    )
    _keep(done="passkey_on", arg=key.nickname)
    return _back(anchor="passkeys")


@bp.route("/passkeys/<int:passkey_id>", methods=["GET", "POST"])
@signed_in
def passkey_rename(passkey_id: int):
    """One passkey's page: a new name for it (GET the form, POST the name, then a redirect)."""
    factor = _webauthn()
    key = factor.passkey(g.citizen, passkey_id) if factor else None
    if key is None:  # gone, or another citizen's: as if there were none
        return redirect(url_for("profile.index", _anchor="passkeys"))
    form = PasskeyNameForm()
    if request.method == "GET":
        _message, errors = _kept()
        if not errors:
            form.nickname.data = key.nickname
        return render_template("profile/passkey.html", key=key, form=form, errors=errors), 400 if errors else 200
    nickname = clean_nickname(form.nickname.data or "") if form.validate_on_submit() else ""
    if not nickname:
        _keep(nickname=notices.notice("too_long" if "nickname" in form.errors else "nickname_missing"))
        return _back("profile.passkey_rename", passkey_id=key.id)
    factor.rename(g.citizen, key.id, nickname)
    audit.record("profile.passkey_renamed", outcome="success", citizen=g.citizen, passkey=key.id)
    _keep(done="passkey_renamed", arg=key.nickname)
    return _back(anchor="passkeys")


@bp.route("/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@signed_in
def passkey_remove(passkey_id: int):
    """Remove one passkey, after the citizen confirmed it (warned when it is the last strong way in)."""
    factor = _webauthn()
    key = factor.passkey(g.citizen, passkey_id) if factor else None
    if key is None:
        return redirect(url_for("profile.index", _anchor="passkeys"))
    form = PasskeyRemoveForm()
    if request.method == "GET":
        levels = current_app.extensions["idp.levels"].order
        last = len(factor.passkeys(g.citizen)) == 1 and _reaches(
            _chain().enrolled(g.citizen), levels[min(1, len(levels) - 1)]
        ) == [factor.name]
        return render_template(
            "profile/confirm_remove_passkey.html", key=key, form=PasskeyRemoveForm(confirm="yes"), last=last
        )
    if not form.validate_on_submit() or form.confirm.data != "yes":
        return _back("profile.passkey_remove", passkey_id=key.id)
    factor.remove_passkey(g.citizen, key.id)
    audit.record("profile.passkey_removed", outcome="success", citizen=g.citizen, passkey=key.id)
    _keep(done="passkey_removed", arg=key.nickname)
    return _back(anchor="passkeys")


# ---------------------------------------------------------------- removing, preferring
def _reaches(names: list[str], level: str) -> list[str]:
    policy = current_app.extensions["idp.policy"]
    at = now()
    return [
        n
        for n in names
        if n in policy.rules and policy.rules[n].accepted(at) and policy.levels.at_least(policy.rules[n].level, level)
    ]


@bp.route("/remove", methods=["GET", "POST"])
@signed_in
def remove():
    """Remove a factor, after the citizen confirmed it on a page of its own (warned when it is the last strong one)."""
    if request.method == "GET":
        factor = _chain().factors.get(request.args.get("factor", ""))
        if factor is None or not factor.enrolled(g.citizen):
            return redirect(url_for("profile.index"))
        substantial = current_app.extensions["idp.levels"].order[
            min(1, len(current_app.extensions["idp.levels"].order) - 1)
        ]
        last = _reaches(_chain().enrolled(g.citizen), substantial) == [factor.name]
        form = FactorForm(factor=factor.name, confirm="yes")
        return render_template("profile/confirm_remove.html", factor=factor, form=form, last=last)
    form = FactorForm()
    factor = _chain().factors.get(form.factor.data or "")
    if not form.validate_on_submit() or factor is None or not factor.enrolled(g.citizen):
        _keep(factors=notices.notice("not_removed"))
        return _back(anchor="factors")
    if form.confirm.data != "yes":
        browser_session.pop(KEPT, None)
        return _back("profile.remove", factor=factor.name)
    factor.remove(g.citizen)
    audit.record("profile.factor_removed", outcome="success", citizen=g.citizen, factor=factor.name)
    _keep(done="removed", arg=factor.name)
    return _back()


@bp.route("/preferred", methods=["POST"])
@signed_in
def preferred():
    form = FactorForm()
    if not form.validate_on_submit() or form.factor.data not in _chain().enrolled(g.citizen):
        _keep(factors=notices.notice("not_chosen"))
        return _back(anchor="factors")
    rows.set_preferred(g.citizen, form.factor.data)
    audit.record("profile.preferred", outcome="success", citizen=g.citizen, factor=form.factor.data)
    _keep(done="preferred")
    return _back()


# ---------------------------------------------------------------- password
@bp.route("/password", methods=["POST"])
@signed_in
def change_password():
    form = PasswordChangeForm()
    config = current_app.config["IDP"]
    hasher = current_app.extensions["idp.hasher"]
    if not form.validate_on_submit():
        fields = ("current", "new", "repeat")
        _keep(
            **{
                name: notices.notice("too_long" if form[name].data else f"{name}_missing")
                for name in fields
                if name in form.errors
            }
        )
        return _back(anchor="password")
    attempt = accounts.begin_check(g.citizen.pid, event="profile.password", citizen=g.citizen)
    db.session.commit()
    if not attempt.allowed:
        _keep(current=notices.wait_notice(attempt.wait_seconds, attempt.scope))
        return _back(anchor="password")
    if not password.verify_password(hasher, g.citizen.password_hash, form.current.data):
        audit.record("profile.password", outcome="failure", citizen=g.citizen)
        failure = accounts.failed(attempt, citizen=g.citizen)
        if failure.wait_seconds:
            _keep(current=notices.wait_notice(failure.wait_seconds, failure.scope))
        else:
            _keep(current=notices.notice("current_wrong"))
        return _back(anchor="password")
    accounts.passed(attempt)
    if form.new.data != form.repeat.data:
        _keep(repeat=notices.notice("repeat_differs"))
        return _back(anchor="password")
    if len(form.new.data) < config.passwords.min_length:
        _keep(new=notices.notice("new_too_short"))
        return _back(anchor="password")
    g.citizen.password_hash = password.hash_password(hasher, form.new.data)
    audit.record("profile.password", outcome="success", citizen=g.citizen)
    _keep(done="password")
    return _back()


# ---------------------------------------------------------------- activation letter
def _password_right(citizen: Citizen | None, given: str) -> bool:
    """Hashed whoever the number belongs to, so the timing does not tell which numbers have an account."""
    hasher = current_app.extensions["idp.hasher"]
    ok = password.verify_password(hasher, citizen.password_hash if citizen else None, given)
    return ok and citizen is not None and citizen.status == CitizenStatus.active


@bp.route("/activation", methods=["GET", "POST"])
def activation():
    """Order an activation letter: it goes by post to the registered address only."""
    form = ActivationOrderForm()
    if request.method == "GET":
        message, errors = _kept()
        page = render_template("profile/activation.html", form=form, errors=errors, message=message)
        return page, _refusal_status(errors)
    if (refused := number_and_password_errors(form)) is not None:
        _keep(**refused)
        return _back("profile.activation")
    pid, citizen = accounts.find_citizen(form.pid.data)
    attempt = accounts.begin_check(pid, event="activation.order", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        _keep(form=notices.wait_notice(attempt.wait_seconds, attempt.scope))
    elif _password_right(citizen, form.password.data):
        accounts.passed(attempt)
        _order_letter(citizen)
    else:
        audit.record("activation.order", outcome="failure", citizen=citizen, pid=pid)
        failure = accounts.failed(attempt, citizen=citizen, pid=pid)
        if failure.wait_seconds:
            _keep(form=notices.wait_notice(failure.wait_seconds, failure.scope))
        else:
            _keep(form=notices.notice("wrong_password"))
    return _back("profile.activation")


def _refusal_status(errors: dict[str, str]) -> int:
    """What a page saying why its form was refused answers with: 429 for a wait, 400 for other errors."""
    if not errors:
        return 200
    kept = (browser_session.get(KEPT) or {}).get("errors") or {}
    return 429 if any(str(entry.get("key", "")).startswith("wait") for entry in kept.values()) else 400


def _order_letter(citizen: Citizen) -> None:
    live = activation_letters.live_letter(citizen)
    if live is not None:
        audit.record("activation.order", outcome="already_ordered", citizen=citizen)
        _keep(done="letter_already", arg=live.expires_at.date().isoformat())
        return

    def body(code: str, valid_until: date) -> str:
        return _(
            "Your activation code is %(code)s. It is valid until %(date)s. Use it with your password at %(url)s "
            "to set up a code by SMS.",
            code=code,
            date=valid_until.isoformat(),
            url=current_app.config["IDP"].server.url(url_for("profile.activate")),
        )

    try:
        activation_letters.send_letter(citizen, body=body)
    except NoAddress:
        audit.record("activation.order", outcome="no_address", citizen=citizen)
        _keep(form=notices.notice("no_address"))
        return
    audit.record("activation.order", outcome="success", citizen=citizen)
    _keep(done="letter_sent")


@bp.route("/activate", methods=["GET", "POST"])
def activate():
    """Password plus the letter's code: then the citizen may set up a code by SMS."""
    form = ActivationForm()
    if request.method == "GET":
        _message, errors = _kept()
        return render_template("profile/activate.html", form=form, errors=errors), _refusal_status(errors)
    if (refused := number_and_password_errors(form)) is not None:
        _keep(**refused)
        return _back("profile.activate")
    pid, citizen = accounts.find_citizen(form.pid.data)
    attempt = accounts.begin_check(pid, event="activation.use", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        _keep(form=notices.wait_notice(attempt.wait_seconds, attempt.scope))
        return _back("profile.activate")
    # The code is spent in one statement: of two requests racing with it, only one gets a grant.
    if _password_right(citizen, form.password.data) and activation_letters.spend_letter(citizen, form.code.data):
        accounts.passed(attempt)
        # The letter went to the registered address: that activates an ordered account, as at /order/activate.
        ordering.activate(citizen, by="letter")
        grant = secrets.token_urlsafe(24)
        _store().put(GRANTS, grant, {"citizen_id": citizen.id}, ttl=900)
        # In the signed, HttpOnly session cookie, never in a URL: it lets its holder set up a factor.
        browser_session[GRANTS] = grant
        audit.record("activation.use", outcome="success", citizen=citizen)
        _keep()
        return _back("profile.activate_phone")
    audit.record("activation.use", outcome="failure", citizen=citizen, pid=pid)
    failure = accounts.failed(attempt, citizen=citizen, pid=pid)
    if failure.wait_seconds:
        _keep(form=notices.wait_notice(failure.wait_seconds, failure.scope))
    else:
        _keep(form=notices.notice("wrong_activation"))
    return _back("profile.activate")


def _granted() -> tuple[Citizen | None, str]:
    grant = browser_session.get(GRANTS, "")
    entry = _store().get(GRANTS, grant) if grant else None
    citizen = db.session.get(Citizen, entry["citizen_id"]) if entry else None
    return citizen, grant


def _forget_grant(grant: str) -> None:
    _store().delete(GRANTS, grant)
    browser_session.pop(GRANTS, None)


@bp.route("/activate/phone", methods=["GET", "POST"])
def activate_phone():
    """With a checked activation code: the number to set up codes by SMS with."""
    citizen, grant = _granted()
    sms = _chain().factors.get("sms")
    if citizen is None or sms is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    if request.method == "GET":
        _message, errors = _kept()
        page = render_template("profile/activate_phone.html", form=PhoneForm(), errors=errors)
        return page, 400 if errors else 200
    form = PhoneForm()
    try:
        number = normalise_phone(form.phone.data or "") if form.validate_on_submit() else ""
    except ValueError:
        number = ""
    if not number:
        _keep(phone=notices.notice("phone_invalid" if form.phone.data else "phone_missing"))
        return _back("profile.activate_phone")
    refused = _send_phone_code(citizen, sms, number, key=f"grant:{grant}")
    if refused is not None and refused["key"] != "resend_wait":
        _keep(phone=refused)
        return _back("profile.activate_phone")
    _keep(code=refused) if refused else _keep()
    return _back("profile.activate_confirm")


@bp.route("/activate/confirm", methods=["GET", "POST"])
def activate_confirm():
    citizen, grant = _granted()
    if citizen is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    key = f"grant:{grant}"
    if request.method == "GET":
        page = _confirm_page(key, url_for("profile.activate_confirm"), url_for("profile.activate_resend"))
        if page is None:
            # The letter's code is spent, but the grant lives on for a while: the citizen tries the number again.
            _keep(phone=notices.notice("code_expired"))
            return redirect(url_for("profile.activate_phone"))
        return page
    refused = _confirm_phone(citizen, key)
    if refused is not None:
        _keep(code=refused)
        return _back("profile.activate_confirm")
    _forget_grant(grant)
    _keep(done="sms_on")
    return _back("profile.activated")


@bp.route("/activate/resend", methods=["POST"])
def activate_resend():
    citizen, grant = _granted()
    if citizen is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    return _resend(citizen, f"grant:{grant}", "profile.activate_confirm")


@bp.route("/activate/totp", methods=["GET", "POST"])
def activate_totp():
    """The other way back with an activation letter: an authenticator app instead of SMS."""
    citizen, grant = _granted()
    if citizen is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    return _totp_enrolment(
        citizen, f"totp:grant:{grant}", "profile.activate_totp", back=False, done=lambda: _forget_grant(grant)
    )


@bp.route("/activated")
def activated():
    """The end of the way back: what was set up, and that the citizen can log in with it now."""
    message, _errors = _kept()
    return render_template("profile/activated.html", title=message or _("You can now log in"))
