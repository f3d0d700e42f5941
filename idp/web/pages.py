"""Pages outside a login: the front page and the language choice."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for

bp = Blueprint("pages", __name__)

# A page of ours fits: the login pages' URLs carry a transaction id, not the request. A longer
# value would only make a Location header as long (the fuzz suite caps headers at 8 KB).
MAX_NEXT_LENGTH = 2048


@bp.route("/")
def index():
    return render_template("index.html")


@bp.route("/language/<lang>")
def language(lang: str):
    """Remember the citizen's language; works without JavaScript."""
    response = redirect(local_path(request.args.get("next", "")) or url_for("pages.index"))
    if lang in current_app.config["IDP"].i18n.locales:
        response.set_cookie(
            "lang",
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["IDP"].server.secure_cookies,
        )
    return response


def local_path(value: str) -> str | None:
    """``value`` if it is a path on this site, else None: never an open redirect.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so
    ``/%09/evil.example`` and ``/\\evil.example`` would leave the site: any such
    character refuses the value, and what is left must have no scheme or host.
    """
    if len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return None
    if any(c.isspace() or c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return None
    return value
