"""The representation chooser: after the login, whom the citizen acts for in this request.

Shown when the client asked with authorization_details (idp/oidc/rich_authorization.py),
every time: the SSO session stays the citizen's own. The options are the citizen
themself and the wards of their mandates in force today that cover any of the
asked-for roles, as the guardianship register reports them. The choice goes into
the login transaction, and /authorize/resume puts it into the code.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField
from wtforms.validators import InputRequired

from idp import audit, transactions
from idp.clock import now
from idp.errors import login_expired_page
from idp.extensions import db
from idp.guardianship.register import DatabaseRegister, GuardianshipRegister, MandateRecord
from idp.models import Citizen, LoginSession
from idp.oidc import rich_authorization
from idp.pid import mask_pid
from idp.sessions import current_session
from idp.transactions import LoginTransaction
from idp.web.login import render

bp = Blueprint("representation", __name__, url_prefix="/login")
# The embedded register unless the app was given another (an external register) before this blueprint.
bp.record_once(lambda state: state.app.extensions.setdefault("idp.guardianship", DatabaseRegister()))

MYSELF = "myself"


class RepresentationForm(FlaskForm):
    tx = HiddenField()
    choice = RadioField(_l("Who are you acting for?"), validators=[InputRequired()])


def _register() -> GuardianshipRegister:
    return current_app.extensions["idp.guardianship"]


def _load() -> tuple[LoginTransaction | None, LoginSession | None]:
    """The transaction, if it asks for representation and belongs to this browser's session."""
    tx = transactions.load(request.values.get("tx", ""))
    session = current_session()
    if (
        tx is None
        or tx.sid is None
        or session is None
        or not hmac.compare_digest(tx.sid, session.sid)
        or not rich_authorization.asked(tx.params)
    ):
        return None, None
    g.ui_locales = tx.params.get("ui_locales")
    return tx, session


def _options(guardian: Citizen, wanted: rich_authorization.RepresentationRequest) -> dict[str, MandateRecord]:
    """The mandates the guardian may act under for this request, by reference: in force today, a role in common."""
    mandates = _register().mandates_in_force(guardian.pid, now().date())
    return {mandate.reference: mandate for mandate in mandates if mandate.covers(wanted.roles)}


@bp.route("/represent", methods=["GET", "POST"])
def choose():
    tx, session = _load()
    if tx is None or session is None:
        return login_expired_page()
    client = current_app.extensions["idp.server"].query_client(tx.client_id)
    # Checked at /authorize; read again here from the stored request, so the roles are exactly those asked for.
    # The client may have been removed or re-registered since: then the request has expired.
    try:
        wanted = client and rich_authorization.requested(
            tx.params, client, current_app.config["IDP"].representation.authorization_details_type
        )
    except rich_authorization.InvalidAuthorizationDetailsError:
        wanted = None
    if wanted is None:
        return login_expired_page()
    guardian = session.citizen
    options = _options(guardian, wanted)
    form = RepresentationForm(tx=tx.id)
    form.choice.choices = [(MYSELF, _("Myself (%(name)s)", name=guardian.name))] + [
        (reference, mandate.ward_name) for reference, mandate in options.items()
    ]
    if form.validate_on_submit():
        mandate = options.get(form.choice.data)
        if mandate is None:
            details: list = []
            audit.record("representation.chosen", outcome="myself", citizen=guardian, client_id=tx.client_id)
        else:
            roles = mandate.covers(wanted.roles)
            details = rich_authorization.representing(
                wanted, guardian=guardian, ward_pid=mandate.ward_pid, ward_name=mandate.ward_name, roles=roles
            )
            audit.record(
                "representation.chosen",
                outcome="ward",
                citizen=guardian,
                client_id=tx.client_id,
                ward=mask_pid(mandate.ward_pid),
                reference=mandate.reference,
                roles=list(roles),
            )
        tx.step = {**tx.step, "representation": details}
        transactions.save(tx)
        db.session.commit()
        return redirect(url_for("oidc.resume", tx=tx.id), 303)
    status = 400 if request.method == "POST" else 200
    return render("login/represent.html", tx, status, form=form, has_wards=bool(options))
