"""Authorization request parameters from their three sources.

* plain query or form parameters;
* a pushed authorization request (RFC 9126), named by an ``urn:`` request_uri;
* a request object (OIDC Core §6, RFC 9101), by value (``request``) or by
  reference (a ``request_uri`` the client registered), unsigned (``none``)
  or signed with the client's keys.

OIDC Core §6.3.3: the request object's values win over the plain parameters
of the same name; both are used.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urldefrag

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc9101.errors import InvalidRequestObjectError, InvalidRequestUriError
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError

from idp.clock import now
from idp.fetch import FetchError
from idp.models import Client
from idp.oidc import par
from idp.oidc.client_keys import ClientKeysError, client_keyset
from idp.untrusted import json_loads

log = logging.getLogger(__name__)

# Error descriptions are fixed strings: RFC 6749 limits their characters, and
# what a client sent (alg names, exception texts) must not break the response.
SIGNING_ALGS = ("RS256", "PS256", "ES256")
# Claims of the JWT itself, not authorization parameters.
_JWT_ONLY = ("iss", "aud", "exp", "iat", "nbf", "jti")


def expand(params: dict[str, str], client: Client | None) -> dict[str, str]:
    """The parameters the request really carries; raises an OAuth2Error naming what is wrong."""
    if client is None:
        return params  # the grant's own validation reports the unknown client
    request_uri = params.get("request_uri", "")
    if request_uri.startswith(par.URN_PREFIX):
        return par.take(request_uri, client)
    if client.require_pushed_authorization_requests:
        raise InvalidRequestError("This client must push its authorization requests (RFC 9126).")
    return expand_request_object(params, client)


def expand_request_object(params: dict[str, str], client: Client) -> dict[str, str]:
    if "request" in params and "request_uri" in params:
        raise InvalidRequestError("Send either request or request_uri, not both.")
    if "request_uri" in params:
        raw = _fetch_registered(params["request_uri"], client)
    elif "request" in params:
        raw = params["request"]
    else:
        return params
    claims = decode(raw, client)
    if "client_id" in claims and claims["client_id"] != params.get("client_id"):
        raise InvalidRequestObjectError("The request object's client_id differs from the request's.")
    if "response_type" in claims and "response_type" in params and claims["response_type"] != params["response_type"]:
        raise InvalidRequestObjectError("The request object's response_type differs from the request's.")
    merged = {k: v for k, v in params.items() if k not in ("request", "request_uri")}
    for name, value in claims.items():
        if name not in _JWT_ONLY:
            merged[name] = value if isinstance(value, str) else json.dumps(value)
    return merged


def _fetch_registered(request_uri: str, client: Client) -> str:
    # Only URIs the client registered are fetched (OIDC Registration §2): no open fetcher.
    registered = {urldefrag(uri).url for uri in client.request_uris or []}
    if urldefrag(request_uri).url not in registered:
        raise InvalidRequestUriError("The request_uri is not registered for this client.")
    try:
        return current_app.extensions["idp.fetcher"].get(request_uri).decode("utf-8", errors="replace").strip()
    except FetchError as exc:
        log.info("request_uri of %s not fetched: %s", client.client_id, exc)
        raise InvalidRequestUriError("The request_uri could not be fetched.") from None


def _b64json(part: str) -> dict:
    value = json_loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def decode(raw: str, client: Client) -> dict:
    """The request object's claims after checking alg, signature, iss, aud and exp."""
    parts = raw.split(".")
    if len(parts) == 5:
        raise InvalidRequestObjectError("Encrypted request objects are not supported.")
    if len(parts) != 3:
        raise InvalidRequestObjectError("The request object is not a JWT.")
    try:
        header = _b64json(parts[0])
    except ValueError:
        raise InvalidRequestObjectError("The request object's header is not valid.") from None
    alg = header.get("alg")
    wanted = client.request_object_signing_alg
    if wanted and alg != wanted:
        raise InvalidRequestObjectError(f"This client's request objects must use {wanted}.")
    if alg == "none":
        if parts[2]:
            raise InvalidRequestObjectError("An unsigned request object has no signature.")
        try:
            claims = _b64json(parts[1])
        except ValueError:
            raise InvalidRequestObjectError("The request object's payload is not valid.") from None
    elif alg in SIGNING_ALGS:
        try:
            keys = client_keyset(client, kid=header.get("kid"))
            claims = dict(jwt.decode(raw, keys, algorithms=[alg]).claims)
        except (ClientKeysError, JoseError, ValueError) as exc:
            log.info("request object of %s refused: %s", client.client_id, exc)
            raise InvalidRequestObjectError("The request object's signature is not valid.") from None
    else:
        raise InvalidRequestObjectError("The request object's alg is not supported.")
    _check_claims(claims, client, signed=alg != "none")
    return claims


def _check_claims(claims: dict, client: Client, *, signed: bool) -> None:
    issuer = current_app.config["IDP"].server.issuer
    moment = now().timestamp()
    if signed and "iss" in claims and claims["iss"] != client.client_id:
        raise InvalidRequestObjectError("The request object's iss must be the client_id.")
    aud = claims.get("aud")
    if signed and aud is not None:
        audiences = aud if isinstance(aud, list) else [aud]
        if issuer not in audiences:
            raise InvalidRequestObjectError("The request object's aud must be this issuer.")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < moment - 30):
        raise InvalidRequestObjectError("The request object has expired.")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf > moment + 30):
        raise InvalidRequestObjectError("The request object is not valid yet.")
