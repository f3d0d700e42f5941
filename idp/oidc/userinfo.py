"""The UserInfo answer (OIDC Core §5.3) for an access token: one function for every way it is asked."""

from __future__ import annotations

import sqlalchemy as sa

from idp.clock import now
from idp.oidc.claims import granted, released_claims, subject_for
from idp.oidc.token_lookup import find_issued
from idp.policy import release

Answer = tuple[int, dict, list[tuple[str, str]]]  # status, JSON body, headers


def answer(access_token: str | None, *, connection: sa.Connection | None = None) -> Answer:
    """The status, body and headers userinfo answers ``access_token`` with (RFC 6750 §3 for errors).

    ``connection``: where to look the token up (``find_issued``).
    """
    if access_token is None:
        body = {"error": "invalid_request", "error_description": "An access token is required."}
        return 401, body, [("WWW-Authenticate", 'Bearer realm="userinfo"')]
    issued = find_issued(access_token, access_only=True, connection=connection)
    if issued is None or issued.token.is_revoked() or issued.token.access_expires_at <= now():
        description = "The access token is unknown, expired or revoked."
        body = {"error": "invalid_token", "error_description": description}
        return 401, body, [("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{description}"')]
    token, citizen, client = issued
    if "openid" not in token.scope.split():
        # RFC 6750 §3.1: a valid token without the needed scope is insufficient_scope.
        body = {"error": "insufficient_scope", "error_description": "The access token lacks the openid scope."}
        return 403, body, [("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="openid"')]
    names = release.userinfo_claims(scopes=granted(token.scope, client))
    claims = {"sub": subject_for(citizen, client), **released_claims(citizen, names, locale=token.locale)}
    return 200, claims, [("Cache-Control", "no-store")]
