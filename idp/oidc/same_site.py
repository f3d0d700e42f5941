"""Cross-site form POSTs and our SameSite=Lax session cookie.

A relying party may POST to /authorize or /logout from its own origin. The
browser then leaves out our session cookie (SameSite=Lax), so SSO, prompt=none
and logout would not see the session. Answering 303 turns the request into a
top-level GET navigation, which does carry the cookie.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, current_app, redirect, request

# Proxies and servers commonly cap the request line near 4 KB (gunicorn and nginx's default buffer): longer
# requests are served as POSTed.
MAX_URL_BYTES = 4000


def resend_as_get(params: dict[str, str]) -> Response | None:
    """A 303 to the same endpoint by GET when a POST came without our session cookie, else None."""
    if request.method != "POST" or current_app.config["IDP"].session.cookie_name in request.cookies:
        return None
    url = f"{request.path}?{urlencode(params)}"
    if len(url.encode()) > MAX_URL_BYTES:
        return None
    return redirect(url, 303)
