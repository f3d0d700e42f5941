"""Redirect after every POST: what a POST found (field errors, a message, the values to show again)
waits in the store for the GET page that follows, named by a nonce in the signed session cookie.

The values stay on the server: a typed identity number must not ride in a cookie. Passwords
and codes are never kept; the page asks for them again.
"""

from __future__ import annotations

import secrets

from flask import current_app
from flask import session as browser_session

OUTCOMES = "page_outcome"  # store namespace
_SECONDS = 600


def remember(page: str, **outcome: object) -> None:
    """Keep ``outcome`` (errors: {field: message}, values, message, ...) for the next GET of ``page``."""
    key = secrets.token_urlsafe(16)
    current_app.extensions["idp.store"].put(OUTCOMES, key, outcome, ttl=_SECONDS)
    browser_session[f"outcome:{page}"] = key


def recall(page: str) -> dict:
    """What the last POST for ``page`` left, once; empty when nothing (or a reload shows it again)."""
    key = browser_session.pop(f"outcome:{page}", None)
    if not isinstance(key, str):
        return {}
    return current_app.extensions["idp.store"].take(OUTCOMES, key) or {}
