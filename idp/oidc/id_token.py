"""ID tokens (OIDC Core §2), signed with the provider's current key for the client's algorithm."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from flask import current_app
from joserfc import jwt

from idp.clock import now
from idp.models import Client
from idp.oidc.claims import subject_for

if TYPE_CHECKING:
    from idp.oidc.server import Authentication

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: left half of the hash named by the JWS alg (OIDC Core §3.1.3.6)."""
    digest = _HASHES[alg[-3:]](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def build_id_token(
    *, client: Client, auth: Authentication, scope: str, nonce: str | None, access_token: str | None
) -> str:
    config = current_app.config["IDP"]
    alg = client.id_token_signed_response_alg
    key = current_app.extensions["idp.keys"].signing_key(alg, now=now())
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
    if "pid" in scope.split():
        claims["pid"] = auth.citizen.pid
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])
