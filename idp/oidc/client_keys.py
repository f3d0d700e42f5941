"""A client's public keys: registered ``jwks`` or fetched from its ``jwks_uri``.

Fetched sets are cached briefly per process; an unknown ``kid`` refetches
once, so a relying party that rotates its keys is followed without waiting.
Parsed key sets are cached by the JWKS they were parsed from: importing RSA
keys on every ``private_key_jwt`` request cost more than verifying the
assertion, and a changed registration is a new cache key, so it counts at once.
"""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache

import requests
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.models import Client

_CACHE_SECONDS = 300
_MAX_BYTES = 64 * 1024
_PARSED_SETS = 256  # parsed key sets kept per process (a few kB each)
_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


class ClientKeysError(ValueError):
    """The client has no usable keys."""


def fetch(uri: str, *, timeout: float = 5.0) -> str:
    """GET a small document from a URI a client registered; redirects are not followed.

    With an https issuer only https is fetched, so a registration cannot point
    us at plain-http services; the test provider on http://127.0.0.1 may fetch http.
    """
    if current_app.config["IDP"].server.issuer.startswith("https://") and not uri.startswith("https://"):
        raise ClientKeysError(f"{uri} is not https")
    try:
        response = requests.get(uri, timeout=timeout, allow_redirects=False, stream=True)
        body = response.raw.read(_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ClientKeysError(f"could not fetch {uri}: {exc.__class__.__name__}") from None
    if response.status_code != 200 or len(body) > _MAX_BYTES:
        raise ClientKeysError(f"{uri} answered {response.status_code}")
    return body.decode("utf-8", errors="replace")


def fetch_json(uri: str) -> object:
    try:
        return json.loads(fetch(uri))
    except ValueError:
        raise ClientKeysError(f"{uri} did not return JSON") from None


def client_keyset(client: Client, *, kid: str | None = None) -> KeySet:
    """The client's keys; raises :class:`ClientKeysError` when there are none."""
    if client.jwks:
        return _parsed(json.dumps(client.jwks, sort_keys=True))
    if not client.jwks_uri:
        raise ClientKeysError("the client has no registered keys")
    with _lock:
        cached = _cache.get(client.jwks_uri)
    fresh = cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS
    known = cached is not None and (kid is None or any(k.get("kid") == kid for k in cached[1].get("keys", [])))
    if not (fresh and known):
        data = fetch_json(client.jwks_uri)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ClientKeysError("the client's jwks_uri did not return a JWK set")
        with _lock:
            _cache[client.jwks_uri] = (time.monotonic(), data)
        cached = (time.monotonic(), data)
    return _parsed(json.dumps(cached[1], sort_keys=True))


@lru_cache(maxsize=_PARSED_SETS)
def _parsed(jwks: str) -> KeySet:
    """The key set in ``jwks`` (canonical JSON text), parsed once while it stays in use."""
    try:
        return KeySet.import_key_set(json.loads(jwks))
    except (JoseError, ValueError) as exc:
        raise ClientKeysError(f"the client's keys are invalid: {exc}") from None
