"""OpenID Provider metadata (OIDC Discovery §3, RFC 8414), built once per app.

It lists only what the provider does: tests/conformance checks each entry against behaviour.
"""

from __future__ import annotations

from idp.config import Config
from idp.oidc.claims import SCOPE_CLAIMS, SCOPES_SUPPORTED
from idp.oidc.request_object import SIGNING_ALGS as REQUEST_OBJECT_ALGS
from idp.oidc.response_mode import SUPPORTED as RESPONSE_MODES
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS

ID_TOKEN_ALGS = ("RS256", "PS256", "ES256")
CONFIDENTIAL_AUTH_METHODS = [m for m in TOKEN_ENDPOINT_AUTH_METHODS if m != "none"]


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
        "grant_types_supported": ["authorization_code", "refresh_token"],
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
    }
    if config.registration.enabled:
        metadata["registration_endpoint"] = f"{issuer}/register"
    return metadata
