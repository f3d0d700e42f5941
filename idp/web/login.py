"""The hosted login: national identity number and password, for one login transaction."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from idp import audit, transactions
from idp.errors import login_expired_page
from idp.extensions import db
from idp.mfa import password
from idp.models import Citizen, CitizenStatus
from idp.pid import InvalidPid, parse_pid
from idp.sessions import start_session
from idp.web.forms import CancelForm, LoginForm

bp = Blueprint("login", __name__, url_prefix="/login")


@bp.route("", methods=["GET", "POST"])
def start():
    tx = transactions.load(request.args.get("tx") or request.form.get("tx") or "")
    if tx is None:
        return login_expired_page()
    # Before the form exists: Flask-WTF fixes the request's locale when it is built.
    g.ui_locales = tx.params.get("ui_locales")
    form = LoginForm()
    form.tx.data = tx.id
    if request.method == "GET" and tx.params.get("login_hint", "").isdigit():
        form.pid.data = tx.params["login_hint"]
    error = None
    if form.validate_on_submit():
        citizen = _verify(form.pid.data, form.password.data, client_id=tx.client_id)
        if citizen is not None:
            response = redirect(url_for("oidc.resume", tx=tx.id))
            session = start_session(
                citizen=citizen,
                acr=current_app.extensions["idp.levels"].order[0],
                amr=list(password.AMR),
                response=response,
            )
            tx.sid = session.sid
            transactions.save(tx)
            db.session.commit()
            return response
        db.session.commit()
        error = _("The national identity number or the password is wrong.")
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form, cancel=CancelForm(tx=tx.id), tx=tx, error=error), status


def _verify(raw_pid: str, given_password: str, *, client_id: str) -> Citizen | None:
    """The citizen whose password this is, or None; every attempt is audited."""
    hasher = current_app.extensions["idp.hasher"]
    config = current_app.config["IDP"]
    try:
        pid = parse_pid(raw_pid, allow_synthetic=config.citizens.allow_synthetic_pids)
    except InvalidPid:
        pid = None
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=pid)) if pid else None
    ok = password.verify_password(hasher, citizen.password_hash if citizen else None, given_password)
    if citizen is None:
        audit.record("login.password", outcome="unknown_user", pid=pid, client_id=client_id)
        return None
    if not ok:
        audit.record("login.password", outcome="failure", citizen=citizen, client_id=client_id)
        return None
    if citizen.status != CitizenStatus.active:
        audit.record("login.password", outcome=citizen.status.value, citizen=citizen, client_id=client_id)
        return None
    if password.needs_rehash(hasher, citizen.password_hash):
        citizen.password_hash = password.hash_password(hasher, given_password)
    audit.record("login.password", outcome="success", citizen=citizen, client_id=client_id)
    return citizen
