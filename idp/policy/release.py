"""Which claims about a citizen a client may receive: the release rule.

A claim is released only when the scope that carries it was granted, which
means both registered for the client and asked for in this request
(``granted_scopes``). The ``claims`` request parameter (OIDC Core §5.5) can
ask for a claim in another place (e.g. ``email`` in the ID token) but only
inside those scopes: it narrows or moves, never widens. The same rule answers
for the ID token, userinfo and refresh, so no endpoint can release more.
"""

from __future__ import annotations

from collections.abc import Iterable

# OIDC Core §5.4, plus ID-porten's `pid` scope for the national identity number.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "birthdate", "updated_at", "locale"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    "pid": ("pid",),
}

# Claims that go into the ID token without being asked for one by one: ID-porten puts the
# national identity number there, because that is what a public service logs in with.
ID_TOKEN_BY_SCOPE = frozenset({"pid"})


def granted_scopes(*, registered: str, requested: str) -> frozenset[str]:
    """The scopes a grant holds: those the client is registered for and asked for now."""
    return frozenset(requested.split()) & frozenset(registered.split())


def scope_claims(scopes: Iterable[str]) -> frozenset[str]:
    """Every claim the granted ``scopes`` carry."""
    return frozenset(name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ()))


def userinfo_claims(*, scopes: Iterable[str]) -> frozenset[str]:
    """Userinfo releases everything the granted scopes carry (OIDC Core §5.4)."""
    return scope_claims(scopes)


def id_token_claims(*, scopes: Iterable[str], requested: Iterable[str] = ()) -> frozenset[str]:
    """The ID token carries ``pid`` with its scope, plus the claims asked for there that the scopes carry."""
    allowed = scope_claims(scopes)
    return (allowed & ID_TOKEN_BY_SCOPE) | (allowed & frozenset(requested))
