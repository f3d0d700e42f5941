"""Min profil for a guardian: start operating a ward's own account under a mandate in force.

The guardian is logged in as themself (Min profil's own session and level). The ward's
account gets the guardian's confirmed phone as its second factor: a code goes there, through
Min profil's code path and limits, and the guardian types it back, so the number is in the
guardian's hands now. The app is personal: it is never set up for someone else. Support can do
the same with ``idp guardians operate``; both go through :func:`idp.guardianship.operated.start`.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from idp import accounts, audit
from idp.clock import now
from idp.guardianship import operated
from idp.mfa import enrolment as rows
from idp.mfa.codes import mask_phone
from idp.web import notices
from idp.web.forms import OperateForm, ProfileCodeForm
from idp.web.profile import PENDING, _back, _keep, _kept, _send_phone_code, _store, signed_in

bp = Blueprint("operating", __name__, url_prefix="/profile/operate")


def _keys() -> tuple[str, str]:
    """The store keys of this session's pending start: the code's state (as Min profil's phone code keeps it),
    and which mandate it is for."""
    return f"sms:operate:{g.pending_key}", f"operate:{g.pending_key}"


def _sms():
    return current_app.extensions["idp.chain"].factors.get("sms")


def _register():
    return current_app.extensions["idp.guardianship"]


def _guardian_phone() -> str | None:
    """The guardian's own phone, confirmed when their SMS was set up: the only number a ward's codes may go to."""
    row = rows.enrolment(g.citizen, "sms")
    return row.phone if row is not None and row.phone else None


def _code_text(name: str):
    return lambda code: _("%(code)s is your code to operate the account of %(name)s.", code=code, name=name)


@bp.errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    _keep(operating=notices.notice("expired_form"))
    return redirect(url_for("profile.index", _anchor="operating"), 303)


@bp.route("", methods=["POST"])
@signed_in
def start():
    """Send a code to the guardian's own phone for operating the ward's account under the mandate chosen."""
    form = OperateForm()
    ward = (
        operated.operable(g.citizen, form.reference.data, _register(), now().date())
        if form.validate_on_submit()
        else None
    )
    phone = _guardian_phone()
    if ward is None or phone is None or _sms() is None:
        audit.record("profile.operate", outcome="refused", citizen=g.citizen, mandate=(form.reference.data or "")[:64])
        _keep(operating=notices.notice("not_operable"))
        return _back(anchor="operating")
    code_key, plan_key = _keys()
    planned = _store().get(PENDING, plan_key)
    if planned is None or planned.get("reference") != ward.mandate.reference:
        # A code sent for another ward must not confirm this one (its SMS names the other ward).
        _store().delete(PENDING, code_key)
    refused = _send_phone_code(
        g.citizen, _sms(), phone, key=f"operate:{g.pending_key}", text=_code_text(ward.mandate.ward_name)
    )
    if refused is not None and refused["key"] != "resend_wait":
        _keep(operating=refused)
        return _back(anchor="operating")
    _store().put(
        PENDING, plan_key, {"reference": ward.mandate.reference}, ttl=current_app.config["IDP"].sms.code_seconds
    )
    outcome = "code_sent" if refused is None else "resend_wait"
    audit.record("profile.operate", outcome=outcome, citizen=g.citizen, mandate=ward.mandate.reference)
    _keep(code=refused) if refused else _keep()
    return _back("operating.confirm")


def _pending() -> tuple[dict | None, operated.Ward | None]:
    """The pending code's state and the ward it is for, while the mandate still allows it."""
    code_key, plan_key = _keys()
    state, plan = _store().get(PENDING, code_key), _store().get(PENDING, plan_key)
    if state is None or plan is None:
        return None, None
    return state, operated.operable(g.citizen, plan["reference"], _register(), now().date())


@bp.route("/confirm", methods=["GET"])
@signed_in
def confirm():
    state, ward = _pending()
    if state is None or ward is None:
        _keep(operating=notices.notice("code_expired" if ward is None and state is None else "not_operable"))
        return redirect(url_for("profile.index", _anchor="operating"))
    _message, errors = _kept()
    return render_template(
        "profile/operate_confirm.html",
        form=ProfileCodeForm(),
        ward=ward,
        phone=mask_phone(state["phone"]),
        spent="challenge" not in state,  # the last code was spent: sending a new one is the next step
        errors=errors,
    ), 400 if errors else 200


@bp.route("/confirm", methods=["POST"])
@signed_in
def check():
    """The code the guardian typed back: right, and the ward's account is operated with the guardian's phone."""
    state, ward = _pending()
    if state is None or ward is None:
        _keep(operating=notices.notice("code_expired" if state is None else "not_operable"))
        return _back(anchor="operating")
    form = ProfileCodeForm()
    if not form.validate_on_submit():
        _keep(code=notices.notice("code_wrong" if form.code.data else "code_missing"))
        return _back("operating.confirm")
    attempt = accounts.begin_check(g.citizen.pid, event="profile.operate_confirm", citizen=g.citizen)
    if not attempt.allowed:
        _keep(code=notices.wait_notice(attempt.wait_seconds, attempt.scope))
        return _back("operating.confirm")
    code_key, plan_key = _keys()
    outcome = _sms().check(state, form.code.data)
    audit.record(
        "profile.operate_confirm",
        outcome="success" if outcome.ok else outcome.reason,
        citizen=g.citizen,
        mandate=ward.mandate.reference,
    )
    if not outcome.ok:
        failure = accounts.failed(attempt, citizen=g.citizen)
        if outcome.restart:  # the code is spent; "send a new code" sends another to the same phone
            state.pop("challenge", None)
        _store().put(PENDING, code_key, state, ttl=current_app.config["IDP"].sms.code_seconds)
        if failure.wait_seconds:
            _keep(code=notices.wait_notice(failure.wait_seconds, failure.scope))
        else:
            _keep(code=notices.notice(f"code_{outcome.reason}"))
        return _back("operating.confirm")
    accounts.passed(attempt)
    _store().delete(PENDING, code_key)
    _store().delete(PENDING, plan_key)
    operated.start(ward.account, ward.mandate, phone=state["phone"], by="guardian")
    _keep(done="operating", arg=ward.mandate.ward_name)
    return _back(anchor="operating")


@bp.route("/resend", methods=["POST"])
@signed_in
def resend():
    state, ward = _pending()
    if state is None or ward is None:
        _keep(operating=notices.notice("code_expired"))
        return _back(anchor="operating")
    refused = _send_phone_code(
        g.citizen, _sms(), state["phone"], key=f"operate:{g.pending_key}", text=_code_text(ward.mandate.ward_name)
    )
    _keep(code=refused) if refused else _keep()
    return _back("operating.confirm")
