"""Pushed authorization requests (RFC 9126).

The client authenticates and pushes its parameters; it gets back a one-time
``urn:ietf:params:oauth:request_uri:`` that only it may use, for 90 seconds.
The parameters are validated when pushed, so errors reach the client
directly instead of through the browser.
"""

from __future__ import annotations

import secrets

from authlib.oauth2.rfc9101.errors import InvalidRequestUriError
from flask import current_app

from idp.models import Client

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME_SECONDS = 90  # RFC 9126 §2.2 suggests 5-600 s; short limits replay of a leaked URI
NAMESPACE = "par"


def _store():
    return current_app.extensions["idp.store"]


def push(params: dict[str, str], client: Client) -> str:
    """Keep validated parameters; returns the request_uri."""
    key = secrets.token_urlsafe(32)
    _store().put(NAMESPACE, key, {"client_id": client.client_id, "params": params}, ttl=LIFETIME_SECONDS)
    return URN_PREFIX + key


def take(request_uri: str, client: Client) -> dict[str, str]:
    """The pushed parameters, once; another client's, expired or used URIs are ``invalid_request_uri``."""
    data = _store().take(NAMESPACE, request_uri[len(URN_PREFIX) :])
    if data is None:
        raise InvalidRequestUriError("The request_uri is unknown, expired or already used.")
    if data["client_id"] != client.client_id:
        raise InvalidRequestUriError("The request_uri was pushed by another client.")
    return data["params"]
