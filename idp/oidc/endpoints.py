"""The protocol endpoints: discovery, JWKS, authorization, token, userinfo.

The authorization endpoint turns a request into a Requirement and asks
whether the current session meets it; if not, it hands the request to the
login pages as a LoginTransaction and resumes it when they are done.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from idp import audit, transactions
from idp.clock import now
from idp.errors import error_page, login_expired_page
from idp.extensions import csrf, db
from idp.models import Token
from idp.models.oauth import digest
from idp.oidc.claims import subject_for, user_claims
from idp.oidc.server import Authentication
from idp.policy.requirement import SessionFacts, requirement_for, session_meets
from idp.sessions import current_session, remember_client

bp = Blueprint("oidc", __name__)


class UnmetAuthenticationRequirements(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0."""

    error = "unmet_authentication_requirements"


class AuthorizationRequest(OAuth2Request):
    """An authorization request from its parameters: live (GET query or POST form) or resumed."""

    def __init__(self, params: dict[str, str]):
        super().__init__("GET", current_app.config["IDP"].server.issuer + "/authorize")
        self.params = params
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self) -> dict[str, str]:
        return self.params


def _server():
    return current_app.extensions["idp.server"]


def _with_issuer(response: Response) -> Response:
    """RFC 9207: every authorization response names the issuer, errors included."""
    if response.location:
        fragment = "#" in response.location
        response.location = add_params_to_uri(
            response.location, [("iss", current_app.config["IDP"].server.issuer)], fragment
        )
    return response


def _error(oauth_request: AuthorizationRequest, error: OAuth2Error) -> Response:
    """Redirect the error only to a redirect URI Authlib validated; otherwise show a page."""
    if error.redirect_uri:
        return _with_issuer(_server().handle_error_response(oauth_request, error))
    return error_page(
        _("The service sent an invalid login request"),
        _("Go back to the service and try again. If it keeps happening, contact the service."),
        detail=f"{error.error}: {error.description or ''}".strip(": "),
    )


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # relying parties POST here from their own origin (OIDC Core §3.1.2.1)
def authorize():
    params = request.form if request.method == "POST" else request.args
    return _authorize(AuthorizationRequest(params.to_dict(flat=True)))


def _authorize(oauth_request: AuthorizationRequest) -> Response:
    levels = current_app.extensions["idp.levels"]
    data = oauth_request.params
    requirement = requirement_for(
        levels=levels, acr_values=data.get("acr_values"), max_age=data.get("max_age"), prompt=data.get("prompt"),
        claims=data.get("claims"),
    )
    session = current_session()
    auth = None
    if session is not None and session_meets(
        levels=levels,
        requirement=requirement,
        session=SessionFacts(acr=session.acr, auth_time=session.auth_time),
        now=now(),
    ):
        auth = Authentication.from_session(session)
    try:
        grant = _server().get_consent_grant(oauth_request, end_user=auth)
    except OAuth2Error as error:
        db.session.rollback()
        return _error(oauth_request, error)
    if auth is None:
        tx = transactions.begin(
            params=data, client_id=grant.client.client_id, client_name=grant.client.name, requirement=requirement
        )
        return redirect(url_for("login.start", tx=tx.id))
    return _issue(oauth_request, grant, auth)


def _issue(oauth_request: AuthorizationRequest, grant, auth: Authentication) -> Response:
    remember_client(current_session(), grant.client.client_id)
    response = _server().create_authorization_response(oauth_request, grant_user=auth, grant=grant)
    db.session.commit()
    return _with_issuer(response)


@bp.route("/authorize/resume")
def resume():
    """Back from the login pages: finish the stored request with the session they made."""
    tx = transactions.finish(request.args.get("tx", ""))
    session = current_session()
    if tx is None or tx.sid is None or session is None or not hmac.compare_digest(tx.sid, session.sid):
        return login_expired_page()
    oauth_request = AuthorizationRequest(tx.params)
    auth = Authentication.from_session(session)
    try:
        grant = _server().get_consent_grant(oauth_request, end_user=auth)
        levels = current_app.extensions["idp.levels"]
        if not levels.at_least(session.acr, tx.requirement.min_acr):
            # The protocol layer never lowers the bar: the pages could not reach the level asked for.
            raise UnmetAuthenticationRequirements(
                "The login did not reach the requested level of assurance.",
                state=oauth_request.payload.state,
                redirect_uri=grant.redirect_uri,
            )
    except OAuth2Error as error:
        return _error(oauth_request, error)
    return _issue(oauth_request, grant, auth)


@bp.route("/authorize/cancel", methods=["POST"])
def cancel():
    """The citizen cancelled the login: tell the client access_denied (RFC 6749 §4.1.2.1)."""
    tx = transactions.finish(request.form.get("tx", ""))
    if tx is None:
        return login_expired_page()
    oauth_request = AuthorizationRequest(tx.params)
    audit.record("login.cancel", outcome="cancelled", client_id=tx.client_id)
    db.session.commit()
    grant = _server().get_authorization_grant(oauth_request)
    return _with_issuer(_server().create_authorization_response(oauth_request, grant_user=None, grant=grant))


@bp.route("/authorize/unmet", methods=["POST"])
def unmet():
    """The citizen has no allowed factor that reaches the requested level: tell the client so."""
    tx = transactions.finish(request.form.get("tx", ""))
    if tx is None or not tx.params:
        return login_expired_page()
    oauth_request = AuthorizationRequest(tx.params)
    grant = _server().get_authorization_grant(oauth_request)
    try:
        redirect_uri = grant.validate_authorization_request()
    except OAuth2Error as error:
        return _error(oauth_request, error)
    error = UnmetAuthenticationRequirements(
        description="The login could not reach the requested level of assurance.",
        redirect_uri=redirect_uri,
        state=oauth_request.payload.state,
    )
    return _with_issuer(_server().handle_error_response(oauth_request, error))


@bp.route("/token", methods=["POST"])
@csrf.exempt
def token():
    return _server().create_token_response()


def _bearer_token() -> str | None:
    """The access token from the Authorization header or, on POST, the form body (RFC 6750 §2.1-2.2)."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token") or None
    return None


def _invalid_token(description: str, status: int = 401) -> Response:
    response = jsonify(error="invalid_token", error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    value = _bearer_token()
    if value is None:
        response = jsonify(error="invalid_request", error_description="An access token is required.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    found = db.session.scalar(sa.select(Token).filter_by(access_token_hash=digest(value)))
    if found is None or found.is_revoked() or found.access_expires_at <= now():
        return _invalid_token("The access token is unknown, expired or revoked.")
    scopes = set(found.scope.split())
    if "openid" not in scopes:
        return _invalid_token("The access token was not issued for OpenID Connect.", 403)
    client = found.get_client()
    claims = {"sub": subject_for(found.citizen, client), **user_claims(found.citizen, scopes)}
    response = jsonify(claims)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/.well-known/openid-configuration")
def discovery():
    response = jsonify(current_app.extensions["idp.discovery"])
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/jwks")
def jwks():
    keys = current_app.extensions["idp.keys"]
    response = jsonify(keys.public_jwks(now=now()))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
