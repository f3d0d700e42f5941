"""Pages about the service: help, privacy and the accessibility statement; the provider's branding.

Every page shows the provider's name, logo and user support from config
([branding]); they come to the templates from here.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, send_file, url_for

from idp.config import Config, ConfigError
from idp.locales import LANGUAGE_NAMES

bp = Blueprint("info", __name__)

LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}


def check_branding(config: Config) -> None:
    """Refuse to start with a logo that is missing or of a kind the pages cannot show."""
    if not config.branding.logo:
        return
    path = config.path(config.branding.logo)
    if path.suffix.lower() not in LOGO_TYPES:
        raise ConfigError(f"branding.logo must be an .svg or .png file, not {config.branding.logo!r}")
    if not path.is_file():
        raise ConfigError(f"branding.logo: no file at {path}")


@bp.app_context_processor
def branding() -> dict[str, object]:
    """What base.html shows on every page: the provider, its logo and the languages offered."""
    config: Config = current_app.config["IDP"]
    logo = url_for("info.logo") if config.branding.logo else url_for("static", filename="logo.svg")
    languages = [(code, LANGUAGE_NAMES.get(code, code)) for code in config.i18n.locales]
    return {"branding": config.branding, "logo_url": logo, "languages": languages}


@bp.route("/branding/logo")
def logo():
    config: Config = current_app.config["IDP"]
    if not config.branding.logo:
        abort(404)
    path = config.path(config.branding.logo)
    return send_file(path, mimetype=LOGO_TYPES[path.suffix.lower()], max_age=3600)


@bp.route("/help")
def help_page():
    return render_template("info/help.html")


@bp.route("/privacy")
def privacy():
    return render_template("info/privacy.html")


@bp.route("/accessibility")
def accessibility():
    return render_template("info/accessibility.html")
