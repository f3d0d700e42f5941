"""A new password the citizen chooses (ordering an account, a forgotten password): the rules'
verdict worded for the page, and the strength meter's value. The meter is the server's answer
after a submit, so it needs no JavaScript."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.policy.passwords import assess

STRENGTH_LABELS = (_l("Very weak"), _l("Weak"), _l("Fair"), _l("Strong"), _l("Very strong"))


def check_new_password(password: str, repeat: str, *, personal: Iterable[str]) -> tuple[dict[str, str], int | None]:
    """Field errors ({"password": ..., "repeat": ...}) and the meter's score (None: nothing to measure)."""
    config = current_app.config["IDP"].passwords
    if not password:
        return {"password": _("Choose a password.")}, None
    if any(unicodedata.category(char) == "Cc" for char in password):
        return {"password": _("The password has characters that cannot be typed, such as control characters.")}, None
    assessment = assess(config, password, personal=personal)
    errors: dict[str, str] = {}
    problem = assessment.problems[0] if assessment.problems else None
    if problem == "too_long":
        errors["password"] = _("Use at most %(num)d characters.", num=config.max_length)
    elif problem == "too_short":
        errors["password"] = _("Use at least %(num)d characters.", num=config.min_length)
    elif problem == "leaked":
        errors["password"] = _("This password is on lists of leaked passwords, so it is tried first. Choose another.")
    elif problem == "personal":
        errors["password"] = _("The password is easy to guess from your name, number or phone. Choose another.")
    elif problem == "weak":
        errors["password"] = _(
            "The password is too easy to guess. A few words that do not belong together make a strong one."
        )
    if not errors and repeat != password:
        errors["repeat"] = _("The two passwords are not the same.")
    return errors, assessment.score
