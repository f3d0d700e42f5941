"""Logout: RP-initiated (OIDC RP-Initiated Logout 1.0), back-channel and front-channel notices.

The end_session endpoint redirects to a ``post_logout_redirect_uri`` only
when an ``id_token_hint`` we signed identifies the client and the URI is one
it registered, compared as exact strings. Without a valid hint the citizen
confirms on our page and stays with us. Every client that received tokens in
the ended session is told: back-channel by a signed ``logout_token`` POSTed
from a background thread (the citizen never waits for a relying party), and
front-channel by an iframe per client on the page shown after logout, which
goes on to the service without needing JavaScript.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from authlib.common.urls import add_params_to_uri
from flask import Blueprint, Response, current_app, redirect, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.urls import iri_to_uri

from idp import audit
from idp.clock import now
from idp.errors import error_page
from idp.extensions import csrf, db
from idp.fetch import Fetcher, FetchError
from idp.models import Client, LoginSession, Token
from idp.oidc import parameters
from idp.oidc.claims import subject_for
from idp.oidc.id_token import audiences, sign, verify_own_id_token
from idp.oidc.parameters import InvalidParameter
from idp.oidc.same_site import resend_as_get
from idp.sessions import current_session, end_session

log = logging.getLogger(__name__)
bp = Blueprint("logout", __name__)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS = 120
# How long the front-channel iframes get before the browser goes on to the service. A script goes as
# soon as they have all loaded, or after this long. Without script the Refresh header goes this long
# after the page has loaded: browsers start its timer at the load event, which an iframe that never
# answers holds back until the browser gives up on it.
FRONTCHANNEL_WAIT_SECONDS = 3


class ConfirmLogoutForm(FlaskForm):
    """Only a CSRF token: logging out without a hint needs the citizen's own click."""


def _client(client_id: str | None) -> Client | None:
    return db.session.scalar(sa.select(Client).filter_by(client_id=client_id)) if client_id else None


def _refuse(description: str) -> tuple[str, int]:
    return error_page(
        _("The service sent an invalid logout request"),
        _("You have not been logged out. Close this page, or log out again from the service."),
        code="invalid_request",
        description=description,
    )


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # relying parties POST here from their own origin (RP-Initiated Logout §2)
def end_session_endpoint():
    given = request.form if request.method == "POST" else request.args
    try:
        parameters.check(given.items(multi=True), parameters.LOGOUT_RULES)
    except InvalidParameter as error:
        return _refuse(f"{error.parameter}: malformed or too long")
    params = given.to_dict(flat=True)
    if (resent := resend_as_get(params)) is not None:
        return resent
    hint, client_id = params.get("id_token_hint"), params.get("client_id")
    post_logout_redirect_uri, state = params.get("post_logout_redirect_uri"), params.get("state")
    hinted = None
    if hint:
        hinted = verify_own_id_token(hint)
        if hinted is None:
            return _refuse("id_token_hint: not an ID token from this provider")
        if client_id and client_id not in audiences(hinted):
            return _refuse("client_id: not the audience of the id_token_hint")
        client_id = client_id or (audiences(hinted) or [None])[0]
    client = _client(client_id)
    if client_id and client is None:
        return _refuse("client_id: unknown client")
    registered = client.post_logout_redirect_uris if client is not None else []
    if post_logout_redirect_uri and post_logout_redirect_uri not in registered:  # exact match, no added query
        return _refuse("post_logout_redirect_uri: not registered for this client")
    session = current_session()
    if session is None:
        return _after_logout(None, _target(hinted, post_logout_redirect_uri, state))
    if hinted is None or not secrets.compare_digest(hinted["sub"], subject_for(session.citizen, client)):
        # No proof the request comes from a relying party of this citizen: ask (RP-Initiated Logout §2, §6).
        page = render_template("logout_confirm.html", form=ConfirmLogoutForm(), client=client)
        return Response(page, 200, mimetype="text/html")
    return _after_logout(session, _target(hinted, post_logout_redirect_uri, state))


def _target(hinted: dict | None, uri: str | None, state: str | None) -> str | None:
    """Where to go after logout: only with a valid hint, to a registered URI, state added unchanged."""
    if hinted is None or not uri:
        return None
    return add_params_to_uri(uri, [("state", state)]) if state else uri


@bp.route("/logout/confirm", methods=["POST"])
def confirm():
    form = ConfirmLogoutForm()
    if not form.validate_on_submit():
        return _refuse("the confirmation form expired")
    return _after_logout(current_session(), None)


def _after_logout(session: LoginSession | None, target: str | None) -> Response:
    frames: list[str] = []
    if session is not None:
        frames = logout(session)
    if frames:
        page = render_template(
            "logged_out.html", frames=frames, next_url=target, wait_seconds=FRONTCHANNEL_WAIT_SECONDS
        )
        response = Response(page, 200, mimetype="text/html")
        if target:
            # The HTML standard's declarative refresh (the header form of <meta http-equiv="refresh">):
            # a browser without JavaScript, or a test suite's driver, still returns to the service.
            response.headers["Refresh"] = f"{FRONTCHANNEL_WAIT_SECONDS}; url={iri_to_uri(target)}"
        origins = " ".join(sorted({f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in frames}))
        # The iframes load the clients' pages; everything else stays as strict as the default policy.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; frame-src {origins}; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
        )
    elif target:
        response = redirect(target)
    else:
        response = Response(render_template("logged_out.html", frames=[], next_url=None), 200, mimetype="text/html")
    if session is not None:
        end_session(session, response)
        db.session.commit()
    return response


def logout(session: LoginSession) -> list[str]:
    """End ``session`` everywhere: revoke its online tokens, notify its clients; returns front-channel URLs."""
    clients, deliveries = _wind_up(session, reason="logout")
    if deliveries:
        fetcher = current_app.extensions["idp.fetcher"]
        threading.Thread(target=_post_logout_tokens, args=(fetcher, deliveries), daemon=True).start()
    issuer = current_app.config["IDP"].server.issuer
    return [
        add_params_to_uri(c.frontchannel_logout_uri, [("iss", issuer), ("sid", session.sid)])
        for c in clients
        if c.frontchannel_logout_uri
    ]


def _wind_up(session: LoginSession, *, reason: str) -> tuple[list[Client], list[tuple[str, str]]]:
    """Revoke the session's online tokens; its clients and the back-channel logout tokens to deliver."""
    client_ids = [c.client_id for c in session.clients]
    clients = db.session.scalars(sa.select(Client).where(Client.client_id.in_(client_ids))).all() if client_ids else []
    # Tokens without offline_access live only as long as the login (Back-Channel Logout §2.7).
    for token in db.session.scalars(sa.select(Token).where(Token.sid == session.sid, Token.revoked_at.is_(None))):
        if "offline_access" not in token.scope.split():
            token.revoked_at = now()
    audit.record(reason, outcome="success", citizen=session.citizen, clients=client_ids)
    return list(clients), [
        (c.backchannel_logout_uri, logout_token(c, session)) for c in clients if c.backchannel_logout_uri
    ]


def end_expired_sessions() -> int:
    """End the sessions past their lifetime or idle limit and tell their clients; for a periodic job.

    A session that simply runs out is a logout too (Back-Channel Logout §2):
    its clients get logout tokens and its online tokens stop working. The
    notices are delivered before returning, since the caller is not a request.
    """
    config = current_app.config["IDP"].session
    moment = now()
    expired = db.session.scalars(
        sa.select(LoginSession).where(
            LoginSession.ended_at.is_(None),
            sa.or_(
                LoginSession.expires_at <= moment,
                LoginSession.last_seen_at <= moment - timedelta(seconds=config.idle_seconds),
            ),
        )
    ).all()
    deliveries: list[tuple[str, str]] = []
    for session in expired:
        deliveries += _wind_up(session, reason="session.expired")[1]
        session.ended_at = moment
    db.session.commit()
    _post_logout_tokens(current_app.extensions["idp.fetcher"], deliveries)
    return len(expired)


def logout_token(client: Client, session: LoginSession) -> str:
    """A Back-Channel Logout 1.0 §2.4 logout token: never a nonce, always the event, sid and sub."""
    issued = int(now().timestamp())
    claims = {
        "iss": current_app.config["IDP"].server.issuer,
        "aud": client.client_id,
        "iat": issued,
        "exp": issued + LOGOUT_TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(16),
        "sub": subject_for(session.citizen, client),
        "sid": session.sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return sign(claims, alg=client.id_token_signed_response_alg, typ="logout+jwt")


def _post_logout_tokens(fetcher: Fetcher, deliveries: list[tuple[str, str]]) -> None:
    # The URIs are the clients' own choice, so they go through the fetcher's address checks like any fetch.
    for uri, token in deliveries:
        try:
            status = fetcher.post_form(uri, {"logout_token": token})
        except FetchError as exc:
            log.warning("back-channel logout not delivered: %s", exc)
            continue
        if status not in (200, 204):
            log.warning("back-channel logout to %s answered %s", uri, status)
