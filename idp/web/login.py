"""The hosted login: password, then the second factor the chain asks for, then back to the service.

Pages render and collect; the chain and the policy decide. Every attempt is
audited and counted against the account's and the IP's limits.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from idp import accounts, audit, transactions
from idp.clock import now
from idp.errors import error_page, login_expired_page, wait_message
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa import password
from idp.mfa.chain import Chain, Next
from idp.mfa.factor import Factor, TryLater
from idp.mfa.gateways.sms import GatewayError
from idp.models import Citizen, CitizenStatus
from idp.policy.limits import Attempt
from idp.policy.requirement import SessionFacts, can_step_up
from idp.sessions import current_session, start_session
from idp.transactions import LoginTransaction
from idp.web.forms import CancelForm, ChooseForm, LoginForm

bp = Blueprint("login", __name__, url_prefix="/login")


def _chain() -> Chain:
    return current_app.extensions["idp.chain"]


def _limits():
    return current_app.extensions["idp.limits"]


def _store():
    return current_app.extensions["idp.store"]


def _cancel_url(tx: LoginTransaction) -> str:
    # A login for our own profile pages has no relying party to send access_denied to.
    return url_for("profile.cancel") if tx.step.get("return_to") else url_for("oidc.cancel")


def render(template: str, tx: LoginTransaction, status: int = 200, **values):
    return render_template(template, tx=tx, cancel=CancelForm(tx=tx.id), cancel_url=_cancel_url(tx), **values), status


@bp.route("", methods=["GET", "POST"])
def start():
    tx = transactions.load(request.args.get("tx") or request.form.get("tx") or "")
    if tx is None:
        return login_expired_page()
    # Before the form exists: Flask-WTF fixes the request's locale when it is built.
    g.ui_locales = tx.params.get("ui_locales")
    form = LoginForm()
    form.tx.data = tx.id
    if request.method == "GET":
        # The hint is a national identity number: it fills in the form once and is not kept in
        # the transaction, which the shared store holds for the rest of the login.
        hint = tx.params.pop("login_hint", None)
        session = current_session()
        if session is not None and can_step_up(
            requirement=tx.requirement, session=SessionFacts(acr=session.acr, auth_time=session.auth_time), now=now()
        ):
            # Step-up: the password was given in this session; only a stronger second factor is missing.
            tx.step = {**tx.step, "citizen_id": session.citizen_id, "step_up": True}
            transactions.save(tx)
            return redirect(url_for("login.step", tx=tx.id))
        if hint is not None:
            transactions.save(tx)
            if hint.isascii() and hint.isdigit():
                form.pid.data = hint
    error = None
    if form.validate_on_submit():
        pid, citizen = accounts.find_citizen(form.pid.data)
        # Checked, claimed and committed before Argon2id runs: the claim must hold whatever follows,
        # and the hash must not run inside a write transaction (on SQLite that holds up every writer).
        attempt = accounts.begin_check(pid, event="login.password", citizen=citizen, client_id=tx.client_id)
        db.session.commit()
        if not attempt.allowed:
            return _wait_page(attempt.wait_seconds, attempt.scope)(tx)
        with _store().deferred():
            citizen, refusal = _verify(pid, citizen, form.password.data, attempt, client_id=tx.client_id)
            if refusal is not None:
                db.session.commit()
                return refusal(tx)
            if citizen is not None:
                tx.step = {**tx.step, "citizen_id": citizen.id, "step_up": False}
                following = _chain().next(citizen, tx.requirement, tx.step, now())
                if following.kind == "done":
                    return _finish(tx, citizen, following, used=[])
                transactions.save(tx)
                db.session.commit()
                return redirect(url_for("login.step", tx=tx.id))
            db.session.commit()
        error = _("The national identity number or the password is wrong.")
    status = 400 if request.method == "POST" else 200
    return render("login.html", tx, status, form=form, error=error)


def _verify(pid: str | None, citizen: Citizen | None, given_password: str, attempt: Attempt, *, client_id: str):
    """(citizen, None) when the password is right; (None, page) when the account may not go on; (None, None) if wrong.

    A number nobody has goes the same way as a wrong password, hash and counts included, so
    neither the pages nor their timing tell which numbers have an account.
    """
    hasher = current_app.extensions["idp.hasher"]
    ok = password.verify_password(hasher, citizen.password_hash if citizen else None, given_password)
    if citizen is None:
        audit.record("login.password", outcome="unknown_user", pid=pid, client_id=client_id)
        return None, _failed(attempt, None, pid, client_id)
    if not ok:
        audit.record("login.password", outcome="failure", citizen=citizen, client_id=client_id)
        return None, _failed(attempt, citizen, pid, client_id)
    if citizen.status == CitizenStatus.locked:
        # Told only after the right password, so the page does not reveal locks to strangers.
        accounts.passed(attempt)
        audit.record("login.password", outcome="locked", citizen=citizen, client_id=client_id)
        return None, lambda tx: render("login/locked.html", tx, 403)
    if citizen.status != CitizenStatus.active:
        # Answered, and counted, as a wrong password.
        audit.record("login.password", outcome=citizen.status.value, citizen=citizen, client_id=client_id)
        return None, _failed(attempt, citizen, pid, client_id)
    accounts.passed(attempt)
    if password.needs_rehash(hasher, citizen.password_hash):
        citizen.password_hash = password.hash_password(hasher, given_password)
    audit.record("login.password", outcome="success", citizen=citizen, client_id=client_id)
    return citizen, None


def _wait_page(seconds: int, scope: str):
    message = wait_message(seconds, network=scope == "network")
    # A known device is counted on its own: strangers' failures elsewhere do not hold it back.
    hint = scope in ("account", "account_network")
    return lambda tx: render("login/wait.html", tx, 429, message=message, known_device_hint=hint)


def _failed(attempt: Attempt, citizen: Citizen | None, pid: str | None, client_id: str):
    """Count a wrong secret; the wait page when the next attempt must now wait, else None."""
    failure = accounts.failed(attempt, citizen=citizen, pid=pid, client_id=client_id)
    return _wait_page(failure.wait_seconds, failure.scope) if failure.wait_seconds else None


def _load_step() -> tuple[LoginTransaction | None, Citizen | None]:
    tx = transactions.load(request.values.get("tx", ""))
    if tx is not None:
        g.ui_locales = tx.params.get("ui_locales")
    citizen_id = tx.step.get("citizen_id") if tx else None
    citizen = db.session.get(Citizen, citizen_id) if citizen_id else None
    if citizen is None or citizen.status != CitizenStatus.active:
        return None, None
    return tx, citizen


@bp.route("/step", methods=["GET", "POST"])
def step():
    """The second factor: show its page (starting it when needed) and verify the answer."""
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    policy = current_app.extensions["idp.policy"]
    pending = _chain().factors.get(tx.step.get("factor") or "")
    if request.method == "POST" and pending is not None and not policy.rules[pending.name].accepted(now()):
        # The page was opened before the cutoff: the answer is refused whether right or not.
        return _phased_out(tx, citizen, pending)
    following = _chain().next(citizen, tx.requirement, tx.step, now())
    if following.kind == "done":
        return _finish(tx, citizen, following, used=[])
    if following.kind == "unmet":
        return _unmet(tx, citizen, following)
    if following.kind == "choose":
        transactions.save(tx)
        return render("login/choose.html", tx, options=following.options, form=ChooseForm(tx=tx.id))
    factor = following.factor
    form = factor.form_class(tx=tx.id)
    error = None
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        attempt = accounts.begin_check(
            citizen.pid, event="login.factor", citizen=citizen, client_id=tx.client_id, factor=factor.name
        )
        db.session.commit()
        if not attempt.allowed:
            return _wait_page(attempt.wait_seconds, attempt.scope)(tx)
        # The answer, its audit event, the counters and the transaction's state commit together.
        with _store().deferred():
            outcome = _chain().verify(citizen, factor, tx.step, request.form, now())
            audit.record(
                "login.factor",
                outcome="success" if outcome.ok else outcome.reason,
                citizen=citizen,
                client_id=tx.client_id,
                factor=factor.name,
            )
            if outcome.ok or outcome.reason == "phased_out":
                accounts.passed(attempt)
            if outcome.ok:
                return _finish(tx, citizen, following, used=[factor.name])
            if outcome.reason == "phased_out":
                return _phased_out(tx, citizen, factor)
            refusal = _failed(attempt, citizen, citizen.pid, tx.client_id)
            transactions.save(tx)
            db.session.commit()
        if refusal is not None:
            return refusal(tx)
        error = {
            "wrong": _("The code is wrong. Check it and try again."),
            "expired": _("The code has expired. Ask for a new one."),
            "exhausted": _("Too many wrong codes. Ask for a new one."),
            "replay": _("That code has already been used."),
        }[outcome.reason]
        form.code.data = ""
        status = 400
        if outcome.restart and factor.sends_code:
            # A new code is sent only when the citizen asks for it: no surprise messages, no pumping.
            return _factor_page(tx, factor, following, form, tx.step.get("last_challenge") or {}, error, status)
    elif request.method == "POST":
        status = 400
    starting = tx.step.get("factor") != factor.name or tx.step.get("challenge") is None
    if factor.sends_code and starting and not _limits().may_send_code(request.remote_addr, now()):
        return _code_not_sent("rate_limited", tx, citizen, factor)
    try:
        values = _chain().challenge(citizen, factor, tx.step, service=tx.client_name)
    except TryLater as wait:
        values, error = (
            tx.step.get("challenge") or tx.step.get("last_challenge") or {},
            _("Wait %(seconds)s seconds before asking for a new code.", seconds=wait.seconds),
        )
    except GatewayError:
        return _code_not_sent("gateway_error", tx, citizen, factor)
    else:
        if factor.sends_code and starting:
            audit.record(
                "login.code_sent", outcome="success", citizen=citizen, client_id=tx.client_id, factor=factor.name
            )
    tx.step["last_challenge"] = values
    transactions.save(tx)
    db.session.commit()
    return _factor_page(tx, factor, following, form, values, error, status)


def _factor_page(tx: LoginTransaction, factor, following: Next, form, values: dict, error: str | None, status: int):
    notice = current_app.extensions["idp.policy"].phase_out_notice(factor.name, now())
    return render(
        factor.template,
        tx,
        status,
        factor=factor,
        form=form,
        values=values,
        error=error,
        notice=notice,
        others=[f for f in following.options if f.name != factor.name],
        choose=ChooseForm(tx=tx.id),
    )


@bp.route("/choose", methods=["POST"])
def choose():
    tx, citizen = _load_step()
    form = ChooseForm()
    if tx is None or not form.validate_on_submit():
        return login_expired_page()
    if form.factor.data not in {f.name for f in _chain().options(citizen, tx.requirement, now())}:
        return error_page(_("That way of logging in is not available"), _("Choose another one."))
    _chain().choose(tx.step, form.factor.data)
    transactions.save(tx)
    return redirect(url_for("login.step", tx=tx.id))


def _code_not_sent(outcome: str, tx: LoginTransaction, citizen: Citizen, factor: Factor):
    """A code the citizen asked for and did not get: audited (so counted in the metrics), then explained."""
    audit.record("login.code_sent", outcome=outcome, citizen=citizen, client_id=tx.client_id, factor=factor.name)
    db.session.commit()
    if outcome == "rate_limited":
        return render("login/too_many.html", tx, 429)
    return render("login/send_failed.html", tx, 503)


@bp.route("/resend", methods=["POST"])
def resend():
    """A new code on request, throttled by the factor and limited per IP."""
    tx, citizen = _load_step()
    form = CancelForm()
    if tx is None or not form.validate_on_submit():
        return login_expired_page()
    following = _chain().next(citizen, tx.requirement, tx.step, now())
    if following.kind != "factor" or not following.factor.sends_code:
        return redirect(url_for("login.step", tx=tx.id))
    if not _limits().may_send_code(request.remote_addr, now()):
        return _code_not_sent("rate_limited", tx, citizen, following.factor)
    try:
        _chain().challenge(citizen, following.factor, tx.step, service=tx.client_name, again=True)
    except TryLater as wait:
        return render("login/too_many.html", tx, 429, seconds=wait.seconds)
    except GatewayError:
        return _code_not_sent("gateway_error", tx, citizen, following.factor)
    audit.record(
        "login.code_sent", outcome="success", citizen=citizen, client_id=tx.client_id, factor=following.factor.name
    )
    transactions.save(tx)
    db.session.commit()
    return redirect(url_for("login.step", tx=tx.id))


def _finish(tx: LoginTransaction, citizen: Citizen, following: Next, *, used: list[str]):
    acr, amr = _chain().result(citizen, used) if used else (following.acr, following.amr)
    target = tx.step.get("return_to") or url_for("oidc.resume", tx=tx.id)
    response = redirect(target)
    # One commit: the session, the transaction that now names it, the reset counters and the audit event.
    with _store().deferred():
        session = start_session(citizen=citizen, acr=acr, amr=amr, response=response)
        for row in rows.enrolments(citizen):
            if row.name in used:
                row.last_used_at = now()
        audit.record("login.complete", outcome="success", citizen=citizen, client_id=tx.client_id, acr=acr, amr=amr)
        accounts.login_completed(citizen, response)
        tx.sid = session.sid
        tx.step = {key: value for key, value in tx.step.items() if key in ("citizen_id", "return_to")}
        transactions.save(tx)
        db.session.commit()
    return response


def _unmet(tx: LoginTransaction, citizen: Citizen, following: Next):
    audit.record(
        "login.unmet",
        outcome="unmet",
        citizen=citizen,
        client_id=tx.client_id,
        required=tx.requirement.min_acr,
        phased_out=[f.name for f in following.phased_out],
    )
    db.session.commit()
    return render("login/unmet.html", tx, 403, phased_out=following.phased_out, required=tx.requirement.min_acr)


def _phased_out(tx: LoginTransaction, citizen: Citizen, factor):
    audit.record("login.factor", outcome="phased_out", citizen=citizen, client_id=tx.client_id, factor=factor.name)
    db.session.commit()
    return render("login/phased_out.html", tx, 403, factor=factor)
