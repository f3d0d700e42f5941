"""Delivering authorization responses: RFC 9207 ``iss``, then query or form_post.

form_post (OAuth 2.0 Form Post Response Mode) renders a form that a static
script submits; without JavaScript the citizen presses its button. Our CSP
forbids inline script, so the page never relies on one.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.common.urls import add_params_to_uri
from flask import Response, current_app, render_template

SUPPORTED = ("query", "form_post")
# What an authorization response adds to the redirect URI (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
_RESPONSE_PARAMS = ("code", "state", "error", "error_description", "error_uri", "iss")


def deliver(response: Response, response_mode: str | None) -> Response:
    """``response`` (Authlib's redirect) with ``iss`` added, as a form post when asked for."""
    if not response.location:
        return response
    location = add_params_to_uri(response.location, [("iss", current_app.config["IDP"].server.issuer)])
    if response_mode != "form_post":
        response.location = location
        return response
    parts = urlsplit(location)
    query = parse_qsl(parts.query, keep_blank_values=True)
    fields = [(k, v) for k, v in query if k in _RESPONSE_PARAMS]
    action = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k not in _RESPONSE_PARAMS])))
    page = Response(render_template("form_post.html", action=action, fields=fields), 200, mimetype="text/html")
    page.headers["Cache-Control"] = "no-store"
    return page
