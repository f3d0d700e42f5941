"""A new password the citizen chooses (ordering an account, a forgotten password): the rules'
verdict as notices the page words (idp/web/notices.py), and the strength meter's value. The meter is the server's answer
after a submit, so it needs no JavaScript."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from flask import current_app
from flask_babel import lazy_gettext as _l

from idp.policy.passwords import assess
from idp.web.notices import notice

STRENGTH_LABELS = (_l("Very weak"), _l("Weak"), _l("Fair"), _l("Strong"), _l("Very strong"))


def check_new_password(password: str, repeat: str, *, personal: Iterable[str]) -> tuple[dict[str, dict], int | None]:
    """Field notices ({"password": ..., "repeat": ...}) and the meter's score (None: nothing to measure)."""
    config = current_app.config["IDP"].passwords
    if not password:
        return {"password": notice("choose_password")}, None
    if any(unicodedata.category(char) == "Cc" for char in password):
        return {"password": notice("password_control")}, None
    assessment = assess(config, password, personal=personal)
    errors: dict[str, dict] = {}
    problem = assessment.problems[0] if assessment.problems else None
    if problem in ("too_long", "too_short", "leaked", "personal", "weak"):
        errors["password"] = notice(f"password_{problem}")
    if not errors and repeat != password:
        errors["repeat"] = notice("passwords_differ")
    return errors, assessment.score
