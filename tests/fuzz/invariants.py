"""What must hold for every response, whatever the request.

* never a 5xx (with TESTING on, an unhandled exception reaches the test as itself);
* a ``Location`` only to our own paths, our issuer or a registered redirect URI;
  a form_post page only to a registered redirect URI;
* no header over 8 KB (proxies and browsers refuse them) and none split by CR/LF;
* the security headers on every response (idp/app.py ``security_headers``);
* no claim in an ID token that the granted scopes do not carry.

The claim table is written out here from OIDC Core §5.4 (and ID-porten's
``pid``) rather than imported, so a change to the release rule cannot
quietly change what the test expects.
"""

from __future__ import annotations

import base64
import html
import json
import re

import sqlalchemy as sa

from idp.extensions import db
from idp.models import Client
from tests.fuzz.world import World, allowed_location

MAX_HEADER_BYTES = 8 * 1024
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)
SCOPE_CLAIMS = {
    "profile": {"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile"}
    | {"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
    "email": {"email", "email_verified"},
    "phone": {"phone_number", "phone_number_verified"},
    "address": {"address"},
    "pid": {"pid"},
}
# What every ID token may carry whatever the scopes (OIDC Core §2, §3.1.3.6).
PROTOCOL_CLAIMS = {"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}
_FORM_POST = re.compile(r'<form method="post" action="([^"]*)" id="form-post-response">')


def scope_claims(scopes: set[str]) -> set[str]:
    return {claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ())}


def allowed_claims(scopes: set[str]) -> set[str]:
    """What an ID token may carry with these scopes granted."""
    return PROTOCOL_CLAIMS | scope_claims(scopes)


def payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def check_response(world: World, response) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.get_data(as_text=True)[:2000]}"
    for name, value in response.headers.items():
        assert len(name) + len(value) + 2 <= MAX_HEADER_BYTES, f"{name} header of {len(value)} bytes"
        assert "\r" not in value and "\n" not in value, f"{name} header split: {value[:200]!r}"
    missing = [name for name in SECURITY_HEADERS if name not in response.headers]
    assert not missing, f"{status} response without {missing}"
    location = response.headers.get("Location")
    if location is not None:
        assert allowed_location(world, location), f"redirect to {location[:300]!r}"
    if response.mimetype == "text/html" and (found := _FORM_POST.search(response.get_data(as_text=True))):
        action = html.unescape(found.group(1))
        assert action.split("?", 1)[0] in world.registered_uris(), f"form_post to {action[:300]!r}"
    if response.mimetype == "application/json" and status == 200:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("id_token"), str):
            check_id_token(body["id_token"], set(str(body.get("scope", "")).split()))


def check_id_token(id_token: str, token_scopes: set[str]) -> None:
    """The ID token's claims come only from scopes the token holds and its client is registered for."""
    claims = payload(id_token)
    registered = db.session.scalar(sa.select(Client.scope).filter_by(client_id=claims["aud"]))
    assert registered is not None, f"ID token for an unknown client {claims['aud']!r}"
    granted = token_scopes & set(registered.split())
    extra = set(claims) - allowed_claims(granted)
    assert not extra, f"ID token released {sorted(extra)} with scopes {sorted(granted)}"
