"""The protocol endpoints: discovery, JWKS, authorization, PAR, token, revocation, introspection, userinfo.

The authorization endpoint first finds the request's real parameters (plain,
pushed, or in a request object), lets Authlib validate them, then turns them
into a Requirement and asks whether the current session meets it; if not, it
hands the request to the login pages as a LoginTransaction and resumes it
when they are done. prompt, max_age and id_token_hint are decided here.
"""

from __future__ import annotations

import hmac

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import InteractionRequiredError, LoginRequiredError
from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from idp import audit, transactions
from idp.clock import now
from idp.errors import error_page, login_expired_page
from idp.extensions import csrf, db
from idp.guardianship import operated
from idp.models import Client
from idp.oidc import par, parameters, rich_authorization
from idp.oidc.claims import subject_for
from idp.oidc.claims_request import parse_claims
from idp.oidc.id_token import verify_own_id_token
from idp.oidc.introspection import IntrospectionEndpoint
from idp.oidc.parameters import InvalidParameter
from idp.oidc.request_object import expand, expand_request_object
from idp.oidc.response_mode import SUPPORTED as SUPPORTED_RESPONSE_MODES
from idp.oidc.response_mode import deliver
from idp.oidc.revocation import RevocationEndpoint
from idp.oidc.same_site import resend_as_get
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS, Authentication
from idp.oidc.userinfo import answer as userinfo_answer
from idp.policy.requirement import SessionFacts, requirement_for, session_meets
from idp.sessions import current_session, remember_client

bp = Blueprint("oidc", __name__)


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0: the login did not reach the required level."""

    error = "unmet_authentication_requirements"
    description = "The login did not reach the requested level of assurance."


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


def _deliver(params: dict[str, str], response: Response) -> Response:
    mode = params.get("response_mode")
    return deliver(response, mode if mode in SUPPORTED_RESPONSE_MODES else None)


def _error(params: dict[str, str], error: OAuth2Error) -> Response:
    """Redirect the error only to a redirect URI known to be registered; otherwise show a page."""
    if error.redirect_uri:
        error.state = params.get("state")
        return _deliver(params, _server().handle_error_response(AuthorizationRequest(params), error))
    return error_page(
        _("The service sent an invalid login request"),
        _("Go back to the service and try again. If it keeps happening, contact the service."),
        detail=f"{error.error}: {error.description or ''}".strip(": "),
    )


def _registered_redirect(params: dict[str, str], client: Client | None) -> str | None:
    uri = params.get("redirect_uri")
    return uri if client is not None and uri and client.check_redirect_uri(uri) else None


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # relying parties POST here from their own origin (OIDC Core §3.1.2.1)
def authorize():
    given = request.form if request.method == "POST" else request.args
    params = given.to_dict(flat=True)
    try:
        parameters.check(given.items(multi=True))
    except InvalidParameter as error:
        return _malformed(params, error)
    repeated = sorted(name for name, values in given.lists() if len(values) > 1)
    if repeated:
        # RFC 6749 §3.1: no parameter more than once. A repeated redirect_uri has no safe value to redirect to.
        client_id = None if "client_id" in repeated else params.get("client_id")
        client = _server().query_client(client_id) if client_id else None
        error = InvalidRequestError("A parameter is repeated.")
        error.redirect_uri = None if "redirect_uri" in repeated else _registered_redirect(params, client)
        return _error(params, error)
    return resend_as_get(params) or _authorize(params)


def _malformed(params: dict[str, str], error: InvalidParameter) -> Response:
    """A malformed parameter: its value is neither used nor echoed, and the error is redirected
    only when client_id and redirect_uri are sound (RFC 6749 §4.1.2.1)."""
    usable = {name: value for name, value in params.items() if name != error.parameter}
    client = _server().query_client(usable["client_id"]) if usable.get("client_id") else None
    error.redirect_uri = _registered_redirect(usable, client)
    return _error(usable, error)


def _authorize(raw: dict[str, str]) -> Response:
    client = _server().query_client(raw["client_id"]) if raw.get("client_id") else None
    try:
        params = expand(raw, client)
    except OAuth2Error as error:
        db.session.rollback()
        error.redirect_uri = _registered_redirect(raw, client)
        return _error(raw, error)
    try:
        parameters.check(params.items())  # a request object's values, or pushed ones, meet the same rules
    except InvalidParameter as error:
        return _malformed(params, error)
    oauth_request = AuthorizationRequest(params)
    try:
        grant, claims = _validate(oauth_request)
        return _decide(oauth_request, grant, claims)
    except OAuth2Error as error:
        db.session.rollback()
        return _error(params, error)


def _validate(oauth_request: AuthorizationRequest):
    """Authlib's checks plus OpenID Connect's; raises OAuth2Error, redirectable only to a registered URI."""
    params = oauth_request.params
    if "openid" in (params.get("scope") or "").split() and not params.get("redirect_uri"):
        # OIDC Core §3.1.2.1: required, even when only one is registered.
        raise InvalidRequestError("redirect_uri is required.")
    grant = _server().get_consent_grant(oauth_request, end_user=None)
    try:
        if params.get("response_mode", "query") not in SUPPORTED_RESPONSE_MODES:
            raise InvalidRequestError("Unsupported response_mode.")
        prompts = set((params.get("prompt") or "").split())
        if "none" in prompts and len(prompts) > 1:
            raise InvalidRequestError("prompt=none cannot be combined with other values.")
        claims = parse_claims(params.get("claims"))
        rich_authorization.requested(params, grant.client, _representation_type())
        if params.get("scope") and not grant.request.scope:
            # Authlib drops the scopes the client is not registered for (the token response then says
            # which were granted, RFC 6749 §3.3); when none is left there is nothing to grant.
            raise InvalidScopeError("None of the requested scopes is registered for this client.")
    except OAuth2Error as error:
        error.redirect_uri = grant.redirect_uri
        raise
    return grant, claims


def _decide(oauth_request: AuthorizationRequest, grant, claims: dict | None) -> Response:
    """Issue a code from the SSO session if it is enough, else ask for a login (or say why not, for prompt=none)."""
    params = oauth_request.params
    prompts = set((params.get("prompt") or "").split())
    levels = current_app.extensions["idp.levels"]
    highest = current_app.extensions["idp.policy"].highest_reachable(now())
    # The client's registered defaults apply when the request is silent (OIDC Registration §2).
    defaults = grant.client.extra_metadata or {}
    acr_values = params.get("acr_values") or " ".join(defaults.get("default_acr_values") or [])
    max_age = params.get("max_age") or (str(defaults["default_max_age"]) if "default_max_age" in defaults else None)
    requirement = requirement_for(
        levels=levels,
        highest=highest,
        acr_values=acr_values,
        max_age=max_age,
        prompt=params.get("prompt"),
        claims=params.get("claims"),
    )
    if not levels.at_least(highest, requirement.min_acr):
        # An essential acr no configured factor reaches: say so now rather than send the citizen
        # through a login that cannot succeed (OpenID Connect Core Unmet Authentication Requirements 1.0).
        raise UnmetAuthenticationRequirementsError(redirect_uri=grant.redirect_uri)
    hinted_sub = None
    if params.get("id_token_hint"):
        hinted = verify_own_id_token(params["id_token_hint"])
        if hinted is None:
            raise InvalidRequestError(
                "The id_token_hint is not an ID token from this provider.", redirect_uri=grant.redirect_uri
            )
        hinted_sub = hinted["sub"]
    session = current_session()
    silent = (
        session is not None
        and not prompts & {"login", "select_account"}
        and session_meets(
            levels=levels,
            requirement=requirement,
            session=SessionFacts(acr=session.acr, auth_time=session.auth_time),
            now=now(),
        )
        # The hint names who the client expects; another citizen's session must not answer silently.
        and (hinted_sub is None or hmac.compare_digest(hinted_sub, subject_for(session.citizen, grant.client)))
        # A guardian-operated account whose mandate ran out is stopped at the login (idp/web/operated.py).
        and operated.usable(session.citizen, current_app.extensions["idp.guardianship"], now().date())
    )
    if silent and not rich_authorization.asked(params):
        return _issue(oauth_request, grant, Authentication.from_session(session, claims))
    if "none" in prompts:
        # With a session, only the representation chooser is missing: that needs the citizen too.
        error = InteractionRequiredError if silent else LoginRequiredError
        raise error(redirect_uri=grant.redirect_uri)
    tx = transactions.begin(
        params=params, client_id=grant.client.client_id, client_name=grant.client.name, requirement=requirement
    )
    if silent:
        # Representation is chosen afresh for every request: the SSO session never acts for anyone.
        return _to_chooser(tx, session)
    return redirect(url_for("login.start", tx=tx.id))


def _representation_type() -> str:
    return current_app.config["IDP"].representation.authorization_details_type


def _to_chooser(tx: transactions.LoginTransaction, session) -> Response:
    tx.sid = session.sid
    tx.step = {"citizen_id": session.citizen_id}
    transactions.save(tx)
    db.session.commit()
    return redirect(url_for("representation.choose", tx=tx.id))


def _issue(oauth_request: AuthorizationRequest, grant, auth: Authentication) -> Response:
    remember_client(current_session(), grant.client.client_id)
    response = _server().create_authorization_response(oauth_request, grant_user=auth, grant=grant)
    db.session.commit()
    return _deliver(oauth_request.params, response)


@bp.route("/authorize/resume")
def resume():
    """Back from the login pages: finish the stored request with the session they made."""
    # One commit: the login transaction is spent on every path, together with the code issued from it.
    with current_app.extensions["idp.store"].deferred():
        tx = transactions.finish(request.args.get("tx", ""))
        session = current_session()
        if tx is None or tx.sid is None or session is None or not hmac.compare_digest(tx.sid, session.sid):
            db.session.commit()
            return login_expired_page()
        oauth_request = AuthorizationRequest(tx.params)
        try:
            grant = _server().get_consent_grant(oauth_request, end_user=None)
            if not current_app.extensions["idp.levels"].at_least(session.acr, tx.requirement.min_acr):
                # The requested level is a minimum (as in ID-porten): never issue below it.
                raise UnmetAuthenticationRequirementsError(redirect_uri=grant.redirect_uri)
            if rich_authorization.asked(tx.params) and "representation" not in tx.step:
                return _to_chooser(tx, session)
            auth = Authentication.from_session(
                session, parse_claims(tx.params.get("claims")), tx.step.get("representation")
            )
        except OAuth2Error as error:
            db.session.commit()
            return _error(tx.params, error)
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
    response = _server().create_authorization_response(oauth_request, grant_user=None, grant=grant)
    return _deliver(tx.params, response)


@bp.route("/par", methods=["POST"])
@csrf.exempt
def pushed_authorization_request():
    """RFC 9126: an authenticated client pushes its parameters and gets a one-time request_uri."""
    server = _server()
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(oauth_request, TOKEN_ENDPOINT_AUTH_METHODS, "pushed_authorization_request")
        params = {k: v for k, v in request.form.to_dict(flat=True).items() if k not in _CLIENT_AUTH_PARAMS}
        if "request_uri" in params:
            raise InvalidRequestError("request_uri cannot be pushed (RFC 9126, section 2.1).")
        if params.setdefault("client_id", client.client_id) != client.client_id:
            raise InvalidRequestError("client_id differs from the authenticated client.")
        params = expand_request_object(params, client)
        parameters.check(params.items())
        _validate(AuthorizationRequest(params))
    except OAuth2Error as error:
        db.session.rollback()
        error.redirect_uri = None  # errors go to the client in the response, never through the browser
        return server.handle_error_response(oauth_request, error)
    response = jsonify(request_uri=par.push(params, client), expires_in=par.LIFETIME_SECONDS)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


_CLIENT_AUTH_PARAMS = ("client_secret", "client_assertion", "client_assertion_type")


@bp.route("/revoke", methods=["POST"])
@csrf.exempt
def revoke():
    return _server().create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)


@bp.route("/introspect", methods=["POST"])
@csrf.exempt
def introspect():
    return _server().create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)


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
        return _error(tx.params, error)
    return _error(tx.params, UnmetAuthenticationRequirementsError(redirect_uri=redirect_uri))


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


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    status, body, headers = userinfo_answer(_bearer_token())
    response = jsonify(body)
    response.status_code = status
    response.headers.extend(headers)
    return response


# GET and HEAD of these never reach the views: DocumentRoutes (idp/documents.py) answers them
# before Flask with the same documents. The routes serve url_for, OPTIONS and 405s.
@bp.route("/.well-known/openid-configuration")
@bp.route("/.well-known/oauth-authorization-server")  # RFC 8414 §3: the same metadata for OAuth clients
def discovery():
    return current_app.extensions["idp.discovery_document"].response(request.headers.get("If-None-Match"))


@bp.route("/jwks")
def jwks():
    return current_app.extensions["idp.jwks_document"]().response(request.headers.get("If-None-Match"))
