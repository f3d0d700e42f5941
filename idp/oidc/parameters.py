"""Protocol parameters, checked before Authlib, the database or a redirect sees them.

Every parameter the provider reads has a longest value and an alphabet. The
alphabets are the ABNF of RFC 6749 Appendix A (and RFC 7636, 7009, 7523,
9101), which allows printable ASCII only; OpenID Connect's free-form values
(``nonce``, ``login_hint``, ``claims``...) may be any text without control or
format characters. The lengths are those of the columns a value is stored in
(``idp/models/oauth.py``), or what a redirect's ``Location`` header can carry
back (``state``), or generous bounds for tokens and JWTs.

A value outside its rule is ``invalid_request`` naming the parameter, never
repeating the value: Authlib puts descriptions into redirects and refuses
characters outside RFC 6749's ``%x20-21 / %x23-5B / %x5D-7E``. Parameters
the provider does not know are ignored, as RFC 6749 §3.1 requires.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError

from idp.policy.requirement import MAX_AGE_DIGITS

_VSCHAR = re.compile(r"[\x20-\x7e]*")  # RFC 6749 Appendix A
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]*")  # scope-tokens of NQCHAR, space-separated (§3.3)
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_AGE_DIGITS}}}")  # max_age: a non-negative integer of ASCII digits


def is_text(value: str) -> bool:
    """Text a person could type: no control, format, surrogate, private-use or unassigned characters."""
    return not any(unicodedata.category(char).startswith("C") for char in value)


def _json_text(value: str) -> bool:
    # A relying party may send its claims request pretty-printed: JSON's own whitespace is allowed.
    return is_text(value.translate({ord("\t"): None, ord("\n"): None, ord("\r"): None}))


def _matching(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


@dataclass(frozen=True)
class Rule:
    max_length: int
    allows: Callable[[str], bool] = _matching(_VSCHAR)


# client_id and redirect_uri first: when one of them is wrong, nothing may be redirected,
# and state next, since an error redirect echoes it.
RULES: dict[str, Rule] = {
    "client_id": Rule(128),  # client.client_id
    "redirect_uri": Rule(1000),  # authorization_code.redirect_uri
    "state": Rule(1024),  # echoed, percent-encoded, in the redirect back: the Location stays under 8 KB
    "response_type": Rule(64),
    "scope": Rule(1000, _matching(_SCOPE)),  # authorization_code.scope, token.scope
    "response_mode": Rule(32),
    "nonce": Rule(512, is_text),  # authorization_code.nonce
    "display": Rule(32),
    "prompt": Rule(64),
    "max_age": Rule(MAX_AGE_DIGITS, _matching(_DIGITS)),
    "ui_locales": Rule(256, is_text),
    "id_token_hint": Rule(16 * 1024),
    "login_hint": Rule(256, is_text),
    "acr_values": Rule(1024, is_text),
    "claims": Rule(8 * 1024, _json_text),
    "request": Rule(64 * 1024),
    "request_uri": Rule(1000),  # client.request_uris entries
    "code_challenge": Rule(128),  # RFC 7636 §4.2: 43 to 128 characters
    "code_challenge_method": Rule(8),  # authorization_code.code_challenge_method
    "code_verifier": Rule(128),
    "grant_type": Rule(128),
    "code": Rule(256),
    "refresh_token": Rule(256),
    "client_secret": Rule(256),
    "client_assertion": Rule(16 * 1024),
    "client_assertion_type": Rule(128),
    "token": Rule(16 * 1024),  # RFC 7009, RFC 7662: may be any client's token, ours are 43 characters
    "token_type_hint": Rule(64),
    "post_logout_redirect_uri": Rule(1000),  # RP-Initiated Logout 1.0
    "authorization_details": Rule(4 * 1024, _json_text),  # RFC 9396; one object of a few role names
}


# RP-Initiated Logout 1.0 §2 gives its state no grammar: any text goes back to the relying party.
LOGOUT_RULES: dict[str, Rule] = {**RULES, "state": Rule(1024, is_text)}


class InvalidParameter(InvalidRequestError):
    """A parameter's value is too long or has characters its grammar does not allow."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The {name} parameter is malformed or too long.")
        self.parameter = name


def fits(name: str, value: object, rules: dict[str, Rule] = RULES) -> bool:
    """Whether ``value`` is a string that parameter ``name`` may have (any string, for unknown parameters)."""
    rule = rules.get(name)
    if rule is None:
        return True
    return isinstance(value, str) and len(value) <= rule.max_length and rule.allows(value)


def check(pairs: Iterable[tuple[str, str]], rules: dict[str, Rule] = RULES) -> None:
    """Raise :class:`InvalidParameter` for the first known parameter whose value breaks its rule."""
    given = list(pairs)
    for name in rules:
        if any(key == name and not fits(name, value, rules) for key, value in given):
            raise InvalidParameter(name)


def check_basic_credentials(authorization: str | None) -> None:
    """``Authorization: Basic`` as RFC 6749 §2.3.1 has it: base64 of UTF-8, each half form-encoded.

    Checked before Authlib decodes it, which fails on bytes that are not UTF-8,
    and queries the database with whatever client_id it finds.
    """
    parts = (authorization or "").split(None, 1)  # as Authlib splits it
    if not parts or parts[0].lower() != "basic":
        return
    try:
        decoded = base64.b64decode(parts[1]).decode("utf-8")
    except (IndexError, ValueError):  # nothing after "Basic", not base64, not ASCII, or not UTF-8 once decoded
        raise InvalidClientError(
            status_code=401, description="The Basic credentials are not base64 of UTF-8 text."
        ) from None
    client_id, _sep, secret = decoded.partition(":")
    if not (fits("client_id", unquote(client_id)) and fits("client_secret", unquote(secret))):
        raise InvalidClientError(status_code=401, description="The Basic credentials are malformed or too long.")
