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
from datetime import timedelta
from functools import wraps

import segno
import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_babel import gettext as _

from idp import accounts, audit, transactions
from idp.clock import now
from idp.errors import error_page, wait_message
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa import password
from idp.mfa.codes import code_hash, code_matches, numeric_code
from idp.mfa.factor import TryLater
from idp.mfa.gateways.letter import NoAddress
from idp.mfa.gateways.sms import GatewayError
from idp.mfa.sms import normalise_phone
from idp.models import ActivationLetter, AuditEvent, Citizen, CitizenStatus, Client
from idp.policy.requirement import Requirement
from idp.sessions import current_session
from idp.web.forms import (
    ActivationForm,
    ActivationOrderForm,
    FactorForm,
    PasswordChangeForm,
    PhoneForm,
    ProfileCodeForm,
)

bp = Blueprint("profile", __name__, url_prefix="/profile")

PENDING = "profile_pending"  # store namespace: an enrolment waiting for its confirming code
GRANTS = "activation_grant"  # store namespace: a checked activation code, for the setup page
PURPOSE = "activation"


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


def _page(status: int = 200, **values):
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
    return render_template(
        "profile/index.html",
        services=services,
        citizen=citizen,
        factors=chain.factors,
        enrolled=enrolled,
        accepted={name: rule.accepted(now()) for name, rule in policy.rules.items()},
        logins=logins,
        phone_form=PhoneForm(),
        factor_form=FactorForm(),
        password_form=values.pop("password_form", None) or PasswordChangeForm(),
        **values,
    ), status


@bp.route("")
@signed_in
def index():
    return _page()


# ---------------------------------------------------------------- SMS
@bp.route("/phone", methods=["POST"])
@signed_in
def phone():
    """Send a code to the new number; SMS is turned on only once the citizen types it back."""
    form = PhoneForm()
    sms = _chain().factors.get("sms")
    if sms is None or not form.validate_on_submit():
        return _page(error=_("Type a mobile number."), status=400)
    try:
        number = normalise_phone(form.phone.data)
    except ValueError:
        return _page(error=_("That is not a mobile number we can send to."), status=400)
    return _send_phone_code(sms, number, key=g.pending_key, confirm_url=url_for("profile.phone_confirm"))


def _not_enrollable(name: str):
    """A page when the policy takes no new enrolments of this factor now (its enrol_until has passed), else None."""
    if current_app.extensions["idp.policy"].enrollable(name, now()):
        return None
    return error_page(_("That way of logging in is not available"), _("Choose another one."), status=403)


def _send_phone_code(sms, number: str, *, key: str, confirm_url: str):
    if refused := _not_enrollable("sms"):
        return refused
    if not current_app.extensions["idp.limits"].may_send_code(request.remote_addr, now()):
        return error_page(
            _("Too many attempts"),
            _("There have been too many attempts from your network. Try again later."),
            status=429,
        )
    state = _store().get(PENDING, f"sms:{key}") or {}
    if state.get("phone") != number:
        state = {"phone": number}
    try:
        sms.send(number, state, text=lambda code: _("%(code)s is your code to confirm your mobile number.", code=code))
    except TryLater as wait:
        return error_page(
            _("Wait a moment"),
            _("Wait %(seconds)s seconds before asking for a new code.", seconds=wait.seconds),
            status=429,
        )
    except GatewayError:
        return error_page(
            _("We could not send the code"), _("Sending the code failed. Try again in a little while."), status=503
        )
    _store().put(PENDING, f"sms:{key}", state, ttl=current_app.config["IDP"].sms.code_seconds)
    return render_template("profile/confirm_phone.html", form=ProfileCodeForm(), phone=number, action=confirm_url)


def _confirm_phone(citizen: Citizen, key: str):
    """Check the code sent to the pending number: (True, None) once SMS is enrolled with it, else (None, message)."""
    form = ProfileCodeForm()
    sms = _chain().factors["sms"]
    state = _store().get(PENDING, f"sms:{key}")
    if state is None or not form.validate_on_submit():
        return None, _("The code has expired. Start again.")
    outcome = sms.check(state, form.code.data)
    audit.record("profile.sms_confirm", outcome="success" if outcome.ok else outcome.reason, citizen=citizen)
    if not outcome.ok:
        if outcome.restart:
            _store().delete(PENDING, f"sms:{key}")
        else:
            _store().put(PENDING, f"sms:{key}", state, ttl=current_app.config["IDP"].sms.code_seconds)
        db.session.commit()
        return None, _("The code is wrong or has expired.")
    _store().delete(PENDING, f"sms:{key}")
    rows.enrol(citizen, "sms", phone=state["phone"])
    citizen.phone, citizen.phone_verified = state["phone"], True
    audit.record("profile.factor_added", outcome="success", citizen=citizen, factor="sms")
    db.session.commit()
    return True, None


@bp.route("/phone/confirm", methods=["POST"])
@signed_in
def phone_confirm():
    done, error = _confirm_phone(g.citizen, g.pending_key)
    if not done:
        return _page(error=error, status=400)
    return _page(message=_("Codes by SMS are turned on."))


# ---------------------------------------------------------------- TOTP
@bp.route("/totp", methods=["GET", "POST"])
@signed_in
def totp():
    """Enrol an authenticator app: a QR code of a new secret, confirmed by one code from the app."""
    done, page = _totp_enrolment(g.citizen, f"totp:{g.pending_key}", url_for("profile.totp"), back=True)
    return _page(message=_("Your authenticator app is set up.")) if done else page


def _totp_enrolment(citizen: Citizen, key: str, action: str, *, back: bool):
    """(True, None) once the posted code matches the pending secret and it is enrolled; else (False, the page)."""
    factor = _chain().factors.get("totp")
    if factor is None:
        return False, error_page(_("Page not found"), _("Check the address."), status=404)
    if refused := _not_enrollable("totp"):
        return False, refused
    form = ProfileCodeForm()
    error = None
    pending = _store().get(PENDING, key)
    if request.method == "POST" and pending and form.validate_on_submit():
        step = factor.matching_timecode(pending["secret"], form.code.data)
        audit.record("profile.totp_confirm", outcome="success" if step is not None else "wrong", citizen=citizen)
        if step is not None:
            _store().delete(PENDING, key)
            # The confirming code counts as used: it cannot log in afterwards.
            factor.enrol(citizen, pending["secret"], confirmed_timecode=step)
            audit.record("profile.factor_added", outcome="success", citizen=citizen, factor="totp")
            db.session.commit()
            return True, None
        db.session.commit()
        error = _("The code is wrong. Check the time on your phone and try again.")
    if pending is None or request.method == "GET":
        pending = {"secret": factor.new_secret()}
        _store().put(PENDING, key, pending, ttl=600)
    uri = factor.provisioning_uri(citizen, pending["secret"])
    page = render_template(
        "profile/totp.html",
        form=form,
        error=error,
        action=action,
        back=back,
        secret=pending["secret"],
        qr=segno.make(uri, error="m").svg_data_uri(scale=4),
    )
    return False, (page, 400 if error else 200)


# ---------------------------------------------------------------- removing, preferring
def _reaches(names: list[str], level: str) -> list[str]:
    policy = current_app.extensions["idp.policy"]
    at = now()
    return [
        n
        for n in names
        if n in policy.rules and policy.rules[n].accepted(at) and policy.levels.at_least(policy.rules[n].level, level)
    ]


@bp.route("/remove", methods=["POST"])
@signed_in
def remove():
    """Remove a factor; removing the last one that reaches "substantial" needs an explicit confirmation."""
    form = FactorForm()
    factor = _chain().factors.get(form.factor.data or "")
    if not form.validate_on_submit() or factor is None or not factor.enrolled(g.citizen):
        return _page(error=_("That could not be removed."), status=400)
    substantial = current_app.extensions["idp.levels"].order[
        min(1, len(current_app.extensions["idp.levels"].order) - 1)
    ]
    strong = _reaches(_chain().enrolled(g.citizen), substantial)
    if strong == [factor.name] and form.confirm.data != "yes":
        return render_template(
            "profile/confirm_remove.html", factor=factor, form=FactorForm(factor=factor.name, confirm="yes")
        )
    factor.remove(g.citizen)
    audit.record("profile.factor_removed", outcome="success", citizen=g.citizen, factor=factor.name)
    db.session.commit()
    return _page(message=_("%(factor)s was removed.", factor=factor.label))


@bp.route("/preferred", methods=["POST"])
@signed_in
def preferred():
    form = FactorForm()
    if not form.validate_on_submit() or form.factor.data not in _chain().enrolled(g.citizen):
        return _page(error=_("That could not be chosen."), status=400)
    rows.set_preferred(g.citizen, form.factor.data)
    audit.record("profile.preferred", outcome="success", citizen=g.citizen, factor=form.factor.data)
    db.session.commit()
    return _page(message=_("Your choice is saved."))


# ---------------------------------------------------------------- password
@bp.route("/password", methods=["POST"])
@signed_in
def change_password():
    form = PasswordChangeForm()
    config = current_app.config["IDP"]
    hasher = current_app.extensions["idp.hasher"]
    if not form.validate_on_submit():
        return _page(password_form=form, error=_("Fill in all the password fields."), status=400)
    attempt = accounts.begin_check(g.citizen.pid, event="profile.password", citizen=g.citizen)
    db.session.commit()
    if not attempt.allowed:
        return _page(
            password_form=form, error=wait_message(attempt.wait_seconds, network=attempt.scope == "network"), status=429
        )
    if not password.verify_password(hasher, g.citizen.password_hash, form.current.data):
        audit.record("profile.password", outcome="failure", citizen=g.citizen)
        failure = accounts.failed(attempt, citizen=g.citizen)
        db.session.commit()
        if failure.wait_seconds:
            return _page(password_form=form, error=_waited(failure), status=429)
        return _page(password_form=form, error=_("The current password is wrong."), status=400)
    accounts.passed(attempt)
    if form.new.data != form.repeat.data:
        return _page(password_form=form, error=_("The new passwords are not the same."), status=400)
    if len(form.new.data) < config.passwords.min_length:
        return _page(
            password_form=form,
            error=_("The new password must have at least %(n)s characters.", n=config.passwords.min_length),
            status=400,
        )
    g.citizen.password_hash = password.hash_password(hasher, form.new.data)
    audit.record("profile.password", outcome="success", citizen=g.citizen)
    db.session.commit()
    return _page(message=_("Your password is changed."))


# ---------------------------------------------------------------- activation letter
def _waited(failure) -> str:
    return wait_message(failure.wait_seconds, network=failure.scope == "network")


def _password_right(citizen: Citizen | None, given: str) -> bool:
    """Hashed whoever the number belongs to, so the timing does not tell which numbers have an account."""
    hasher = current_app.extensions["idp.hasher"]
    ok = password.verify_password(hasher, citizen.password_hash if citizen else None, given)
    return ok and citizen is not None and citizen.status == CitizenStatus.active


@bp.route("/activation", methods=["GET", "POST"])
def activation():
    """Order an activation letter: it goes by post to the registered address only."""
    form = ActivationOrderForm()
    error = message = None
    status = 200
    if form.validate_on_submit():
        pid, citizen = accounts.find_citizen(form.pid.data)
        attempt = accounts.begin_check(pid, event="activation.order", citizen=citizen)
        db.session.commit()
        if not attempt.allowed:
            error, status = wait_message(attempt.wait_seconds, network=attempt.scope == "network"), 429
        elif _password_right(citizen, form.password.data):
            accounts.passed(attempt)
            error, message = _order_letter(citizen)
            status = 400 if error else 200
        else:
            audit.record("activation.order", outcome="failure", citizen=citizen, pid=pid)
            failure = accounts.failed(attempt, citizen=citizen, pid=pid)
            error = (
                _waited(failure)
                if failure.wait_seconds
                else _("The national identity number or the password is wrong.")
            )
            status = 429 if failure.wait_seconds else 400
        db.session.commit()
    return render_template("profile/activation.html", form=form, error=error, message=message), status


def _order_letter(citizen: Citizen) -> tuple[str | None, str | None]:
    days = current_app.config["IDP"].letters.activation_days
    moment = now()
    live = db.session.scalar(
        sa.select(ActivationLetter).where(
            ActivationLetter.citizen_id == citizen.id,
            ActivationLetter.expires_at > moment,
            ActivationLetter.used_at.is_(None),
        )
    )
    if live is not None:
        audit.record("activation.order", outcome="already_ordered", citizen=citizen)
        return _(
            "An activation letter was already sent to you. It is valid until %(date)s.",
            date=live.expires_at.date().isoformat(),
        ), None
    code = "-".join(numeric_code(4) for _ in range(3))
    try:
        current_app.extensions["idp.letters"].send(
            citizen=citizen,
            kind="activation",
            body=_(
                "Your activation code is %(code)s. It is valid until %(date)s. Use it with your password at %(url)s "
                "to set up a code by SMS.",
                code=code,
                date=(moment + timedelta(days=days)).date().isoformat(),
                url=current_app.config["IDP"].server.url(url_for("profile.activate")),
            ),
        )
    except NoAddress:
        audit.record("activation.order", outcome="no_address", citizen=citizen)
        return _("We have no postal address for you. Contact user support."), None
    db.session.add(
        ActivationLetter(
            citizen_id=citizen.id,
            code_hash=code_hash(code, purpose=PURPOSE),
            issued_at=moment,
            expires_at=moment + timedelta(days=days),
        )
    )
    audit.record("activation.order", outcome="success", citizen=citizen)
    return None, _("The activation letter is on its way to your registered address.")


@bp.route("/activate", methods=["GET", "POST"])
def activate():
    """Password plus the letter's code: then the citizen may set up a code by SMS."""
    form = ActivationForm()
    error = None
    status = 200
    if form.validate_on_submit():
        pid, citizen = accounts.find_citizen(form.pid.data)
        attempt = accounts.begin_check(pid, event="activation.use", citizen=citizen)
        db.session.commit()
        if not attempt.allowed:
            error = wait_message(attempt.wait_seconds, network=attempt.scope == "network")
            return render_template("profile/activate.html", form=form, error=error), 429
        letter = _live_letter(citizen, form.code.data) if _password_right(citizen, form.password.data) else None
        # Spend the code in one statement: of two requests racing with it, only one gets a grant.
        if letter is not None and _spend(letter):
            accounts.passed(attempt)
            grant = secrets.token_urlsafe(24)
            _store().put(GRANTS, grant, {"citizen_id": citizen.id}, ttl=900)
            # In the signed, HttpOnly session cookie, never in a URL: it lets its holder set up a factor.
            browser_session[GRANTS] = grant
            audit.record("activation.use", outcome="success", citizen=citizen)
            db.session.commit()
            return render_template("profile/activate_phone.html", form=PhoneForm())
        audit.record("activation.use", outcome="failure", citizen=citizen, pid=pid)
        failure = accounts.failed(attempt, citizen=citizen, pid=pid)
        db.session.commit()
        error = (
            _waited(failure)
            if failure.wait_seconds
            else _("The national identity number, the password or the activation code is wrong.")
        )
        status = 429 if failure.wait_seconds else 400
    return render_template("profile/activate.html", form=form, error=error), status


def _live_letter(citizen: Citizen, code: str) -> ActivationLetter | None:
    return next(
        (
            candidate
            for candidate in db.session.scalars(
                sa.select(ActivationLetter).where(
                    ActivationLetter.citizen_id == citizen.id,
                    ActivationLetter.expires_at > now(),
                    ActivationLetter.used_at.is_(None),
                )
            )
            if code_matches(candidate.code_hash, code, purpose=PURPOSE)
        ),
        None,
    )


def _spend(letter: ActivationLetter) -> bool:
    spent = db.session.execute(
        sa.update(ActivationLetter)
        .where(ActivationLetter.id == letter.id, ActivationLetter.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    return spent == 1


def _granted() -> tuple[Citizen | None, str]:
    grant = browser_session.get(GRANTS, "")
    entry = _store().get(GRANTS, grant) if grant else None
    citizen = db.session.get(Citizen, entry["citizen_id"]) if entry else None
    return citizen, grant


def _forget_grant(grant: str) -> None:
    _store().delete(GRANTS, grant)
    browser_session.pop(GRANTS, None)


@bp.route("/activate/phone", methods=["POST"])
def activate_phone():
    citizen, grant = _granted()
    form = PhoneForm()
    sms = _chain().factors.get("sms")
    if citizen is None or sms is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    try:
        number = normalise_phone(form.phone.data or "") if form.validate_on_submit() else ""
    except ValueError:
        number = ""
    if not number:
        return render_template(
            "profile/activate_phone.html", form=form, error=_("That is not a mobile number we can send to.")
        ), 400
    return _send_phone_code(sms, number, key=f"grant:{grant}", confirm_url=url_for("profile.activate_confirm"))


@bp.route("/activate/confirm", methods=["POST"])
def activate_confirm():
    citizen, grant = _granted()
    if citizen is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    done, error = _confirm_phone(citizen, f"grant:{grant}")
    if not done:
        # The letter's code is spent, but the grant lives on for a while: the citizen tries the number again.
        return render_template("profile/activate_phone.html", form=PhoneForm(), error=error), 400
    _forget_grant(grant)
    db.session.commit()
    return render_template("profile/activated.html", title=_("Codes by SMS are turned on"))


@bp.route("/activate/totp", methods=["GET", "POST"])
def activate_totp():
    """The other way back with an activation letter: an authenticator app instead of SMS."""
    citizen, grant = _granted()
    if citizen is None:
        return error_page(_("This activation has expired"), _("Use the activation code again."))
    done, page = _totp_enrolment(citizen, f"totp:grant:{grant}", url_for("profile.activate_totp"), back=False)
    if not done:
        return page
    _forget_grant(grant)
    db.session.commit()
    return render_template("profile/activated.html", title=_("Your authenticator app is set up."))
