"""A client's public keys: registered ``jwks`` or fetched from its ``jwks_uri``.

A fetched set is kept five minutes. A ``kid`` not in it refetches, so a relying
party that rotates its keys is followed at once; but such refetches happen at
most once per ``fetch.jwks_refetch_seconds`` per ``jwks_uri``, and so does a
fetch after one that failed, so an unauthenticated caller who sends assertions
with random ``kid`` values (or names a client whose host is down or slow)
cannot make us fetch on every request. The cache and the cap are per worker
process: with W workers a ``jwks_uri`` sees at most W such refetches per period.

Parsed key sets are cached by the JWKS they were parsed from: importing RSA
keys on every ``private_key_jwt`` request cost more than verifying the
assertion, and a changed registration is a new cache key, so it counts at once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.fetch import FetchError
from idp.models import Client

_CACHE_SECONDS = 300
_PARSED_SETS = 256  # parsed key sets kept per process (a few kB each)


class ClientKeysError(ValueError):
    """The client has no usable keys."""


@dataclass
class _Fetched:
    """What one process knows of one ``jwks_uri``."""

    # (when, the JWK set) of the last successful fetch; one attribute, so readers see a matching pair.
    latest: tuple[float, dict] | None = None
    # The last fetch made off schedule: for a kid we had not seen, or one that failed.
    refetched_at: float = -math.inf
    # One fetch per jwks_uri at a time; requests that need it wait for its result.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serves(self, kid: str | None, moment: float) -> dict | None:
        """The fresh key set when it has ``kid`` (any key when None), else None."""
        latest = self.latest
        if latest is None or moment - latest[0] >= _CACHE_SECONDS:
            return None
        keys = latest[1]
        return keys if kid is None or any(isinstance(k, dict) and k.get("kid") == kid for k in keys["keys"]) else None


_fetched: dict[str, _Fetched] = {}
_fetched_lock = threading.Lock()


def client_keyset(client: Client, *, kid: str | None = None) -> KeySet:
    """The client's keys; raises :class:`ClientKeysError` when there are none."""
    if client.jwks:
        return _parsed(json.dumps(client.jwks, sort_keys=True))
    if not client.jwks_uri:
        raise ClientKeysError("the client has no registered keys")
    return _parsed(json.dumps(_jwk_set(client.jwks_uri, kid), sort_keys=True))


def _jwk_set(uri: str, kid: str | None) -> dict:
    with _fetched_lock:
        entry = _fetched.setdefault(uri, _Fetched())
    if (keys := entry.serves(kid, time.monotonic())) is not None:
        return keys
    if not entry.lock.acquire(blocking=False):
        # Another request is fetching. With fresh keys, answer from them rather than hold
        # this worker too; with none, wait for that fetch (it ends by the deadline).
        if (fresh := entry.serves(None, time.monotonic())) is not None:
            return fresh
        entry.lock.acquire()
    try:
        moment = time.monotonic()
        if (keys := entry.serves(kid, moment)) is not None:
            return keys  # fetched by another request while this one waited
        fresh = entry.serves(None, moment)
        if moment - entry.refetched_at < current_app.config["IDP"].fetch.jwks_refetch_seconds:
            if fresh is not None:
                return fresh  # the unknown kid then fails the signature check: invalid_client
            raise ClientKeysError(f"{uri} gave no key set moments ago and is not fetched again yet")
        if fresh is not None:
            entry.refetched_at = moment
        try:
            data = current_app.extensions["idp.fetcher"].get_json(uri)
        except FetchError as exc:
            entry.refetched_at = moment
            raise ClientKeysError(str(exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            entry.refetched_at = moment
            raise ClientKeysError("the client's jwks_uri did not return a JWK set")
        entry.latest = (moment, data)
        return data
    finally:
        entry.lock.release()


@lru_cache(maxsize=_PARSED_SETS)
def _parsed(jwks: str) -> KeySet:
    """The key set in ``jwks`` (canonical JSON text), parsed once while it stays in use."""
    try:
        return KeySet.import_key_set(json.loads(jwks))
    except (JoseError, ValueError, TypeError) as exc:  # what joserfc raises for a malformed set
        raise ClientKeysError(f"the client's keys are invalid: {exc}") from None
