"""The token endpoint's common requests: a code or a refresh token, from a client with a secret.

Anything else (``private_key_jwt``, public clients, a scope on refresh, any
check that fails) falls back to Authlib's grants, which also answer every error.
The claim carries every check in its WHERE clause and writes the new token in
the same transaction (idp/oidc/token_store.py), so a request that falls back has
changed nothing: Authlib meets the code or refresh token as the client sent it.
"""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, create_s256_code_challenge
from flask import current_app

from idp.clock import now
from idp.models import Client
from idp.models.oauth import digest
from idp.oidc import token_store
from idp.oidc.id_token import build_id_token
from idp.oidc.lean import FallBack, LeanAnswer, LeanRequest
from idp.oidc.server import Authentication, new_token, with_authorization_details
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
    with_refresh = client.check_grant_type("refresh_token")
    token = _generate(client, "authorization_code", with_refresh)
    with token_store.autocommit_connection() as connection:
        claimed = token_store.exchange_code(
            connection,
            code_hash=digest(code),
            client_id=client.client_id,
            allowed_scopes=_allowed_scopes(client),
            redirect_uri=request.form.get("redirect_uri"),
            no_verifier=verifier is None,
            s256_challenge=_s256(verifier),
            new=new_token(token, now()),
        )
    if claimed is None:
        raise FallBack
    return _answer(client, token, "authorization_code", Authentication.of(claimed), claimed.scope, claimed.nonce)


def _allowed_scopes(client: Client) -> frozenset[str]:
    """The scopes Authlib's token generator keeps (``Client.get_allowed_scope``)."""
    return frozenset(client.get_allowed_scope(client.scope).split())


def _s256(verifier: str | None) -> str | None:
    """RFC 7636 §4.6: the S256 challenge of a well-formed verifier (S256 is the only method we accept)."""
    if verifier is None or CODE_VERIFIER_PATTERN.match(verifier) is None:
        return None
    return create_s256_code_challenge(verifier)


def _refresh(request: LeanRequest) -> LeanAnswer:
    client = _client(request, "refresh_token")
    value = request.form.get("refresh_token")
    if not value:
        raise FallBack
    token = _generate(client, "refresh_token", True)
    with token_store.autocommit_connection() as connection:
        claimed = token_store.rotate_refresh(
            connection,
            token_hash=digest(value),
            client_id=client.client_id,
            allowed_scopes=_allowed_scopes(client),
            new=new_token(token, now()),
        )
    if claimed is None:
        raise FallBack
    return _answer(client, token, "refresh_token", Authentication.of(claimed), claimed.scope, None)


def _generate(client: Client, grant_type: str, with_refresh: bool) -> dict:
    """Authlib's token for the grant, before the claim: its values are random, its scope is the claimed one's.

    Authlib's generator sets ``scope`` last and only when there is one; ``_answer`` does the same.
    """
    server = current_app.extensions["idp.server"]
    return server.generate_token(grant_type=grant_type, client=client, include_refresh_token=with_refresh)


def _answer(
    client: Client, token: dict, grant_type: str, auth: Authentication, scope: str, nonce: str | None
) -> LeanAnswer:
    """The stored token as the client sees it, with an ID token for openid."""
    if scope:
        token["scope"] = scope
    with_authorization_details(token, auth)
    if "openid" in scope.split():
        token["id_token"] = build_id_token(
            client=client,
            auth=auth,
            scope=scope,
            nonce=nonce,
            access_token=token["access_token"],
            claims_request=auth.claims,
        )
    count_token(grant_type)
    return LeanAnswer(token, list(default_json_headers))
