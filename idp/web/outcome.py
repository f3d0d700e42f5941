"""Redirect after every POST: what a POST found (field errors, a message, the values to show again)
waits in the store for the GET page that follows, named by a nonce in the signed session cookie.

The values stay on the server: a typed identity number must not ride in a cookie. Passwords
and codes are never kept; the page asks for them again. Errors and messages are kept as
notices (idp/web/notices.py), keys rather than text, so the page words them in its own
language: a reload or a language switch shows the same outcome in the new language. An
outcome lasts until the next POST of any form (or ten minutes).
"""

from __future__ import annotations

import secrets

from flask import current_app, request
from flask import session as browser_session

from idp.clock import now
from idp.web import notices

OUTCOMES = "page_outcome"  # store namespace
_SECONDS = 600


def remember(page: str, **outcome: object) -> None:
    """Keep ``outcome`` (errors: {field: notice}, message: notice, values, ...) for the GETs of ``page``."""
    key = secrets.token_urlsafe(16)
    current_app.extensions["idp.store"].put(OUTCOMES, key, outcome, ttl=_SECONDS)
    browser_session[f"outcome:{page}"] = key


def recall(page: str) -> dict:
    """What the last POST for ``page`` left, its errors and message worded in the page's language; {} if nothing."""
    key = browser_session.get(f"outcome:{page}")
    outcome = current_app.extensions["idp.store"].get(OUTCOMES, key) if isinstance(key, str) else None
    if not isinstance(outcome, dict):
        return {}
    moment = now()
    return {
        **outcome,
        "errors": notices.worded(outcome.get("errors"), moment),
        "message": notices.wording(outcome.get("message"), moment),
    }


def forget_on_post() -> None:
    """A form is being sent: what earlier forms left is done with (runs before every request)."""
    if request.method == "POST":
        for name in [name for name in browser_session if name.startswith("outcome:")]:
            browser_session.pop(name)
