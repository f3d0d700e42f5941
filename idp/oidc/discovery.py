"""OpenID Provider metadata (OIDC Discovery §3, RFC 8414), built once per app.

It lists only what the provider does: a test checks each entry against behaviour.
"""

from __future__ import annotations

from idp.config import Config
from idp.oidc.claims import SCOPE_CLAIMS, SCOPES_SUPPORTED
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS

ID_TOKEN_ALGS = ("RS256", "PS256", "ES256")


def provider_metadata(config: Config, *, acr_values: tuple[str, ...]) -> dict[str, object]:
    issuer = config.server.issuer.rstrip("/")
    claims = sorted(
        {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash"}
        | {name for names in SCOPE_CLAIMS.values() for name in names}
    )
    return {
        "issuer": config.server.issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "acr_values_supported": list(acr_values),
        "ui_locales_supported": list(config.i18n.locales),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }
