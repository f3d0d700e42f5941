"""What relying parties fetch to trust us: the provider metadata (OIDC Discovery §3, RFC 8414) and the JWKS.

Both are served as pre-serialised documents (idp/documents.py). The metadata
is built once per app; it lists only what the provider does: tests/conformance
checks each entry against behaviour. The JWKS document is remade only when the
key ring is reloaded or a key changes state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from idp.clock import Clock
from idp.config import Config
from idp.documents import Document
from idp.oidc.claims import SCOPE_CLAIMS, SCOPES_SUPPORTED
from idp.oidc.keys import KeyRing
from idp.oidc.request_object import SIGNING_ALGS as REQUEST_OBJECT_ALGS
from idp.oidc.response_mode import SUPPORTED as RESPONSE_MODES
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS

ID_TOKEN_ALGS = ("RS256", "PS256", "ES256")
CONFIDENTIAL_AUTH_METHODS = [m for m in TOKEN_ENDPOINT_AUTH_METHODS if m != "none"]
# Relying parties cache both; a rotated key is published keys.rotation_delay_seconds (default
# an hour) before it signs, so five minutes of a cached JWKS never misses a signing key.
CACHE_CONTROL = "public, max-age=300"


def discovery_document(metadata: dict[str, object]) -> Document:
    return Document.json(metadata, endpoint="oidc.discovery", cache_control=CACHE_CONTROL, cors=True)


class JwksDocument:
    """The JWKS as a document, remade when the ring is reloaded or ``now`` passes a key's state change."""

    def __init__(self, ring: Callable[[], KeyRing], clock: Clock) -> None:
        self._ring = ring
        self._clock = clock
        # (ring, valid from, valid until or None, document), replaced whole: threads read it without a lock,
        # and two of them remaking it at once only both do the same work.
        self._cached: tuple[KeyRing, datetime, datetime | None, Document] | None = None

    def __call__(self) -> Document:
        ring, moment, cached = self._ring(), self._clock(), self._cached
        if (
            cached is not None
            and cached[0] is ring
            and cached[1] <= moment
            and (cached[2] is None or moment < cached[2])
        ):
            return cached[3]
        document = Document.json(
            ring.public_jwks(now=moment), endpoint="oidc.jwks", cache_control=CACHE_CONTROL, cors=True
        )
        self._cached = (ring, moment, ring.next_change(now=moment), document)
        return document


def provider_metadata(config: Config, *, acr_values: tuple[str, ...]) -> dict[str, object]:
    issuer = config.server.issuer.rstrip("/")
    claims = sorted(
        {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash"}
        | {name for names in SCOPE_CLAIMS.values() for name in names}
    )
    metadata: dict[str, object] = {
        "issuer": config.server.issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "end_session_endpoint": f"{issuer}/logout",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        # client_credentials only for clients registered for the admin API (docs/operations.md).
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "revocation_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claim_types_supported": ["normal"],
        "acr_values_supported": list(acr_values),
        "prompt_values_supported": ["none", "login", "select_account"],
        "display_values_supported": ["page", "popup", "touch"],
        "ui_locales_supported": list(config.i18n.locales),
        "claims_parameter_supported": True,
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "request_object_signing_alg_values_supported": ["none", *REQUEST_OBJECT_ALGS],
        "require_pushed_authorization_requests": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        # RFC 9396 §10: representation (idp/oidc/rich_authorization.py).
        "authorization_details_types_supported": [config.representation.authorization_details_type],
    }
    if config.registration.enabled:
        metadata["registration_endpoint"] = f"{issuer}/register"
    return metadata
