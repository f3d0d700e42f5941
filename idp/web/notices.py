"""What a page says after one of its forms was sent.

Every form answers with a redirect to a page (redirect after POST), so a reload, Back or
another language never sends a password or code again. What that page must say is kept
beside its state (the login transaction, the profile's pending step) as a key, not as text:
the page drawn after the redirect words it in its own language. A notice with a wait keeps
the moment the wait ends and is worded with the seconds or minutes left, until they have run out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from idp.clock import now
from idp.errors import wait_message


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


# Each takes the seconds left (0 for a notice without a wait).
MESSAGES: dict[str, Callable[[int], str]] = {
    "expired_form": lambda _s: _("The page had been open too long. Fill it in again."),
    "pid_missing": lambda _s: _("Type your national identity number."),
    "pid_malformed": lambda _s: _("A national identity number has 11 digits. Check the number and try again."),
    "pid_invalid": lambda _s: _("That is not a valid national identity number. Check the digits and try again."),
    "password_missing": lambda _s: _("Type your password."),
    "wrong_password": lambda _s: _("The national identity number or the password is wrong."),
    "code_missing": lambda _s: _("Type the code."),
    "code_wrong": lambda _s: _("The code is wrong. Check it and try again."),
    "code_expired": lambda _s: _("The code has expired. Ask for a new one."),
    "code_exhausted": lambda _s: _("Too many wrong codes. Ask for a new one."),
    "code_replay": lambda _s: _("That code has already been used."),
    "totp_wrong": lambda _s: _("The code is wrong. Check the time on your phone and try again."),
    "app_missing": lambda _s: _("Approve the login in the app on your phone."),
    "app_pending": lambda _s: _("The app has not answered yet. Approve the login in the app, then try again."),
    "app_denied": lambda _s: _("The login was denied in the app."),
    "app_wrong_number": lambda _s: _("The wrong number was chosen in the app, so the login was stopped."),
    "app_expired": lambda _s: _("The request to the app has expired."),
    "app_device_removed": lambda _s: _("The phone that answered has been removed from your profile."),
    "app_wrong": lambda _s: _("The answer from the app could not be verified."),
    "app_replay": lambda _s: _("That answer from the app has already been used."),
    "webauthn_missing": lambda _s: _("No passkey was used. Passkeys need JavaScript in the browser."),
    "webauthn_wrong": lambda _s: _("That passkey was not accepted. Try again, or use something else."),
    "webauthn_expired": lambda _s: _("The page had been open too long. Try the passkey again."),
    "webauthn_replay": lambda _s: _("That answer from the passkey has already been used. Try again."),
    "webauthn_counter": lambda _s: _(
        "That passkey may have been copied, so we cannot accept it. Use something else, and contact user support."
    ),
    "webauthn_not_enough": lambda _s: _(
        "A passkey alone is not enough for this service. Log in with your national identity number and password."
    ),
    "webauthn_duplicate": lambda _s: _("That passkey is already set up."),
    "nickname_missing": lambda _s: _("Give the passkey a name."),
    "code_or_number_wrong": lambda _s: _("The code is wrong or has expired."),
    "resend_wait": lambda s: ngettext(
        "You can ask for a new code in %(num)s second.", "You can ask for a new code in %(num)s seconds.", s
    ),
    "sends_used": lambda _s: _(
        "You have asked for as many codes as one login allows. Use the last code you got, or cancel and log in again."
    ),
    "codes_account": lambda s: ngettext(
        "Many codes have been sent for your account. You can ask for a new code in %(num)s minute.",
        "Many codes have been sent for your account. You can ask for a new code in %(num)s minutes.",
        _minutes(s),
    ),
    "codes_network": lambda s: ngettext(
        "Many codes have been sent to your network. You can ask for a new code in %(num)s minute.",
        "Many codes have been sent to your network. You can ask for a new code in %(num)s minutes.",
        _minutes(s),
    ),
    "send_failed": lambda _s: _("Sending the code failed. Try again in a little while."),
    "phone_missing": lambda _s: _("Type a mobile number."),
    "phone_invalid": lambda _s: _(
        "That is not a mobile number we can send to. Type 8 digits, or + and the country code."
    ),
    "not_enrollable": lambda _s: _("That way of logging in can no longer be set up."),
    "not_removed": lambda _s: _("That could not be removed."),
    "not_chosen": lambda _s: _("That could not be chosen."),
    "current_missing": lambda _s: _("Type your current password."),
    "new_missing": lambda _s: _("Type a new password."),
    "repeat_missing": lambda _s: _("Type the new password once more."),
    "current_wrong": lambda _s: _("The current password is wrong."),
    "too_long": lambda _s: _("That is longer than we accept."),
    "repeat_differs": lambda _s: _("The new passwords are not the same."),
    "new_too_short": lambda _s: _(
        "The new password must have at least %(n)s characters.", n=current_app.config["IDP"].passwords.min_length
    ),
    "activation_code_missing": lambda _s: _("Type the activation code from the letter."),
    "wrong_activation": lambda _s: _("The national identity number, the password or the activation code is wrong."),
    "no_address": lambda _s: _("We have no postal address for you. Contact user support."),
    "wait": lambda s: wait_message(s),
    "wait_network": lambda s: wait_message(s, network=True),
    # Ordering an account and a forgotten password
    "pid_digits": lambda _s: _("Give the 11 digits of your national identity number or d-number."),
    "phone_unreachable": lambda _s: _(
        "Give a mobile number we can send an SMS to, such as 912 34 567 or +46 70 123 45 67."
    ),
    "email_invalid": lambda _s: _("Give an e-mail address such as name@example.no, or leave the field empty."),
    "terms_missing": lambda _s: _("You must accept the terms of use to order an account."),
    "orders_limited": lambda _s: _(
        "There have been too many orders from your network or for this number. Try again later."
    ),
    "attempts_network": lambda _s: _("There have been too many attempts from your network. Try again later."),
    "sms_code_wrong": lambda _s: _("The code is wrong. Check the SMS and try again."),
    "code_wrong_again": lambda _s: _("The code is wrong. Try again."),
    "order_again": lambda _s: _("The code has expired or was tried too many times. Order again."),
    "choose_again": lambda _s: _("The code has expired or was tried too many times. Choose again."),
    "choose_way": lambda _s: _("Choose one of the ways below."),
    "code_on_its_way": lambda _s: _("A new code is on its way."),
    "wrong_letter_code": lambda _s: _("The national identity number or the activation code is wrong."),
    "not_operable": lambda _s: _(
        "That account cannot be operated by you now. Check the list of the accounts you operate below."
    ),
    # A new password the citizen chooses (idp/web/new_password.py)
    "choose_password": lambda _s: _("Choose a password."),
    "password_control": lambda _s: _("The password has characters that cannot be typed, such as control characters."),
    "password_too_long": lambda _s: _(
        "Use at most %(num)d characters.", num=current_app.config["IDP"].passwords.max_length
    ),
    "password_too_short": lambda _s: _(
        "Use at least %(num)d characters.", num=current_app.config["IDP"].passwords.min_length
    ),
    "password_leaked": lambda _s: _(
        "This password is on lists of leaked passwords, so it is tried first. Choose another."
    ),
    "password_personal": lambda _s: _("The password is easy to guess from your name, number or phone. Choose another."),
    "password_weak": lambda _s: _(
        "The password is too easy to guess. A few words that do not belong together make a strong one."
    ),
    "passwords_differ": lambda _s: _("The two passwords are not the same."),
}


def notice(key: str, *, until: datetime | None = None) -> dict[str, str | None]:
    """A notice to keep (JSON-able): ``key`` of :data:`MESSAGES`, and when its wait ends, if it has one."""
    if key not in MESSAGES:
        raise KeyError(key)
    return {"key": key, "until": until.isoformat() if until else None}


def wait_notice(seconds: int, scope: str) -> dict[str, str | None]:
    """The notice for a refused check of a secret: wait ``seconds`` (``scope`` "network": for the network)."""
    return notice("wait_network" if scope == "network" else "wait", until=now() + timedelta(seconds=seconds))


def resend_notice(seconds: int) -> dict[str, str | None]:
    """The notice for a new code asked for too soon: it may be asked for in ``seconds``."""
    return notice("resend_wait", until=now() + timedelta(seconds=seconds))


def seconds_left(kept: dict, at: datetime) -> int:
    """Seconds until a kept notice's wait ends (0 when it has none or it has passed)."""
    until = kept.get("until")
    return max(0, math.ceil((datetime.fromisoformat(until) - at).total_seconds())) if until else 0


def wording(kept: dict | None, at: datetime) -> str | None:
    """The kept notice in the page's language; None when there is none or its wait has run out."""
    if not kept or kept.get("key") not in MESSAGES:
        return None
    left = seconds_left(kept, at)
    if kept.get("until") and not left:
        return None
    return MESSAGES[kept["key"]](left)


def worded(kept: dict[str, dict] | None, at: datetime) -> dict[str, str]:
    """Each field's kept notice in the page's language (field name → text), the run-out ones left out."""
    texts = {name: wording(entry, at) for name, entry in (kept or {}).items()}
    return {name: text for name, text in texts.items() if text}
