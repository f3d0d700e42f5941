"""Error pages for citizens: a title, what to do next, and the right status."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _


def error_page(title: str, message: str, *, status: int = 400, detail: str | None = None):
    return render_template("error.html", title=title, message=message, detail=detail), status


def login_expired_page():
    return error_page(_("This login has expired"), _("Go back to the service and start the login again."))
