"""A forgotten password at /forgot: prove it is you another way, then choose a new password.

With a second factor the citizen still has (a code by SMS to the registered phone, a code
from the authenticator app) the proof takes a minute; without one, an activation letter to the
registered address (ordered here, without logging in) brings a code to use with the new
password. A new password ends every session of the account and a notice goes to its phone.

No enumeration: every valid number meets the same pages and choices. An SMS goes out only to
a phone the account has, a letter only to an account's address, but the page says the same
either way, and a code for a number without an account (or without that factor) is simply wrong.
Every check of a code goes through the one throttle, per account and per network.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask import session as browser_session
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField

from idp import accounts, audit, ordering
from idp.clock import now
from idp.errors import error_page
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa import password
from idp.mfa.activation import live_letter, send_letter, spend_letter
from idp.mfa.factor import Outcome, TryLater
from idp.mfa.gateways.letter import NoAddress
from idp.mfa.gateways.sms import GatewayError
from idp.models import Citizen, CitizenStatus, LoginSession
from idp.oidc.logout import logout
from idp.web.new_password import STRENGTH_LABELS, check_new_password
from idp.web.notices import notice, resend_notice, wait_notice
from idp.web.order import MAX_CODE_CHARS, MAX_PID_CHARS, OrderForm
from idp.web.outcome import recall, remember

bp = Blueprint("forgot", __name__, url_prefix="/forgot")

RESETS = "password_reset"  # store namespace: one citizen's way back, from the number to the new password
RESET_COOKIE = "password_reset"  # its key, in the signed session cookie
LETTER_SENT = "reset_letter"  # what the letter page shows: when it should arrive
METHODS = ("sms", "totp", "letter")


class NumberForm(FlaskForm):
    pid = OrderForm.pid


class MethodForm(FlaskForm):
    method = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code"), render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), render_kw={"autocomplete": "new-password"})
    repeat = OrderForm.repeat


class LetterForm(FlaskForm):
    pid = OrderForm.pid
    code = StringField(
        _l("Activation code from the letter"), render_kw={"autocomplete": "one-time-code", "spellcheck": "false"}
    )
    password = NewPasswordForm.password
    repeat = OrderForm.repeat


def _store():
    return current_app.extensions["idp.store"]


def _config():
    return current_app.config["IDP"]


def _factors():
    return current_app.extensions["idp.chain"].factors


def _expired_form() -> dict[str, dict]:
    return {"form": notice("expired_form")}


def _number(raw: str) -> tuple[str | None, Citizen | None]:
    """The number as parsed and its account when that account may log in at all."""
    if len(raw) > MAX_PID_CHARS:
        return None, None
    pid, citizen = accounts.find_citizen(raw)
    return pid, citizen if citizen is not None and citizen.status == CitizenStatus.active else None


def _reset() -> tuple[str | None, dict | None]:
    key = browser_session.get(RESET_COOKIE)
    if not isinstance(key, str):
        return None, None
    return key, _store().get(RESETS, key)


def _save(key: str, reset: dict) -> None:
    _store().put(RESETS, key, reset, ttl=_config().session.login_transaction_seconds)


def _forget(key: str) -> None:
    _store().delete(RESETS, key)
    browser_session.pop(RESET_COOKIE, None)


def _reset_expired():
    return error_page(_("This has expired"), _("Start again from the page for a forgotten password."))


# ---------------------------------------------------------------- the number
@bp.route("", methods=["GET"])
def start():
    outcome = recall("forgot")
    form = NumberForm(formdata=None, data=outcome.get("values", {}))
    return render_template("forgot/start.html", form=form, errors=outcome.get("errors", {}))


@bp.route("", methods=["POST"])
def give_number():
    form = NumberForm()
    if not form.validate_on_submit():
        remember("forgot", errors=_expired_form())
        return redirect(url_for("forgot.start"))
    pid, _citizen = _number(form.pid.data or "")
    if pid is None:
        remember(
            "forgot",
            errors={"pid": notice("pid_digits")},
            values={"pid": (form.pid.data or "")[:MAX_PID_CHARS]},
        )
        return redirect(url_for("forgot.start"))
    key = secrets.token_urlsafe(24)
    _save(key, {"pid": pid, "method": None, "state": {}, "proven": False})
    browser_session[RESET_COOKIE] = key
    return redirect(url_for("forgot.method"))


# ---------------------------------------------------------------- the way to prove it
@bp.route("/method", methods=["GET"])
def method():
    _key, reset = _reset()
    if reset is None:
        return _reset_expired()
    outcome = recall("forgot.method")
    return render_template(
        "forgot/method.html",
        form=MethodForm(formdata=None),
        totp="totp" in _factors(),
        errors=outcome.get("errors", {}),
    )


@bp.route("/method", methods=["POST"])
def choose_method():
    key, reset = _reset()
    form = MethodForm()
    if reset is None:
        return _reset_expired()
    chosen = form.method.data if form.validate_on_submit() else None
    if chosen not in METHODS or (chosen == "totp" and "totp" not in _factors()):
        remember("forgot.method", errors={"form": notice("choose_way")})
        return redirect(url_for("forgot.method"))
    pid = reset["pid"]
    _pid, citizen = _number(pid)
    if chosen == "letter":
        return _order_letter(key, pid, citizen)
    if chosen == "sms":
        refused = _send_sms(reset, citizen)
        if refused:
            remember("forgot.method", errors={"form": refused})
            return redirect(url_for("forgot.method"))
    reset.update(method=chosen, proven=False)
    _save(key, reset)
    db.session.commit()
    return redirect(url_for("forgot.code"))


def _send_sms(reset: dict, citizen: Citizen | None) -> dict | None:
    """Send a code to the account's registered phone, if it has one; the notice that refuses, or None."""
    limits = current_app.extensions["idp.limits"]
    if limits.code_send_wait(account=reset["pid"], network=request.remote_addr, now=now())[0]:
        audit.record("forgot.code_sent", outcome="rate_limited", citizen=citizen, pid=reset["pid"])
        db.session.commit()
        return notice("attempts_network")
    row = rows.enrolment(citizen, "sms") if citizen is not None and "sms" in _factors() else None
    if row is None or not row.phone:
        # Nothing goes out, and the page says what it says to everyone: no number is told apart.
        audit.record("forgot.code_sent", outcome="no_factor", citizen=citizen, pid=reset["pid"])
        return None
    try:
        _factors()["sms"].send(row.phone, reset["state"], text=_reset_code_text)
    except TryLater as wait:
        return resend_notice(wait.seconds)
    except GatewayError:
        return notice("send_failed")
    limits.code_sent(account=reset["pid"], network=request.remote_addr, now=now())
    audit.record("forgot.code_sent", outcome="success", citizen=citizen)
    return None


def _reset_code_text(code: str) -> str:
    return _("%(code)s is your code for choosing a new password. If you did not ask for it, ignore it.", code=code)


# ---------------------------------------------------------------- the code
@bp.route("/code", methods=["GET"])
def code():
    _key, reset = _reset()
    if reset is None or reset.get("method") not in ("sms", "totp"):
        return _reset_expired()
    outcome = recall("forgot.code")
    return render_template(
        "forgot/code.html", form=CodeForm(formdata=None), method=reset["method"], errors=outcome.get("errors", {})
    )


@bp.route("/code", methods=["POST"])
def check_code():
    key, reset = _reset()
    form = CodeForm()
    if reset is None or reset.get("method") not in ("sms", "totp"):
        return _reset_expired()
    if not form.validate_on_submit():
        remember("forgot.code", errors=_expired_form())
        return redirect(url_for("forgot.code"))
    pid = reset["pid"]
    _pid, citizen = _number(pid)
    attempt = accounts.begin_check(pid, event="forgot.code", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        remember("forgot.code", errors={"code": wait_notice(attempt.wait_seconds, attempt.scope)})
        return redirect(url_for("forgot.code"))
    outcome = _verify(reset, citizen, (form.code.data or "")[:MAX_CODE_CHARS])
    audit.record("forgot.code", outcome="success" if outcome.ok else outcome.reason, citizen=citizen, pid=pid)
    if outcome.ok:
        accounts.passed(attempt)
        reset["proven"] = True
        _save(key, reset)
        db.session.commit()
        return redirect(url_for("forgot.new_password"))
    failure = accounts.failed(attempt, citizen=citizen, pid=pid)
    db.session.commit()
    if outcome.restart:
        reset["method"] = None
        _save(key, reset)
        remember("forgot.method", errors={"form": notice("choose_again")})
        return redirect(url_for("forgot.method"))
    _save(key, reset)
    message = wait_notice(failure.wait_seconds, failure.scope) if failure.wait_seconds else notice("code_wrong_again")
    remember("forgot.code", errors={"code": message})
    return redirect(url_for("forgot.code"))


def _verify(reset: dict, citizen: Citizen | None, given: str) -> Outcome:
    """The chosen factor's verdict; a number without an account, or without that factor, gets 'wrong'."""
    factor = _factors().get(reset["method"])
    if citizen is None or factor is None or not factor.enrolled(citizen):
        return Outcome(False, "wrong")
    policy = current_app.extensions["idp.policy"]
    if factor.name not in policy.rules or not policy.rules[factor.name].accepted(now()):
        return Outcome(False, "phased_out")
    return factor.verify(citizen, reset["state"], {"code": given})


# ---------------------------------------------------------------- the new password
@bp.route("/password", methods=["GET"])
def new_password():
    _key, reset = _reset()
    if reset is None or not reset.get("proven"):
        return _reset_expired()
    outcome = recall("forgot.password")
    return render_template(
        "forgot/password.html",
        form=NewPasswordForm(formdata=None),
        errors=outcome.get("errors", {}),
        score=outcome.get("score"),
        labels=STRENGTH_LABELS,
        min_length=_config().passwords.min_length,
    )


@bp.route("/password", methods=["POST"])
def set_password():
    key, reset = _reset()
    form = NewPasswordForm()
    if reset is None or not reset.get("proven"):
        return _reset_expired()
    if not form.validate_on_submit():
        remember("forgot.password", errors=_expired_form())
        return redirect(url_for("forgot.new_password"))
    _pid, citizen = _number(reset["pid"])
    if citizen is None:  # closed or locked since the code was checked
        _forget(key)
        return _reset_expired()
    errors, score = check_new_password(form.password.data or "", form.repeat.data or "", personal=_personal(citizen))
    if errors:
        remember("forgot.password", errors=errors, score=score)
        return redirect(url_for("forgot.new_password"))
    _forget(key)
    _replace_password(citizen, form.password.data, by=reset["method"])
    return redirect(url_for("forgot.done"))


def _personal(citizen: Citizen) -> list[str]:
    return [citizen.pid, citizen.pid[:6], citizen.given_name, citizen.family_name, citizen.phone or ""]


def _replace_password(citizen: Citizen, new: str, *, by: str) -> None:
    """The new password; every session of the account ends and its phone hears of it."""
    citizen.password_hash = password.hash_password(current_app.extensions["idp.hasher"], new)
    live = db.session.scalars(
        sa.select(LoginSession).where(LoginSession.citizen_id == citizen.id, LoginSession.ended_at.is_(None))
    ).all()
    for session in live:
        logout(session)  # its relying parties get back-channel logout tokens, its online tokens stop working
        session.ended_at = now()
    audit.record("forgot.password", outcome="success", citizen=citizen, by=by, sessions_ended=len(live))
    db.session.commit()
    _notify_phone(citizen)


def _notify_phone(citizen: Citizen) -> None:
    sms = _factors().get("sms")
    row = rows.enrolment(citizen, "sms")
    phone = row.phone if row is not None and row.phone else citizen.phone
    if sms is None or not phone:
        return
    text = _(
        "The password of your account was changed on %(date)s. If it was not you, contact user support at once.",
        date=format_date(now().date(), "long"),
    )
    try:
        sms.gateway.send(to=phone, text=text)
        outcome = "success"
    except GatewayError:
        outcome = "gateway_error"
    audit.record("forgot.notice", outcome=outcome, citizen=citizen)
    db.session.commit()


@bp.route("/done", methods=["GET"])
def done():
    return render_template("forgot/done.html")


# ---------------------------------------------------------------- the letter
def _order_letter(key: str, pid: str, citizen: Citizen | None):
    if not current_app.extensions["idp.limits"].may_order(account=pid, ip=request.remote_addr, now=now()):
        audit.record("forgot.letter", outcome="rate_limited", citizen=citizen, pid=pid)
        db.session.commit()
        remember(
            "forgot.method",
            errors={"form": notice("orders_limited")},
        )
        return redirect(url_for("forgot.method"))
    if citizen is None:
        audit.record("forgot.letter", outcome="no_account", pid=pid)
    elif live_letter(citizen) is not None:
        audit.record("forgot.letter", outcome="already_ordered", citizen=citizen)
    else:
        try:
            send_letter(citizen, body=_reset_letter_text)
            audit.record("forgot.letter", outcome="success", citizen=citizen)
        except NoAddress:
            audit.record("forgot.letter", outcome="no_address", citizen=citizen)
    db.session.commit()
    _forget(key)
    browser_session[LETTER_SENT] = (now().date() + timedelta(days=_config().ordering.letter_arrival_days)).isoformat()
    return redirect(url_for("forgot.letter_ordered"))


def _reset_letter_text(code: str, valid_until: date) -> str:
    return _(
        "You asked for a new password. Your activation code is %(code)s. It is valid until %(date)s.\n\n"
        "Go to %(url)s and give your national identity number, this code and the new password you choose.\n\n"
        "If you did not ask for it, you need not do anything: your password stays as it is.",
        code=code,
        date=format_date(valid_until, "long"),
        url=_config().server.url(url_for("forgot.use_letter")),
    )


@bp.route("/letter", methods=["GET"])
def letter_ordered():
    arrive_by = browser_session.get(LETTER_SENT)
    if not isinstance(arrive_by, str):
        return redirect(url_for("forgot.start"))
    return render_template("forgot/letter.html", arrive_by=format_date(date.fromisoformat(arrive_by), "long"))


@bp.route("/letter/use", methods=["GET"])
def use_letter():
    outcome = recall("forgot.letter")
    form = LetterForm(formdata=None, data=outcome.get("values", {}))
    return render_template(
        "forgot/use_letter.html",
        form=form,
        errors=outcome.get("errors", {}),
        score=outcome.get("score"),
        labels=STRENGTH_LABELS,
        min_length=_config().passwords.min_length,
    )


@bp.route("/letter/use", methods=["POST"])
def spend():
    form = LetterForm()
    if not form.validate_on_submit():
        remember("forgot.letter", errors=_expired_form())
        return redirect(url_for("forgot.use_letter"))
    values = {"pid": (form.pid.data or "")[:MAX_PID_CHARS]}
    pid, citizen = _number(form.pid.data or "")
    if pid is None:
        errors = {"pid": notice("pid_digits")}
        remember("forgot.letter", errors=errors, values=values)
        return redirect(url_for("forgot.use_letter"))
    # The password's rules first: a mistake there must not use up the letter.
    errors, score = check_new_password(
        form.password.data or "",
        form.repeat.data or "",
        personal=[pid, pid[:6]] + (_personal(citizen) if citizen else []),
    )
    if errors:
        remember("forgot.letter", errors=errors, values=values, score=score)
        return redirect(url_for("forgot.use_letter"))
    attempt = accounts.begin_check(pid, event="forgot.letter_use", citizen=citizen)
    db.session.commit()
    if not attempt.allowed:
        errors = {"form": wait_notice(attempt.wait_seconds, attempt.scope)}
        remember("forgot.letter", errors=errors, values=values)
        return redirect(url_for("forgot.use_letter"))
    if citizen is not None and spend_letter(citizen, (form.code.data or "")[:MAX_CODE_CHARS]):
        accounts.passed(attempt)
        # The letter went to the account's address: that proves as much as the ordering letter does.
        ordering.activate(citizen, by="reset_letter")
        _replace_password(citizen, form.password.data, by="letter")
        return redirect(url_for("forgot.done"))
    audit.record("forgot.letter_use", outcome="failure", citizen=citizen, pid=pid)
    failure = accounts.failed(attempt, citizen=citizen, pid=pid)
    db.session.commit()
    message = wait_notice(failure.wait_seconds, failure.scope) if failure.wait_seconds else notice("wrong_letter_code")
    remember("forgot.letter", errors={"code": message}, values=values)
    return redirect(url_for("forgot.use_letter"))
