"""Pages outside a login: the front page and the language choice."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

bp = Blueprint("pages", __name__)


@bp.route("/")
def index():
    return render_template("index.html")


@bp.route("/language/<lang>")
def language(lang: str):
    """Remember the citizen's language; works without JavaScript."""
    back = request.args.get("next", "")
    # Only local paths: never an open redirect.
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("pages.index")
    response = redirect(back)
    if lang in current_app.config["IDP"].i18n.locales:
        response.set_cookie(
            "lang",
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["IDP"].server.secure_cookies,
        )
    return response
