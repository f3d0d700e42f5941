"""Token introspection (RFC 7662) for the client the token was issued to.

We have no separate resource servers, so a client may introspect only its own
tokens; anything else is reported ``{"active": false}`` as §2.2 requires.
"""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import current_app

from idp.clock import now
from idp.models.oauth import digest
from idp.oidc.claims import subject_for
from idp.oidc.token_lookup import Issued, find_issued


class IntrospectionEndpoint(_IntrospectionEndpoint):
    # Introspection reveals token contents: only confidential clients (RFC 7662 §2.1).
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def create_endpoint_response(self, request) -> tuple[int, dict, list]:
        client = self.authenticate_endpoint_client(request)
        self.check_params(request, client)
        presented = request.form["token"]
        issued = find_issued(presented, access_only=False)
        if issued is None or issued.client.client_id != client.client_id:
            return 200, {"active": False}, default_json_headers
        return 200, describe(issued, presented), default_json_headers


def describe(issued: Issued, presented: str) -> dict:
    """The RFC 7662 §2.2 answer for a token found for its own client."""
    token = issued.token
    if token.is_revoked():
        return {"active": False}
    is_refresh = token.refresh_token_hash == digest(presented)
    expires_at = token.refresh_expires_at if is_refresh else token.access_expires_at
    if expires_at is None or expires_at <= now():
        return {"active": False}
    return {
        "active": True,
        "iss": current_app.config["IDP"].server.issuer,
        "client_id": token.client_id,
        "aud": token.client_id,
        "scope": token.scope,
        "sub": subject_for(issued.citizen, issued.client),
        "token_type": "refresh_token" if is_refresh else "Bearer",
        "iat": int(token.issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "auth_time": int(token.auth_time.timestamp()),
        **({"acr": token.acr} if token.acr else {}),
        # RFC 9396 §9.2
        **({"authorization_details": token.authorization_details} if token.authorization_details is not None else {}),
    }
