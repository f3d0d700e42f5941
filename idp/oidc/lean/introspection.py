"""Introspection (RFC 7662) by a client with a secret in the Authorization header."""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import current_app

from idp.oidc import token_store
from idp.oidc.introspection import describe
from idp.oidc.lean import FallBack, LeanAnswer, LeanRequest
from idp.oidc.token_lookup import find_issued

_PARAMS = frozenset({"token", "token_type_hint"})
_HINTS = frozenset({"access_token", "refresh_token"})


def introspection(request: LeanRequest) -> LeanAnswer:
    client_id, secret = extract_basic_authorization({"Authorization": request.authorization})
    token = request.form.get("token")
    if (
        not client_id
        or not secret
        or not token
        or not request.form.keys() <= _PARAMS
        or request.form.get("token_type_hint", "access_token") not in _HINTS
    ):
        raise FallBack
    client = current_app.extensions["idp.server"].query_client(client_id)
    if (
        client is None
        or client.token_endpoint_auth_method != "client_secret_basic"
        or not client.check_client_secret(secret)
    ):
        raise FallBack
    with token_store.autocommit_connection() as connection:
        issued = find_issued(token, access_only=False, connection=connection)
    if issued is None or issued.client.client_id != client.client_id:
        raise FallBack  # inactive: the Flask path says so
    return LeanAnswer(describe(issued, token), list(default_json_headers))
