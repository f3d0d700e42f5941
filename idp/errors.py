"""Error pages for citizens: a title, what to do next, and the right status; JSON for the machine endpoints."""

from __future__ import annotations

from flask import Response, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

# Endpoints relying parties call from their servers: they get OAuth-style JSON errors, never a page.
MACHINE_ENDPOINTS = frozenset(
    {
        "oidc.token",
        "oidc.userinfo",
        "oidc.pushed_authorization_request",
        "oidc.revoke",
        "oidc.introspect",
        "registration.register",
        "registration.manage",
    }
)


# What a refused request's error code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9101, RFC 9126)
# means, in the page's language: the code itself is shown apart, for the service's developers.
OAUTH_ERROR_MEANINGS = {
    "invalid_request": _l("The request from the service is incomplete or has an error in it."),
    "invalid_client": _l("We do not know the service, or it could not prove who it is."),
    "unauthorized_client": _l("The service is not allowed to ask for a login this way."),
    "access_denied": _l("The login was refused."),
    "unsupported_response_type": _l("The service asked for a kind of answer we do not give."),
    "invalid_scope": _l("The service asked for information it is not registered for."),
    "invalid_request_uri": _l("The service's request could not be fetched or used."),
    "invalid_request_object": _l("The service's signed request could not be used."),
    "request_not_supported": _l("The service sent its request in a way we do not support."),
    "request_uri_not_supported": _l("The service sent its request in a way we do not support."),
    "server_error": _l("Something went wrong on our side."),
}


def error_page(title: str, message: str, *, status: int = 400, code: str | None = None, description: str | None = None):
    """A citizen's error page. ``code`` is a protocol error code, shown apart with what it means;
    ``description`` is the developers' English text, shown on English pages only."""
    return render_template(
        "error.html",
        title=title,
        message=message,
        code=code,
        meaning=OAUTH_ERROR_MEANINGS.get(code or ""),
        description=description,
    ), status


def login_expired_page():
    return error_page(_("This login has expired"), _("Go back to the service and start the login again."))


def wait_message(seconds: int, *, network: bool = False) -> str:
    """Why the citizen must wait, and how long: the same words on every page that checks a secret."""
    minutes = max(1, -(-seconds // 60))
    if network:
        return ngettext(
            "There have been too many failed attempts from your network. Wait %(num)d minute and try again.",
            "There have been too many failed attempts from your network. Wait %(num)d minutes and try again.",
            minutes,
        )
    if minutes > 120:
        return ngettext(
            "There have been many failed attempts. To protect your account, wait %(num)d hour and try again.",
            "There have been many failed attempts. To protect your account, wait %(num)d hours and try again.",
            -(-minutes // 60),
        )
    return ngettext(
        "There have been several failed attempts. To protect your account, wait %(num)d minute and try again.",
        "There have been several failed attempts. To protect your account, wait %(num)d minutes and try again.",
        minutes,
    )


def for_machine() -> bool:
    """Whether this request came to an endpoint that answers JSON (RFC 6749 §5.2 errors)."""
    endpoint = request.url_rule.endpoint if request.url_rule is not None else ""
    # Every route of the admin API and the app's API (idp/api), and any path under them (a 404 or 405 has no route).
    return (
        endpoint in MACHINE_ENDPOINTS
        or endpoint.startswith(("admin_api.", "app_api."))
        or request.path.startswith(("/admin/v1/", "/app/v1/"))
    )


def machine_error(error: str, description: str, status: int):
    """A JSON API's error answer: ``{"error", "error_description"}``, never cached."""
    response = jsonify(error=error, error_description=description)
    response.headers["Cache-Control"] = "no-store"
    return response, status


def bad_request(_error: Exception):
    """A 400 from anywhere before the view (a malformed body, a NUL): ``invalid_request`` or the page."""
    if request_ctx.url_adapter is None:
        # Routing itself failed on the Host header: no page can be drawn, it links our own URLs.
        return Response("Bad Request\n", 400, mimetype="text/plain")
    if for_machine():
        return machine_error("invalid_request", "The request is malformed.", 400)
    return error_page(_("Something in the request was wrong"), _("Go back and try again."), status=400)
