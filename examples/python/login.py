"""Log a citizen in with idp from Python: authorization code flow with PKCE, ID token verified.

Authlib's OAuth 2.0 client does the protocol (state, PKCE S256, token exchange);
joserfc checks the ID token's signature against the provider's JWKS and
Authlib's CodeIDToken checks its claims (iss, aud, exp, iat, nonce, at_hash).

    pip install -r requirements.txt
    IDP_ISSUER=https://idp.example CLIENT_ID=... CLIENT_SECRET=... \\
        REDIRECT_URI=http://127.0.0.1:8000/callback python login.py

It prints the URL to open. Log in there, then paste the address the browser was
sent back to (the redirect URI with ?code=...). It prints the verified ID token
claims and the userinfo as JSON. A web application does the same in two
request handlers: the first part before redirecting, the rest in its callback.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

# The level of assurance this service needs. The provider treats it as a minimum: a login that
# does not reach it ends in the error unmet_authentication_requirements, never in a weaker token.
REQUIRED_ACR = "idporten-loa-substantial"
ACCEPTED_ACR = ("idporten-loa-substantial", "idporten-loa-high")


def main() -> int:
    issuer, client_id = os.environ["IDP_ISSUER"], os.environ["CLIENT_ID"]
    metadata = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10).json()
    if metadata["issuer"] != issuer:
        sys.exit("the discovery document names another issuer")

    session = OAuth2Session(
        client_id,
        os.environ["CLIENT_SECRET"],
        scope="openid profile pid",
        redirect_uri=os.environ["REDIRECT_URI"],
        code_challenge_method="S256",
    )
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, acr_values=REQUIRED_ACR
    )
    print(json.dumps({"authorization_url": url}), flush=True)

    callback = sys.stdin.readline().strip()
    answer = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    if answer.get("iss") != issuer:  # RFC 9207: the answer comes from the provider we sent the citizen to
        sys.exit("the authorization response is not from our issuer")
    if "error" in answer:  # access_denied, login_required, unmet_authentication_requirements, ...
        print(json.dumps({"error": answer["error"], "state_ok": answer.get("state") == state}))
        return 1
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
    )

    # A real service caches the JWKS (the provider's Cache-Control says for how long) and fetches
    # it again when an ID token names a kid it does not have: that is how key rotation reaches it.
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=metadata["id_token_signing_alg_values_supported"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"values": [issuer]}, "aud": {"values": [client_id]}},
        params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    if claims.get("acr") not in ACCEPTED_ACR:
        sys.exit(f"the login reached {claims.get('acr')!r}, not {REQUIRED_ACR}")

    userinfo = session.get(metadata["userinfo_endpoint"]).json()
    if userinfo["sub"] != claims["sub"]:
        sys.exit("userinfo is about someone else")
    print(json.dumps({"claims": dict(claims), "userinfo": userinfo, "scope": token.get("scope")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
