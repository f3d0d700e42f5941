"""The ``claims`` request parameter (OIDC Core §5.5): individual claims for the ID token and userinfo.

The request is parsed once at the authorization endpoint, kept with the code
and the tokens, and read when the ID token is made. ``essential`` and
``value(s)`` are honoured for ``acr`` (they raise the required level); for
other claims they are advisory, as §5.5.1 allows: we return the citizen's real
value or nothing. It never releases a claim by itself: the release rule
(``idp.policy.release``) lets it ask only for claims of the granted scopes.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError

from idp.untrusted import json_loads

MEMBERS = ("userinfo", "id_token")


def parse_claims(raw: str | None) -> dict | None:
    """The validated claims request, or None; malformed JSON is ``invalid_request``."""
    if not raw:
        return None
    try:
        value = json_loads(raw)
    except ValueError:
        raise InvalidRequestError("The claims parameter is not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("The claims parameter must be a JSON object.")
    parsed: dict[str, dict[str, dict | None]] = {}
    for member in MEMBERS:
        requested = value.get(member)
        if requested is None:
            continue
        if not isinstance(requested, dict) or not all(v is None or isinstance(v, dict) for v in requested.values()):
            raise InvalidRequestError(f"claims.{member} must map claim names to null or an object.")
        parsed[member] = requested
    return parsed


def requested_names(claims: dict | None, member: str) -> set[str]:
    return set((claims or {}).get(member, {}))
