"""The token endpoint's common requests: a code or a refresh token, from a client with a secret.

Anything else (``private_key_jwt``, public clients, a scope on refresh, any
check that fails) falls back to Authlib's grants, which also answer every error.
A claim made here is rolled back before falling back, so Authlib meets the code
or refresh token as the client sent it.
"""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, compare_s256_code_challenge
from flask import current_app

from idp.clock import now
from idp.extensions import db
from idp.models import Client
from idp.models.oauth import digest
from idp.oidc import token_store
from idp.oidc.id_token import build_id_token
from idp.oidc.lean import FallBack, LeanAnswer, LeanRequest
from idp.oidc.server import Authentication, store_token
from idp.ops import count_token

_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
_CODE_PARAMS = frozenset({"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"})
_REFRESH_PARAMS = frozenset({"grant_type", "refresh_token", "client_id", "client_secret"})


def token(request: LeanRequest) -> LeanAnswer:
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code" and request.form.keys() <= _CODE_PARAMS:
        return _exchange_code(request)
    if grant_type == "refresh_token" and request.form.keys() <= _REFRESH_PARAMS:
        return _refresh(request)
    raise FallBack


def _client(request: LeanRequest, grant_type: str) -> Client:
    """The client, authenticated by its secret as it registered to, and allowed this grant."""
    basic_id, basic_secret = extract_basic_authorization({"Authorization": request.authorization})
    if basic_id is not None:
        method, client_id, secret = "client_secret_basic", basic_id, basic_secret
        if "client_secret" in request.form or request.form.get("client_id", client_id) != client_id:
            raise FallBack
    else:
        method, client_id, secret = (
            "client_secret_post",
            request.form.get("client_id"),
            request.form.get("client_secret"),
        )
    if not client_id or not secret:
        raise FallBack
    client = current_app.extensions["idp.server"].query_client(client_id)
    if (
        client is None
        or client.token_endpoint_auth_method not in _SECRET_METHODS
        or not client.check_endpoint_auth_method(method, "token")
        or not client.check_client_secret(secret)
        or not client.check_grant_type(grant_type)
    ):
        raise FallBack
    return client


def _exchange_code(request: LeanRequest) -> LeanAnswer:
    client = _client(request, "authorization_code")
    code, verifier = request.form.get("code"), request.form.get("code_verifier")
    if not code:
        raise FallBack
    claimed = token_store.claim_code(digest(code), client.client_id, now())
    try:
        if (
            claimed is None
            or claimed.is_expired(now())
            or (claimed.redirect_uri and request.form.get("redirect_uri") != claimed.redirect_uri)
            or not _pkce_holds(claimed, verifier)
        ):
            raise FallBack
        auth = Authentication.of(claimed)
        issued = _issue(
            client, auth, "authorization_code", claimed.scope, client.check_grant_type("refresh_token"), claimed.nonce
        )
    except BaseException:
        db.session.rollback()
        raise
    return issued


def _pkce_holds(claimed: token_store.ClaimedCode, verifier: str | None) -> bool:
    """RFC 7636 §4.6 as Authlib's CodeChallenge checks it (S256 is the only method we accept)."""
    if not claimed.code_challenge:
        return verifier is None
    return (
        verifier is not None
        and claimed.code_challenge_method == "S256"
        and CODE_VERIFIER_PATTERN.match(verifier) is not None
        and compare_s256_code_challenge(verifier, claimed.code_challenge)
    )


def _refresh(request: LeanRequest) -> LeanAnswer:
    client = _client(request, "refresh_token")
    value = request.form.get("refresh_token")
    if not value:
        raise FallBack
    moment = now()
    claimed = token_store.claim_refresh(digest(value), client.client_id, moment)
    try:
        if claimed is None or (claimed.refresh_expires_at is not None and claimed.refresh_expires_at <= moment):
            raise FallBack
        auth = Authentication.of(claimed)
        issued = _issue(client, auth, "refresh_token", claimed.scope, True, None)
    except BaseException:
        db.session.rollback()
        raise
    return issued


def _issue(
    client: Client, auth: Authentication, grant_type: str, scope: str, with_refresh: bool, nonce: str | None
) -> LeanAnswer:
    """Authlib's token (its generator decides shape and scope), saved, with an ID token for openid."""
    server = current_app.extensions["idp.server"]
    token = server.generate_token(
        grant_type=grant_type, client=client, user=auth, scope=scope, include_refresh_token=with_refresh
    )
    store_token(token, client=client, auth=auth)
    if "openid" in token.get("scope", "").split():
        token["id_token"] = build_id_token(
            client=client,
            auth=auth,
            scope=token["scope"],
            nonce=nonce,
            access_token=token["access_token"],
            claims_request=auth.claims,
        )
    db.session.commit()
    count_token(grant_type)
    return LeanAnswer(token, list(default_json_headers))
