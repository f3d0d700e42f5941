"""The hosted login: password, then the second factor the chain asks for, then back to the service.

Pages render and collect; the chain and the policy decide. Every attempt is
audited and counted against the account's and the IP's limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from idp import accounts, audit, transactions
from idp.clock import now
from idp.errors import error_page, login_expired_page, wait_message
from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa import password, webauthn
from idp.mfa.activation import live_letter
from idp.mfa.chain import Chain, Next
from idp.mfa.factor import Factor, Outcome, TryLater
from idp.mfa.gateways.sms import GatewayError
from idp.models import Citizen, CitizenStatus
from idp.policy.limits import Attempt
from idp.policy.requirement import Requirement, SessionFacts, can_step_up
from idp.sessions import current_session, start_session
from idp.transactions import LoginTransaction
from idp.web import notices
from idp.web.forms import CancelForm, ChooseForm, LoginForm, number_and_password_errors
from idp.web.operated import act_of, audit_detail, stopped

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


def _load_tx() -> LoginTransaction | None:
    tx = transactions.load(request.values.get("tx", ""))
    if tx is not None:
        # Before any form exists: Flask-WTF fixes the request's locale when it is built.
        g.ui_locales = tx.params.get("ui_locales")
    return tx


def _again(tx: LoginTransaction, endpoint: str):
    """Redirect after POST: the page, drawn by GET, says what this POST left in the transaction."""
    transactions.save(tx)
    db.session.commit()
    return redirect(url_for(endpoint, tx=tx.id), 303)


def _halted(tx: LoginTransaction):
    """The page that stops the login for now (a wait, a locked account, a phased-out factor), or None."""
    halt = tx.step.get("halt")
    if not halt:
        return None
    if halt["page"] == "wait":
        left = notices.seconds_left(halt, now())
        if not left:
            tx.step.pop("halt")
            return None
        message = wait_message(left, network=halt["scope"] == "network")
        # A known device is counted on its own: strangers' failures elsewhere do not hold it back.
        hint = halt["scope"] in ("account", "account_network")
        return render("login/wait.html", tx, 429, message=message, known_device_hint=hint)
    if halt["page"] == "locked":
        return render("login/locked.html", tx, 403)
    if halt["page"] == "operated_stopped":
        return render("login/operated_stopped.html", tx, 403)
    citizen = db.session.get(Citizen, tx.step.get("citizen_id"))
    factor = _chain().factors.get(halt["factor"])
    if factor is None:  # no longer configured at all: the chain decides afresh
        tx.step.pop("halt")
        return None
    return render("login/phased_out.html", tx, 403, factor=factor, stranded=_stranded(citizen))


def _stranded(citizen: Citizen | None) -> bool:
    """Whether no factor the citizen has logs in any more: Min profil would refuse them, an activation letter not."""
    lowest = current_app.extensions["idp.levels"].order[0]
    return citizen is not None and not _chain().options(citizen, Requirement(min_acr=lowest), now())


def _wait(seconds: int, scope: str) -> dict:
    return {"page": "wait", "scope": scope, "until": (now() + timedelta(seconds=seconds)).isoformat()}


@bp.errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    """A form whose CSRF token was refused (open longer than the token lives, cookies cleared): its page, saying so."""
    tx = _load_tx()
    if tx is None:
        return login_expired_page()
    password_page = request.endpoint in ("login.submit_password", "login.passkey")
    tx.step["password_errors" if password_page else "errors"] = {"form": notices.notice("expired_form")}
    return _again(tx, "login.start" if password_page else "login.step")


@bp.get("")
def start():
    tx = _load_tx()
    if tx is None:
        return login_expired_page()
    if (page := _halted(tx)) is not None:
        return page
    # The hint is a national identity number: it fills in the form once and is not kept in
    # the transaction, which the shared store holds for the rest of the login.
    hint = tx.params.pop("login_hint", None)
    session = current_session()
    if (
        session is not None
        and session.password_used
        and can_step_up(
            requirement=tx.requirement, session=SessionFacts(acr=session.acr, auth_time=session.auth_time), now=now()
        )
    ):
        # Step-up: the password was given in this session; only a stronger second factor is missing.
        tx.step = {**tx.step, "citizen_id": session.citizen_id, "step_up": True}
        transactions.save(tx)
        return redirect(url_for("login.step", tx=tx.id))
    if hint is not None:
        transactions.save(tx)
    form = LoginForm(tx=tx.id)
    if hint is not None and hint.isascii() and hint.isdigit():
        form.pid.data = hint
    # Kept apart from the factor page's ("errors"): Back from one to the other shows each its own.
    errors = notices.worded(tx.step.get("password_errors"), now())
    factor, options = _passkey_options(tx)
    # A page that says why the form it got was refused answers as that refusal did.
    return render(
        "login.html",
        tx,
        400 if errors else 200,
        form=form,
        errors=errors,
        passkey_options=options,
        passkey_answer=factor.form_class(tx=tx.id) if factor else None,
    )


@bp.post("")
def submit_password():
    tx = _load_tx()
    if tx is None:
        return login_expired_page()
    form = LoginForm()
    tx.step["password_errors"] = number_and_password_errors(form) or {}
    if tx.step["password_errors"]:
        return _again(tx, "login.start")
    pid, citizen = accounts.find_citizen(form.pid.data)
    # Checked, claimed and committed before Argon2id runs: the claim must hold whatever follows,
    # and the hash must not run inside a write transaction (on SQLite that holds up every writer).
    attempt = accounts.begin_check(pid, event="login.password", citizen=citizen, client_id=tx.client_id)
    db.session.commit()
    if not attempt.allowed:
        tx.step["halt"] = _wait(attempt.wait_seconds, attempt.scope)
        return _again(tx, "login.start")
    with _store().deferred():
        citizen, halt = _verify(pid, citizen, form.password.data, attempt, client_id=tx.client_id)
        if citizen is not None and stopped(citizen, client_id=tx.client_id):
            tx.step["halt"] = {"page": "operated_stopped"}
            return _again(tx, "login.start")
        if citizen is not None:
            tx.step = {**tx.step, "citizen_id": citizen.id, "step_up": False}
            following = _chain().next(citizen, tx.requirement, tx.step, now())
            if following.kind == "done":
                return _finish(tx, citizen, following, used=[])
            return _again(tx, "login.step")
        tx.step["halt"] = halt
        if halt is None:
            tx.step["password_errors"] = {"form": notices.notice("wrong_password")}
        return _again(tx, "login.start")


def _verify(pid: str | None, citizen: Citizen | None, given_password: str, attempt: Attempt, *, client_id: str):
    """(citizen, None) when the password is right; (None, halt) when the account may not go on; (None, None) if wrong.

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
        return None, {"page": "locked"}
    if citizen.status != CitizenStatus.active:
        # Answered, and counted, as a wrong password.
        audit.record("login.password", outcome=citizen.status.value, citizen=citizen, client_id=client_id)
        return None, _failed(attempt, citizen, pid, client_id)
    accounts.passed(attempt)
    if password.needs_rehash(hasher, citizen.password_hash):
        citizen.password_hash = password.hash_password(hasher, given_password)
    audit.record("login.password", outcome="success", citizen=citizen, client_id=client_id)
    return citizen, None


def _failed(attempt: Attempt, citizen: Citizen | None, pid: str | None, client_id: str) -> dict | None:
    """Count a wrong secret; the wait when the next attempt must now wait, else None."""
    failure = accounts.failed(attempt, citizen=citizen, pid=pid, client_id=client_id)
    return _wait(failure.wait_seconds, failure.scope) if failure.wait_seconds else None


# ---------------------------------------------------------------- a passkey as the whole login
def _passkey_factor() -> Factor | None:
    """The passkey factor when the policy lets it be a whole login now (webauthn.passwordless), else None."""
    factor = _chain().factors.get("webauthn")
    if factor is None or not current_app.extensions["idp.policy"].may_be_alone(factor.name, now()):
        return None
    return factor


def _passkey_options(tx: LoginTransaction) -> tuple[Factor | None, str | None]:
    """The factor and the options for "Log in with a passkey", kept in the login while they are good (reloads)."""
    factor = _passkey_factor()
    if factor is None or tx.step.get("step_up"):
        return None, None
    state = tx.step.get("passkey") or {}
    if not state.get("expires") or datetime.fromisoformat(state["expires"]) <= now():
        state = {}
        state["options"] = factor.passwordless_options(state)
        tx.step["passkey"] = state
        transactions.save(tx)
        db.session.commit()
    return factor, state["options"]


@bp.post("/passkey")
def passkey():
    """A discoverable passkey with user verification instead of the number and password (and the second factor)."""
    tx = _load_tx()
    if tx is None:
        return login_expired_page()
    factor = _passkey_factor()
    if factor is None:
        return error_page(_("That way of logging in is not available"), _("Choose another one."))
    form = factor.form_class()
    # The options are answered once, whatever comes of it: a new page gets new ones.
    state = tx.step.pop("passkey", None) or {}
    if not form.validate_on_submit():
        tx.step["password_errors"] = {"passkey": notices.notice("webauthn_missing")}
        return _again(tx, "login.start")
    credential = webauthn.parse_assertion(form.credential.data)
    key = factor.identify(credential) if credential is not None else None
    citizen = key.citizen if key is not None else None
    pid = citizen.pid if citizen is not None else None
    # An answer naming no passkey of ours counts against the network, like a number nobody has.
    attempt = accounts.begin_check(pid, event="login.passkey", citizen=citizen, client_id=tx.client_id)
    db.session.commit()
    if not attempt.allowed:
        tx.step["halt"] = _wait(attempt.wait_seconds, attempt.scope)
        return _again(tx, "login.start")
    with _store().deferred():
        outcome = factor.verify_alone(key, state, credential) if key is not None else Outcome(False, "wrong")
        refusal = outcome.reason
        if outcome.ok and citizen.status != CitizenStatus.active:
            # Told only after a right passkey, as after a right password; other states answer as a wrong one.
            refusal = citizen.status.value
            outcome = Outcome(False, "locked" if citizen.status == CitizenStatus.locked else "wrong")
        audit.record(
            "login.passkey",
            outcome="success" if outcome.ok else refusal,
            citizen=citizen,
            pid=pid,
            client_id=tx.client_id,
        )
        if outcome.reason == "locked":
            accounts.passed(attempt)
            tx.step["halt"] = {"page": "locked"}
            return _again(tx, "login.start")
        if not outcome.ok:
            tx.step["halt"] = _failed(attempt, citizen, pid, tx.client_id)
            tx.step["password_errors"] = {"passkey": notices.notice(_answer_notice(factor, outcome.reason))}
            return _again(tx, "login.start")
        accounts.passed(attempt)
        if stopped(citizen, client_id=tx.client_id):
            tx.step["halt"] = {"page": "operated_stopped"}
            return _again(tx, "login.start")
        following = _chain().alone(citizen, tx.requirement, factor, outcome.amr, now())
        if following.kind != "done":
            tx.step["password_errors"] = {"passkey": notices.notice("webauthn_not_enough")}
            return _again(tx, "login.start")
        tx.step = {**tx.step, "citizen_id": citizen.id, "step_up": False}
        return _finish(tx, citizen, following, used=[], password_used=False)


def _load_step() -> tuple[LoginTransaction | None, Citizen | None]:
    tx = _load_tx()
    citizen_id = tx.step.get("citizen_id") if tx else None
    citizen = db.session.get(Citizen, citizen_id) if citizen_id else None
    if citizen is None or citizen.status != CitizenStatus.active:
        return None, None
    return tx, citizen


@bp.get("/step")
def step():
    """The second factor's page: what the chain asks for next, starting the factor when nothing is pending."""
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    if (page := _halted(tx)) is not None:
        return page
    following = _chain().next(citizen, tx.requirement, tx.step, now())
    if following.kind == "done":
        return _finish(tx, citizen, following, used=[])
    if following.kind == "unmet":
        return _unmet(tx, citizen, following)
    if following.kind == "choose":
        transactions.save(tx)
        return render("login/choose.html", tx, options=following.options, form=ChooseForm(tx=tx.id))
    factor = following.factor
    starting = tx.step.get("factor") != factor.name or tx.step.get("challenge") is None
    # A code-sending factor whose code is spent waits for the citizen to ask for a new one:
    # no surprise messages on a reload, no pumping.
    if starting and not (factor.sends_code and tx.step.get("await_resend")):
        _start_factor(tx, citizen, factor, again=False)
    transactions.save(tx)
    db.session.commit()
    notice = current_app.extensions["idp.policy"].phase_out_notice(factor.name, now())
    errors = notices.worded(tx.step.get("errors"), now())
    return render(
        factor.template,
        tx,
        400 if errors else 200,
        factor=factor,
        form=factor.form_class(tx=tx.id),
        values=tx.step.get("challenge") or tx.step.get("last_challenge") or {},
        errors=errors,
        # No live code: the page's main button asks for a new one instead of sending one.
        ask_again=factor.sends_code and bool(tx.step.get("await_resend")),
        notice=notice,
        others=[f for f in following.options if f.name != factor.name],
        choose=ChooseForm(tx=tx.id),
    )


def _start_factor(tx: LoginTransaction, citizen: Citizen, factor: Factor, *, again: bool) -> None:
    """Start ``factor`` (send a code, within the limits); what went wrong is kept at the code field."""
    errors = tx.step.setdefault("errors", {})
    if factor.sends_code:
        # A new code is on its way: what was said of the last one no longer holds. A factor that sends
        # nothing restarts after a refused answer (a passkey's challenge is spent), and the page says why.
        errors.pop("code", None)
    refused = _start_refused(tx, citizen, factor, again=again)
    if refused is None:
        tx.step.pop("await_resend", None)
        return
    errors["code"] = refused
    if not again:
        tx.step["await_resend"] = True  # nothing was sent: the page offers to send a code


def _start_refused(tx: LoginTransaction, citizen: Citizen, factor: Factor, *, again: bool) -> dict | None:
    if factor.sends_code:
        wait, scope = accounts.code_send_wait(citizen)
        if wait:
            _code_not_sent("rate_limited", tx, citizen, factor)
            return notices.notice(f"codes_{scope}", until=now() + timedelta(seconds=wait))
    try:
        tx.step["last_challenge"] = _chain().challenge(citizen, factor, tx.step, service=tx.client_name, again=again)
    except TryLater as later:
        if later.used_up:
            return notices.notice("sends_used")
        return notices.notice("resend_wait", until=now() + timedelta(seconds=later.seconds))
    except GatewayError:
        _code_not_sent("gateway_error", tx, citizen, factor)
        return notices.notice("send_failed")
    if factor.sends_code:
        accounts.code_sent(citizen)
        audit.record("login.code_sent", outcome="success", citizen=citizen, client_id=tx.client_id, factor=factor.name)
    return None


@bp.post("/step")
def verify():
    """The citizen's answer to the second factor; the page says what came of it."""
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    pending = _chain().factors.get(tx.step.get("factor") or "")
    if pending is not None and not current_app.extensions["idp.policy"].rules[pending.name].accepted(now()):
        # The page was opened before the cutoff: the answer is refused whether right or not.
        return _phased_out(tx, citizen, pending)
    following = _chain().next(citizen, tx.requirement, tx.step, now())
    if following.kind != "factor":
        return _again(tx, "login.step")
    factor = following.factor
    form = factor.form_class()
    if not form.validate_on_submit():
        # Empty, or longer than any answer: nothing worth checking or counting.
        given = getattr(form, "code", None)
        reason = "wrong" if given is not None and given.data else "missing"
        tx.step["errors"] = {"code": notices.notice(_answer_notice(factor, reason))}
        return _again(tx, "login.step")
    attempt = accounts.begin_check(
        citizen.pid, event="login.factor", citizen=citizen, client_id=tx.client_id, factor=factor.name
    )
    db.session.commit()
    if not attempt.allowed:
        tx.step["halt"] = _wait(attempt.wait_seconds, attempt.scope)
        return _again(tx, "login.step")
    # The answer, its audit event, the counters and the transaction's state commit together.
    with _store().deferred():
        outcome = _chain().verify(citizen, factor, tx.step, request.form, now())
        if outcome.pending:
            # No answer yet (an approval still waited for): neither a failure nor an event.
            accounts.passed(attempt)
            waiting = f"{factor.name}_pending"
            tx.step["errors"] = {"code": notices.notice(waiting)} if waiting in notices.MESSAGES else {}
            return _again(tx, "login.step")
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
            return _finish(tx, citizen, following, used=[factor.name], earned={factor.name: outcome.amr})
        if outcome.reason == "phased_out":
            return _phased_out(tx, citizen, factor)
        tx.step["halt"] = _failed(attempt, citizen, citizen.pid, tx.client_id)
        tx.step["errors"] = {"code": notices.notice(_answer_notice(factor, outcome.reason))}
        if outcome.restart and factor.sends_code:
            tx.step["await_resend"] = True
        return _again(tx, "login.step")


@bp.post("/choose")
def choose():
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    form = ChooseForm()
    if not form.validate_on_submit() or form.factor.data not in {
        f.name for f in _chain().options(citizen, tx.requirement, now())
    }:
        return error_page(_("That way of logging in is not available"), _("Choose another one."))
    _chain().choose(tx.step, form.factor.data)
    tx.step.pop("errors", None)
    tx.step.pop("await_resend", None)
    return _again(tx, "login.step")


def _code_not_sent(outcome: str, tx: LoginTransaction, citizen: Citizen, factor: Factor) -> None:
    """A code the citizen asked for and did not get: audited (so counted in the metrics)."""
    audit.record("login.code_sent", outcome=outcome, citizen=citizen, client_id=tx.client_id, factor=factor.name)


@bp.post("/resend")
def resend():
    """A new code on request, throttled by the factor and limited per account and network."""
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    following = _chain().next(citizen, tx.requirement, tx.step, now())
    if following.kind == "factor" and following.factor.sends_code:
        _start_factor(tx, citizen, following.factor, again=True)
    return _again(tx, "login.step")


def _answer_notice(factor: Factor, reason: str) -> str:
    """The notice for an answer refused for ``reason``: the factor's own wording where it has one (``app_denied``)."""
    for key in (f"{factor.name}_{reason}", f"code_{reason}"):
        if key in notices.MESSAGES:
            return key
    return "code_wrong"


def _finish(
    tx: LoginTransaction,
    citizen: Citizen,
    following: Next,
    *,
    used: list[str],
    earned: dict[str, dict[str, list[str]] | None] | None = None,
    password_used: bool = True,
):
    acr, amr = _chain().result(citizen, used, earned=earned) if used else (following.acr, following.amr)
    if stopped(citizen, client_id=tx.client_id):  # the mandate ran out during the login, or at a step-up
        tx.step["halt"] = {"page": "operated_stopped"}
        return _again(tx, "login.step")
    target = tx.step.get("return_to") or url_for("oidc.resume", tx=tx.id)
    response = redirect(target, 303)
    # One commit: the session, the transaction that now names it, the reset counters and the audit event.
    with _store().deferred():
        session = start_session(citizen=citizen, acr=acr, amr=amr, response=response, password_used=password_used)
        session.act = act_of(citizen)
        for row in rows.enrolments(citizen):
            if row.name in used:
                row.last_used_at = now()
        audit.record(
            "login.complete",
            outcome="success",
            citizen=citizen,
            client_id=tx.client_id,
            acr=acr,
            amr=amr,
            **audit_detail(session.act),
        )
        accounts.login_completed(citizen, response)
        tx.sid = session.sid
        tx.step = {key: value for key, value in tx.step.items() if key in ("citizen_id", "return_to")}
        transactions.save(tx)
        db.session.commit()
    return response


def _unmet(tx: LoginTransaction, citizen: Citizen, following: Next):
    unactivated = _held_back_by_activation(citizen, tx.requirement)
    audit.record(
        "login.unmet",
        outcome="unactivated" if unactivated else "unmet",
        citizen=citizen,
        client_id=tx.client_id,
        required=tx.requirement.min_acr,
        phased_out=[f.name for f in following.phased_out],
    )
    db.session.commit()
    letter = live_letter(citizen) if unactivated else None
    return render(
        "login/unmet.html",
        tx,
        403,
        phased_out=following.phased_out,
        required=tx.requirement.min_acr,
        stranded=_stranded(citizen),
        unactivated=unactivated,
        letter_valid_until=format_date(letter.expires_at, "long") if letter else None,
    )


def _held_back_by_activation(citizen: Citizen, requirement: Requirement) -> bool:
    """Whether the level is out of reach because the account was ordered and its activation letter not yet used."""
    return not citizen.activated and not current_app.extensions["idp.policy"].within_ceiling(
        requirement, activated=False
    )


def _phased_out(tx: LoginTransaction, citizen: Citizen, factor: Factor):
    audit.record("login.factor", outcome="phased_out", citizen=citizen, client_id=tx.client_id, factor=factor.name)
    tx.step["halt"] = {"page": "phased_out", "factor": factor.name}
    return _again(tx, "login.step")


# ---------------------------------------------------------------- the app factor's waiting page
@bp.get("/app/status")
def app_status():
    """Read-only, for the waiting page's script: "pending" until the app has answered or the request ran out.

    Then the script sends the page's form, and :func:`verify` does the checking. "none": this
    login is not waiting for the app (any more), so the script stops asking.
    """
    tx, _citizen = _load_step()
    factor = _chain().factors.get("app")
    status = "none"
    if tx is not None and factor is not None and tx.step.get("factor") == "app" and not tx.step.get("await_resend"):
        status = factor.status(tx.step.get("state") or {})
    response = jsonify(status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/app/not-me")
def app_not_me():
    """After a denial in the app: the citizen says someone else tried to log in as them; recorded for support."""
    tx, citizen = _load_step()
    if tx is None:
        return login_expired_page()
    sends = (tx.step.get("state") or {}).get("sends")
    denied = ((tx.step.get("errors") or {}).get("code") or {}).get("key") == "app_denied"
    if CancelForm().validate_on_submit() and denied and tx.step.get("app_reported") != sends:
        audit.record("login.app_not_me", outcome="reported", citizen=citizen, client_id=tx.client_id)
        tx.step["app_reported"] = sends
    return _again(tx, "login.step")
