"""The client credentials grant (RFC 6749 §4.4), for machines that act for themselves: the admin API.

A client registered by an operator with the ``client_credentials`` grant and the
admin scope gets an access token from our own token endpoint. No citizen stands
behind it, so it is not a row of ``token`` (whose tokens carry a login): it lives,
hashed, in the short-lived store until it expires, and only ``machine_token``
(the admin API) accepts it. Userinfo and introspection do not know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidScopeError, grants, scope_to_list
from flask import current_app

from idp.models.oauth import digest

ADMIN_SCOPE = "admin"
# The scopes a client may get for itself; a citizen's scopes (openid, profile...) need a login.
MACHINE_SCOPES = frozenset({ADMIN_SCOPE})
_NAMESPACE = "machine_token"


@dataclass(frozen=True)
class MachineToken:
    client_id: str
    scope: frozenset[str]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self) -> None:
        """What the client asks for must be machine scopes it registered; nothing asked: all of those."""
        registered = set(scope_to_list(self.request.client.scope)) & MACHINE_SCOPES
        asked = set(scope_to_list(self.request.payload.scope or "")) or registered
        if not asked or not asked <= registered:
            raise InvalidScopeError()
        self.request.scope = " ".join(sorted(asked))

    def create_token_response(self):
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        token["scope"] = self.request.scope
        current_app.extensions["idp.store"].put(
            _NAMESPACE,
            digest(token["access_token"]),
            {"client_id": self.request.client.client_id, "scope": self.request.scope},
            ttl=token["expires_in"],
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


def machine_token(access_token: str) -> MachineToken | None:
    """The client and scope a live client-credentials token was issued for, or None."""
    if not access_token:
        return None
    found = current_app.extensions["idp.store"].get(_NAMESPACE, digest(access_token))
    if found is None:
        return None
    return MachineToken(found["client_id"], frozenset(scope_to_list(found["scope"])))
