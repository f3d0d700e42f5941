"""Error pages for citizens: a title, what to do next, and the right status."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _


def error_page(title: str, message: str, *, status: int = 400, detail: str | None = None):
    return render_template("error.html", title=title, message=message, detail=detail), status


def login_expired_page():
    return error_page(_("This login has expired"), _("Go back to the service and start the login again."))


def wait_message(seconds: int, *, network: bool = False) -> str:
    """Why the citizen must wait, and how long: the same words on every page that checks a secret."""
    minutes = max(1, -(-seconds // 60))
    if network:
        return _(
            "There have been too many failed attempts from your network. Wait %(minutes)s minute(s) and try again.",
            minutes=minutes,
        )
    if minutes > 120:
        return _(
            "There have been many failed attempts. To protect your account, wait %(hours)s hour(s) and try again.",
            hours=-(-minutes // 60),
        )
    return _(
        "There have been several failed attempts. To protect your account, wait %(minutes)s minute(s) and try again.",
        minutes=minutes,
    )
