"""Pages outside a login: the front page and the language choice."""

from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from idp import transactions
from idp.locales import LANGUAGE_COOKIE

bp = Blueprint("pages", __name__)

# A page of ours fits: the login pages' URLs carry a transaction id, not the request. A longer
# value would only make a Location header as long (the fuzz suite caps headers at 8 KB).
MAX_NEXT_LENGTH = 2048


@bp.route("/")
def index():
    return render_template("index.html")


@bp.route("/language/<lang>")
def language(lang: str):
    """Remember the citizen's language; works without JavaScript.

    Mid-login the choice also replaces the service's ``ui_locales`` in the login
    transaction: the service's wish goes before a choice remembered from earlier,
    but not before one the citizen makes now.
    """
    next_path = local_path(request.args.get("next", ""))
    response = redirect(next_path or url_for("pages.index"))
    if lang in current_app.config["IDP"].i18n.locales:
        _choose_for_login(next_path, lang)
        response.set_cookie(
            LANGUAGE_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["IDP"].server.secure_cookies,
        )
    return response


def _choose_for_login(next_path: str | None, lang: str) -> None:
    """Write ``lang`` into the login transaction the page at ``next_path`` belongs to, if any."""
    tx_id = parse_qs(urlsplit(next_path or "").query).get("tx", [""])[0]
    tx = transactions.load(tx_id)
    if tx is not None and tx.params.get("ui_locales"):
        tx.params["ui_locales"] = lang
        transactions.save(tx)


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
