"""ID tokens (OIDC Core §2), signed with the provider's current key for the client's algorithm."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idp.clock import now
from idp.models import Client
from idp.oidc.claims import granted, released_claims, subject_for
from idp.oidc.claims_request import requested_names
from idp.oidc.keys import KeyRing
from idp.policy import release

if TYPE_CHECKING:
    from idp.oidc.server import Authentication

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: left half of the hash named by the JWS alg (OIDC Core §3.1.3.6)."""
    digest = _HASHES[alg[-3:]](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def keyring() -> KeyRing:
    """The signing keys in use now.

    A rotation done with ``idp keys rotate``, on this node or another, is picked up
    by the key reload check of :class:`idp.ops.RequestMiddleware`, which swaps in the
    new ring here every ``keys.reload_check_seconds``.
    """
    return current_app.extensions["idp.keys"]


def sign(claims: dict, *, alg: str, typ: str = "JWT") -> str:
    """A JWS by the provider's active key for ``alg``, its kid in the header."""
    key = keyring().signing_key(alg, now=now())
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": typ}, claims, key, algorithms=[alg])


def build_id_token(
    *,
    client: Client,
    auth: Authentication,
    scope: str,
    nonce: str | None,
    access_token: str | None,
    claims_request: dict | None = None,
) -> str:
    config = current_app.config["IDP"]
    alg = client.id_token_signed_response_alg
    issued = int(now().timestamp())
    claims: dict[str, object] = {
        "iss": config.server.issuer,
        "sub": subject_for(auth.citizen, client),
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": issued,
        "exp": issued + config.tokens.id_token_seconds,
        "auth_time": int(auth.auth_time.timestamp()),
    }
    if nonce:
        claims["nonce"] = nonce
    if auth.acr:
        claims["acr"] = auth.acr
    if auth.amr:
        claims["amr"] = list(auth.amr)
    if auth.sid:
        claims["sid"] = auth.sid
    if access_token:
        claims["at_hash"] = half_hash(access_token, alg)
    if auth.authorization_details is not None:
        claims["authorization_details"] = auth.authorization_details  # RFC 9396 §9.1; [] when acting as oneself
    names = release.id_token_claims(
        scopes=granted(scope, client), requested=requested_names(claims_request, "id_token")
    )
    # The protocol claims above win over a citizen's claim of the same name.
    for name, value in released_claims(auth.citizen, names, locale=auth.locale).items():
        claims.setdefault(name, value)
    return sign(claims, alg=alg)


def verify_own_id_token(value: str) -> dict | None:
    """The claims of an ID token this provider signed, or None.

    For ``id_token_hint`` (authorization and logout): the signature and the
    issuer must be ours; expiry is not checked, since OIDC Core §3.1.2.1 and
    RP-Initiated Logout §2 let relying parties send expired ID tokens as hints.
    """
    try:
        token = jwt.decode(value, keyring().public_keyset(now=now()), algorithms=["RS256", "PS256", "ES256"])
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    if claims.get("iss") != current_app.config["IDP"].server.issuer or not isinstance(claims.get("sub"), str):
        return None
    return claims


def audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]
