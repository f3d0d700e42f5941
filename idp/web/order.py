"""Ordering an account at /order, the way MinID does it now that the PIN letter is gone.

The citizen gives the national identity number, a new password, a mobile number (confirmed
by an SMS code here), optionally an e-mail address, and accepts the terms. The account is made
from the population register's name and address, and an activation letter goes to that
address: until its code is used (/order/activate) the account reaches at most
``ordering.unactivated_level``.

No enumeration: every number with a valid form gets the same pages and the same SMS step.
What differs happens by post: a number with an account gets a letter saying someone tried to
order a new one; a number the register does not know gets nothing (the page says when to
contact support). Every POST redirects to a GET page that shows its outcome.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta

import phonenumbers
import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import BooleanField, PasswordField, StringField

from idp import accounts, audit, ordering
from idp.clock import now
from idp.errors import error_page
from idp.extensions import db
from idp.mfa import password
from idp.mfa.activation import send_letter, spend_letter
from idp.mfa.codes import mask_phone
from idp.mfa.factor import TryLater
from idp.mfa.gateways.letter import NoAddress
from idp.mfa.gateways.sms import GatewayError
from idp.models import Citizen, CitizenStatus
from idp.pid import InvalidPid, parse_pid
from idp.web.new_password import STRENGTH_LABELS, check_new_password
from idp.web.notices import notice, resend_notice, wait_notice
from idp.web.outcome import recall, remember

bp = Blueprint("order", __name__, url_prefix="/order")

ORDERS = "account_order"  # store namespace: an order waiting for its SMS code
ORDER_COOKIE = "order_pending"  # the order's key, in the signed session cookie
ORDERED = "order_received"  # what the receipt page shows: the dates
MAX_PID_CHARS = 20  # 11 digits and some spaces
MAX_PHONE_CHARS = 32
MAX_EMAIL_CHARS = 320  # RFC 5321's path limit
MAX_CODE_CHARS = 32
MAX_LINK_CHARS = 1024


class OrderForm(FlaskForm):
    pid = StringField(
        _l("National identity number (11 digits)"),
        render_kw={"autocomplete": "username", "inputmode": "numeric", "spellcheck": "false"},
    )
    password = PasswordField(_l("Choose a password"), render_kw={"autocomplete": "new-password"})
    repeat = PasswordField(_l("Repeat the password"), render_kw={"autocomplete": "new-password"})
    phone = StringField(_l("Mobile number"), render_kw={"autocomplete": "tel", "inputmode": "tel", "type": "tel"})
    email = StringField(
        _l("E-mail address (optional)"), render_kw={"autocomplete": "email", "type": "email", "spellcheck": "false"}
    )
    terms = BooleanField(_l("I accept the terms of use"))


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from the SMS"),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class ResendForm(FlaskForm):
    pass


class ActivateForm(FlaskForm):
    pid = OrderForm.pid
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "current-password"})
    code = StringField(
        _l("Activation code from the letter"), render_kw={"autocomplete": "one-time-code", "spellcheck": "false"}
    )


def _store():
    return current_app.extensions["idp.store"]


def _config():
    return current_app.config["IDP"]


def _expired_form() -> dict[str, dict]:
    return {"form": notice("expired_form")}


def mobile_number(raw: str) -> str:
    """E.164 of a mobile number (a number without a country code is Norwegian); ValueError if it is not one."""
    if len(raw) > MAX_PHONE_CHARS:
        raise ValueError("too long")
    try:
        number = phonenumbers.parse(raw, "NO")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in kinds:
        raise ValueError("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(raw: str) -> str | None:
    """The address as given, or None when empty; ValueError for what cannot be an address."""
    value = raw.strip()
    if not value:
        return None
    local, at, domain = value.rpartition("@")
    if (
        len(value) > MAX_EMAIL_CHARS
        or not at
        or not local
        or "." not in domain
        or any(char.isspace() or not char.isprintable() for char in value)
    ):
        raise ValueError("not an e-mail address")
    return value


# ---------------------------------------------------------------- the order form
@bp.route("", methods=["GET"])
def start():
    outcome = recall("order")
    form = OrderForm(formdata=None, data=outcome.get("values", {}))
    return render_template(
        "order/start.html",
        form=form,
        errors=outcome.get("errors", {}),
        score=outcome.get("score"),
        labels=STRENGTH_LABELS,
        min_length=_config().passwords.min_length,
    )


@bp.route("", methods=["POST"])
def order():
    form = OrderForm()
    if not form.validate_on_submit():  # no validators: only the CSRF token can fail here
        remember("order", errors=_expired_form())
        return redirect(url_for("order.start"))
    values = {
        "pid": (form.pid.data or "")[:MAX_PID_CHARS],
        "phone": (form.phone.data or "")[:MAX_PHONE_CHARS],
        "email": (form.email.data or "")[:MAX_EMAIL_CHARS],
        "terms": bool(form.terms.data),
    }
    errors: dict[str, dict] = {}
    pid = phone = email = None
    try:
        if len(form.pid.data or "") > MAX_PID_CHARS:
            raise InvalidPid("too long")
        pid = parse_pid(form.pid.data or "", allow_synthetic=_config().citizens.allow_synthetic_pids)
    except InvalidPid:
        errors["pid"] = notice("pid_digits")
    try:
        phone = mobile_number(form.phone.data or "")
    except ValueError:
        errors["phone"] = notice("phone_unreachable")
    try:
        email = _email(form.email.data or "")
    except ValueError:
        errors["email"] = notice("email_invalid")
    personal = [pid or "", (pid or "")[:6], phone or "", (email or "").partition("@")[0]]
    password_errors, score = check_new_password(form.password.data or "", form.repeat.data or "", personal=personal)
    errors.update(password_errors)
    if not form.terms.data:
        errors["terms"] = notice("terms_missing")
    if errors:
        remember("order", errors=errors, values=values, score=score)
        return redirect(url_for("order.start"))
    return _send_first_code(pid, phone, email, form.password.data, values, score)


def _send_first_code(pid: str, phone: str, email: str | None, new_password: str, values: dict, score: int):
    moment = now()
    limits = current_app.extensions["idp.limits"]
    code_wait, _scope = limits.code_send_wait(account=pid, network=request.remote_addr, now=moment)
    if code_wait or not limits.may_order(account=pid, ip=request.remote_addr, now=moment):
        audit.record("order.account", outcome="rate_limited", pid=pid)
        db.session.commit()
        errors = {"form": notice("orders_limited")}
        remember("order", errors=errors, values=values, score=score)
        return redirect(url_for("order.start"))
    order = {
        "pid": pid,
        "phone": phone,
        "email": email,
        # Hashed at once: the chosen password is never kept in the clear, not even for the SMS step.
        "password_hash": password.hash_password(current_app.extensions["idp.hasher"], new_password),
        "sms": {},
    }
    try:
        _sms().send(phone, order["sms"], text=_order_code_text)
    except GatewayError:
        audit.record("order.account", outcome="gateway_error", pid=pid)
        db.session.commit()
        remember("order", errors={"form": notice("send_failed")}, values=values)
        return redirect(url_for("order.start"))
    limits.code_sent(account=pid, network=request.remote_addr, now=moment)
    key = secrets.token_urlsafe(24)
    _store().put(ORDERS, key, order, ttl=_config().session.login_transaction_seconds)
    browser_session[ORDER_COOKIE] = key
    audit.record("order.account", outcome="code_sent", pid=pid)
    db.session.commit()
    return redirect(url_for("order.phone"))


def _order_code_text(code: str) -> str:
    return _("%(code)s is your code to confirm your mobile number when ordering an account.", code=code)


def _sms():
    return current_app.extensions["idp.chain"].factors["sms"]


def _order() -> tuple[str | None, dict | None]:
    key = browser_session.get(ORDER_COOKIE)
    if not isinstance(key, str):
        return None, None
    return key, _store().get(ORDERS, key)


def _order_expired():
    return error_page(
        _("This order has expired"),
        _("The code must be given within a few minutes. Order the account again."),
    )


# ---------------------------------------------------------------- the SMS code
@bp.route("/phone", methods=["GET"])
def phone():
    _key, order = _order()
    if order is None:
        return _order_expired()
    outcome = recall("order.phone")
    return render_template(
        "order/phone.html",
        form=CodeForm(formdata=None),
        resend=ResendForm(formdata=None),
        phone=mask_phone(order["phone"]),
        errors=outcome.get("errors", {}),
        message=outcome.get("message"),
    )


@bp.route("/phone", methods=["POST"])
def confirm_phone():
    key, order = _order()
    form = CodeForm()
    if order is None:
        return _order_expired()
    if not form.validate_on_submit():
        remember("order.phone", errors=_expired_form())
        return redirect(url_for("order.phone"))
    pid = order["pid"]
    attempt = accounts.begin_check(pid, event="order.phone")
    db.session.commit()
    if not attempt.allowed:
        remember("order.phone", errors={"code": wait_notice(attempt.wait_seconds, attempt.scope)})
        return redirect(url_for("order.phone"))
    outcome = _sms().check(order["sms"], (form.code.data or "")[:MAX_CODE_CHARS])
    if not outcome.ok:
        audit.record("order.phone", outcome=outcome.reason, pid=pid)
        failure = accounts.failed(attempt, pid=pid)
        db.session.commit()
        if outcome.restart:
            _forget_order(key)
            remember("order", errors={"form": notice("order_again")})
            return redirect(url_for("order.start"))
        _store().put(ORDERS, key, order, ttl=_config().session.login_transaction_seconds)
        message = wait_notice(failure.wait_seconds, failure.scope) if failure.wait_seconds else notice("sms_code_wrong")
        remember("order.phone", errors={"code": message})
        return redirect(url_for("order.phone"))
    accounts.passed(attempt)
    _forget_order(key)
    _complete(order)
    today = now().date()
    browser_session[ORDERED] = {
        "arrive_by": (today + timedelta(days=_config().ordering.letter_arrival_days)).isoformat(),
        "valid_until": (today + timedelta(days=_config().letters.activation_days)).isoformat(),
    }
    return redirect(url_for("order.ordered"))


def _forget_order(key: str) -> None:
    _store().delete(ORDERS, key)
    browser_session.pop(ORDER_COOKIE, None)


@bp.route("/phone/resend", methods=["POST"])
def resend():
    key, order = _order()
    if order is None:
        return _order_expired()
    if not ResendForm().validate_on_submit():
        remember("order.phone", errors=_expired_form())
        return redirect(url_for("order.phone"))
    limits = current_app.extensions["idp.limits"]
    if limits.code_send_wait(account=order["pid"], network=request.remote_addr, now=now())[0]:
        audit.record("order.code_sent", outcome="rate_limited", pid=order["pid"])
        db.session.commit()
        remember("order.phone", errors={"form": notice("attempts_network")})
        return redirect(url_for("order.phone"))
    try:
        _sms().send(order["phone"], order["sms"], text=_order_code_text)
    except TryLater as wait:
        remember("order.phone", errors={"form": resend_notice(wait.seconds)})
        return redirect(url_for("order.phone"))
    except GatewayError:
        remember("order.phone", errors={"form": notice("send_failed")})
        return redirect(url_for("order.phone"))
    limits.code_sent(account=order["pid"], network=request.remote_addr, now=now())
    _store().put(ORDERS, key, order, ttl=_config().session.login_transaction_seconds)
    audit.record("order.code_sent", outcome="success", pid=order["pid"])
    db.session.commit()
    remember("order.phone", message=notice("code_on_its_way"))
    return redirect(url_for("order.phone"))


def _complete(order: dict) -> None:
    """The phone is confirmed: make the account and post its letter, or tell the account that exists."""
    pid = order["pid"]
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=pid))
    person = current_app.extensions["idp.population"].find(pid)
    if citizen is not None and citizen.status != CitizenStatus.expired:
        _tell_existing_account(citizen)
    elif person is None:
        audit.record("order.account", outcome="not_in_register", pid=pid)
    else:
        citizen = ordering.open_account(
            person, password_hash=order["password_hash"], phone=order["phone"], email=order["email"], expired=citizen
        )
        try:
            send_letter(citizen, body=_activation_letter_text)
            audit.record("order.account", outcome="success", citizen=citizen)
        except NoAddress:  # the register holds an address for everyone it has; kept for a register that does not
            audit.record("order.account", outcome="no_address", citizen=citizen)
        db.session.commit()
        if citizen.email:
            _send_email_link(citizen)
    db.session.commit()


# ---------------------------------------------------------------- e-mail confirmation
def _links() -> URLSafeSerializer:
    return URLSafeSerializer(
        current_app.secret_key, salt="idp.email-confirm", signer_kwargs={"digest_method": hashlib.sha256}
    )


def _send_email_link(citizen: Citizen) -> None:
    """A link that confirms the address; it names the account and the address, and expires on the app's clock."""
    expires = now() + timedelta(hours=_config().email.confirm_hours)
    token = _links().dumps({"citizen": citizen.id, "email": citizen.email, "expires": int(expires.timestamp())})
    text = _(
        "Someone, probably you, gave this e-mail address when ordering an account. To confirm it, open %(url)s "
        "before %(date)s. If it was not you, ignore this message.",
        url=_config().server.url(url_for("order.email", token=token)),
        date=format_date(expires.date(), "long"),
    )
    try:
        current_app.extensions["idp.email"].send(to=citizen.email, subject=_("Confirm your e-mail address"), text=text)
        audit.record("order.email_sent", outcome="success", citizen=citizen)
    except GatewayError:
        audit.record("order.email_sent", outcome="gateway_error", citizen=citizen)


def _linked_citizen(token: str) -> Citizen | None:
    """The account a confirmation link is for, while the link is valid and the address is still the account's."""
    if len(token) > MAX_LINK_CHARS:
        return None
    try:
        value = _links().loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("citizen"), int)
        or not isinstance(value.get("expires"), int)
    ):
        return None
    if value["expires"] <= now().timestamp():
        return None
    citizen = db.session.get(Citizen, value["citizen"])
    if citizen is None or citizen.email != value.get("email") or citizen.status != CitizenStatus.active:
        return None
    return citizen


def _link_invalid():
    return error_page(
        _("This link is no longer valid"),
        _("It may have expired, or the account's e-mail address was changed since."),
    )


@bp.route("/email/<token>", methods=["GET"])
def email(token: str):
    """The link's page: a button, so a mail scanner that opens links confirms nothing."""
    citizen = _linked_citizen(token)
    if citizen is None:
        return _link_invalid()
    return render_template("order/email.html", form=ResendForm(formdata=None), token=token, email=citizen.email)


@bp.route("/email/<token>", methods=["POST"])
def confirm_email(token: str):
    citizen = _linked_citizen(token)
    if citizen is None or not ResendForm().validate_on_submit():
        return _link_invalid()
    citizen.email_verified = True
    audit.record("order.email", outcome="success", citizen=citizen)
    db.session.commit()
    return redirect(url_for("order.email_confirmed"))


@bp.route("/email/confirmed", methods=["GET"])
def email_confirmed():
    return render_template("order/email_confirmed.html")


def _activation_letter_text(code: str, valid_until: date) -> str:
    closes = now().date() + timedelta(days=_config().ordering.expire_days)
    return _(
        "Your account has been ordered. Your activation code is %(code)s. It is valid until %(date)s.\n\n"
        "To activate the account, go to %(url)s and give your national identity number, your password and this "
        "code. Until then you can log in only to services that ask for the lowest level of security.\n\n"
        "If you did not order an account, contact user support. An account that is not activated closes by "
        "itself on %(closes)s.",
        code=code,
        date=format_date(valid_until, "long"),
        url=_config().server.url(url_for("order.activate")),
        closes=format_date(closes, "long"),
    )


def _tell_existing_account(citizen: Citizen) -> None:
    """Someone ordered an account for a number that has one: the owner hears of it by post, the orderer does not."""
    body = _(
        "On %(date)s someone ordered a new account for your national identity number. You already have an account, "
        "so no new account was made.\n\nIf it was you and you have forgotten your password, go to %(url)s. "
        "If it was not you, you need not do anything, but contact user support if it happens again.",
        date=format_date(now().date(), "long"),
        url=_config().server.url(url_for("forgot.start")),
    )
    try:
        current_app.extensions["idp.letters"].send(citizen=citizen, kind="order-attempt", body=body)
        audit.record("order.account", outcome="account_exists", citizen=citizen)
    except NoAddress:
        audit.record("order.account", outcome="account_exists_no_address", citizen=citizen)


@bp.route("/ordered", methods=["GET"])
def ordered():
    dates = browser_session.get(ORDERED)
    if not isinstance(dates, dict):
        return redirect(url_for("order.start"))
    return render_template(
        "order/ordered.html",
        arrive_by=format_date(date.fromisoformat(dates["arrive_by"]), "long"),
        valid_until=format_date(date.fromisoformat(dates["valid_until"]), "long"),
    )


# ---------------------------------------------------------------- activation
@bp.route("/activate", methods=["GET"])
def activate():
    outcome = recall("order.activate")
    form = ActivateForm(formdata=None, data=outcome.get("values", {}))
    return render_template("order/activate.html", form=form, errors=outcome.get("errors", {}))


@bp.route("/activate", methods=["POST"])
def use_letter():
    form = ActivateForm()
    if not form.validate_on_submit():
        remember("order.activate", errors=_expired_form())
        return redirect(url_for("order.activate"))
    raw_pid = (form.pid.data or "")[:MAX_PID_CHARS]
    values = {"pid": raw_pid}
    pid, citizen = accounts.find_citizen(raw_pid)
    if pid is None:
        remember(
            "order.activate",
            errors={"pid": notice("pid_digits")},
            values=values,
        )
        return redirect(url_for("order.activate"))
    attempt = accounts.begin_check(pid, event="order.activate", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        remember(
            "order.activate",
            errors={"form": wait_notice(attempt.wait_seconds, attempt.scope)},
            values=values,
        )
        return redirect(url_for("order.activate"))
    hasher = current_app.extensions["idp.hasher"]
    right = password.verify_password(hasher, citizen.password_hash if citizen else None, form.password.data or "")
    usable = right and citizen is not None and citizen.status == CitizenStatus.active
    if usable and citizen.activated:
        accounts.passed(attempt)
        db.session.commit()
        return redirect(url_for("order.activated"))
    if usable and spend_letter(citizen, (form.code.data or "")[:MAX_CODE_CHARS]):
        accounts.passed(attempt)
        ordering.activate(citizen, by="letter")
        audit.record("order.activate", outcome="success", citizen=citizen)
        db.session.commit()
        return redirect(url_for("order.activated"))
    audit.record("order.activate", outcome="failure", citizen=citizen, pid=pid)
    failure = accounts.failed(attempt, citizen=citizen, pid=pid)
    db.session.commit()
    message = wait_notice(failure.wait_seconds, failure.scope) if failure.wait_seconds else notice("wrong_activation")
    remember("order.activate", errors={"form": message}, values=values)
    return redirect(url_for("order.activate"))


@bp.route("/activated", methods=["GET"])
def activated():
    return render_template("order/activated.html")


@bp.route("/terms", methods=["GET"])
def terms():
    return render_template("order/terms.html")
