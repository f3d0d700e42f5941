"""The Authlib authorization server: grants, client authentication, token storage.

Authlib drives the protocol (RFC 6749, 7636, 7523, OIDC Core); this module
answers its questions from our models. It asks the session for the facts of
the login (level, factors, auth_time) and never decides them.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app, request, url_for
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.clock import now
from idp.extensions import db
from idp.models import AuthorizationCode, Citizen, Client, LoginSession, Token
from idp.models.oauth import digest
from idp.oidc import parameters, token_store
from idp.oidc.client_credentials import ClientCredentialsGrant
from idp.oidc.client_keys import ClientKeysError, client_keyset
from idp.oidc.id_token import build_id_token
from idp.oidc.introspection import IntrospectionEndpoint
from idp.oidc.revocation import RevocationEndpoint
from idp.untrusted import json_loads

log = logging.getLogger(__name__)

TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
# private_key_jwt: how far ahead an assertion's exp may be, and how long its jti is remembered
# (longer than an assertion can live, with Authlib's 60 s leeway on either side).
MAX_ASSERTION_SECONDS = 300
JTI_SECONDS = 600


@dataclass(frozen=True)
class Authentication:
    """Who logged in and how: what a code or refresh token carries to the ID token."""

    citizen: Citizen
    auth_time: datetime
    acr: str | None
    amr: list[str]
    sid: str | None
    grant_id: str
    claims: dict | None = None  # the `claims` request parameter (OIDC Core §5.5)
    locale: str | None = None  # the language the login pages were in
    # RFC 9396: the granted representation (idp/oidc/rich_authorization.py); None when not asked for.
    authorization_details: list | None = None

    @classmethod
    def of(cls, claimed: token_store.ClaimedCode | token_store.ClaimedRefresh) -> Authentication:
        """The login a claimed code or refresh token carries on to its new tokens."""
        return cls(
            citizen=claimed.citizen,
            auth_time=claimed.auth_time,
            acr=claimed.acr,
            amr=list(claimed.amr),
            sid=claimed.sid,
            grant_id=claimed.grant_id,
            claims=claimed.claims,
            locale=claimed.locale,
            authorization_details=claimed.authorization_details,
        )

    @classmethod
    def from_session(
        cls, session: LoginSession, claims: dict | None = None, authorization_details: list | None = None
    ) -> Authentication:
        return cls(
            session.citizen,
            session.auth_time,
            session.acr,
            list(session.amr),
            session.sid,
            secrets.token_urlsafe(16),
            claims,
            session.locale,
            authorization_details,
        )


def random_token(*_context: object, **_named: object) -> str:
    """256 random bits for a code, access or refresh token.

    Authlib's default draws one character per call to SystemRandom: 0.1 ms for a
    token response's two tokens, fifty times the cost of one read of the OS's random source.
    Authlib passes the client, grant type, user and scope; a random token needs none of them.
    """
    return secrets.token_urlsafe(32)


class Server(AuthorizationServer):
    def create_oauth2_request(self, given):
        # A resumed authorization request (after the login pages) is rebuilt
        # from the stored parameters, not from the current HTTP request.
        if isinstance(given, OAuth2Request):
            return given
        # Every live request Authlib sees (token, PAR, revocation, introspection) comes through
        # here first: its parameters and Basic credentials are checked before Authlib reads them.
        # An error raised here reaches the client through the handler make_server registers.
        parameters.check([*request.args.items(multi=True), *request.form.items(multi=True)])
        parameters.check_basic_credentials(request.headers.get("Authorization"))
        return super().create_oauth2_request(given)

    def query_client(self, client_id: str) -> Client | None:
        return current_app.extensions["idp.clients"].get(client_id)

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        store_token(token, client=request.client, auth=request.user)
        db.session.commit()
        # RFC 9396 §7: the token response says which authorization details were granted.
        with_authorization_details(token, request.user)


def new_token(token: dict, issued_at: datetime) -> token_store.NewToken:
    """The stored values of a token Authlib generated: digests, never the values themselves."""
    refresh = token.get("refresh_token")
    lifetime = timedelta(seconds=current_app.config["IDP"].tokens.refresh_token_seconds)
    return token_store.NewToken(
        access_token_hash=digest(token["access_token"]),
        refresh_token_hash=digest(refresh) if refresh else None,
        issued_at=issued_at,
        expires_in=token["expires_in"],
        refresh_expires_at=issued_at + lifetime if refresh else None,
    )


def with_authorization_details(token: dict, auth: Authentication) -> None:
    """Add the granted authorization_details to a token response (both token paths call this)."""
    if auth.authorization_details is not None:
        token["authorization_details"] = auth.authorization_details


def store_token(token: dict, *, client: Client, auth: Authentication) -> None:
    """Write a token Authlib generated, in the session's transaction."""
    token_store.insert_token(
        new_token(token, now()),
        grant_id=auth.grant_id,
        client_id=client.client_id,
        citizen_id=auth.citizen.id,
        scope=token.get("scope", ""),
        auth_time=auth.auth_time,
        acr=auth.acr,
        amr=auth.amr,
        sid=auth.sid,
        claims=auth.claims,
        locale=auth.locale,
        authorization_details=auth.authorization_details,
    )


def revoke_grant(grant_id: str) -> None:
    """Revoke every token descended from one authorization (RFC 6749 §4.1.2, RFC 9700 §4.14.2)."""
    db.session.execute(
        sa.update(Token).where(Token.grant_id == grant_id, Token.revoked_at.is_(None)).values(revoked_at=now())
    )


def _refuse_unclaimable_code(code_hash: str, client: Client) -> None:
    """Unknown, another client's, or used. A used one came back: revoke its grant (committed by the caller)."""
    found = db.session.execute(
        sa.select(AuthorizationCode.grant_id, AuthorizationCode.client_id, AuthorizationCode.used_at).filter_by(
            code_hash=code_hash
        )
    ).first()
    if found is not None and found.client_id == client.client_id and found.used_at is not None:
        revoke_grant(found.grant_id)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return random_token()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        auth: Authentication = request.user
        data = request.payload.data
        lifetime = current_app.config["IDP"].tokens.authorization_code_seconds
        db.session.add(
            AuthorizationCode(
                code_hash=digest(code),
                grant_id=auth.grant_id,
                client_id=request.client.client_id,
                citizen_id=auth.citizen.id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope or "",  # the granted scope: those asked for that the client is registered for
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=auth.auth_time,
                acr=auth.acr,
                amr=auth.amr,
                sid=auth.sid,
                claims=auth.claims,
                locale=auth.locale,
                authorization_details=auth.authorization_details,
                expires_at=now() + timedelta(seconds=lifetime),
            )
        )
        db.session.commit()

    def validate_token_request(self) -> None:
        try:
            super().validate_token_request()
        except OAuth2Error:
            # A claimed code stays spent when the exchange then fails (expired, wrong redirect_uri or
            # code_verifier), and a replay's revocation must stand: commit either before answering.
            db.session.commit()
            raise

    def query_authorization_code(self, code: str, client: Client) -> token_store.ClaimedCode | None:
        code_hash = digest(code)
        # The claim commits with the new token in save_token.
        claimed = token_store.claim_code(code_hash, client.client_id, now())
        if claimed is None:
            _refuse_unclaimable_code(code_hash, client)
            return None
        if claimed.is_expired(now()):
            return None
        return claimed

    def delete_authorization_code(self, authorization_code: token_store.ClaimedCode) -> None:
        # Kept, marked used, by query_authorization_code: a replay must find it to revoke the grant.
        pass

    def authenticate_user(self, authorization_code: token_store.ClaimedCode) -> Authentication:
        return Authentication.of(authorization_code)


def _refuse_unclaimable_refresh(token_hash: str, client_id: str) -> None:
    """Unknown, another client's, revoked or rotated. A rotated one came back: someone holds a copy."""
    found = db.session.execute(
        sa.select(Token.grant_id, Token.client_id, Token.refreshed_at).filter_by(refresh_token_hash=token_hash)
    ).first()
    if found is not None and found.client_id == client_id and found.refreshed_at is not None:
        # Checked before revoked_at, which rotation sets too.
        revoke_grant(found.grant_id)
        db.session.commit()


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation (RFC 9700 §4.14.2)

    def validate_token_request(self) -> None:
        try:
            super().validate_token_request()
        except OAuth2Error:
            # Refused (expired, or a scope beyond the grant's): the refresh token stays as it was,
            # so the rotation claimed by authenticate_refresh_token is undone. A replay's revocation
            # was committed there already.
            db.session.rollback()
            raise

    def authenticate_refresh_token(self, refresh_token: str) -> token_store.ClaimedRefresh | None:
        token_hash = digest(refresh_token)
        client_id = self.request.client.client_id
        moment = now()
        # Rotation claims the token in the new token's transaction (committed by save_token): a
        # concurrent refresh with the same token waits, then finds it rotated and revokes the family.
        claimed = token_store.claim_refresh(token_hash, client_id, moment)
        if claimed is None:
            _refuse_unclaimable_refresh(token_hash, client_id)
            return None
        if claimed.refresh_expires_at is not None and claimed.refresh_expires_at <= moment:
            return None
        return claimed

    def authenticate_user(self, refresh_token: token_store.ClaimedRefresh) -> Authentication:
        return Authentication.of(refresh_token)

    def revoke_old_credential(self, refresh_token: token_store.ClaimedRefresh) -> None:
        """Nothing left to do: authenticate_refresh_token marked it refreshed and revoked, save_token committed it."""


class _IdToken:
    """What both OpenID extensions share: how the ID token is made."""

    def encode_id_token(self, token: dict, request: OAuth2Request) -> str:
        code = request.authorization_code
        return build_id_token(
            client=request.client,
            auth=request.user,
            scope=token.get("scope", ""),
            nonce=code.get_nonce() if code is not None else None,
            access_token=token.get("access_token"),
            claims_request=request.user.claims,
        )


class OpenIDCode(_IdToken, oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Nonce replay is the relying party's check (OIDC Core §3.1.3.7 step 11).
        return False

    def __call__(self, grant) -> None:
        # Authlib's prompt handling is left out: the authorization endpoint decides
        # prompt, max_age and id_token_hint itself (endpoints._decide).
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload", self.validate_openid_authorization_request)


class OpenIDRefresh(_IdToken, oidc_grants.OpenIDToken):
    """ID tokens from refresh (OIDC Core §12.2): same iss, sub, aud, auth_time; new iat."""


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only, and required of public clients (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a code_challenge (PKCE, S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: token_store.ClaimedCode) -> str | None:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: token_store.ClaimedCode) -> str | None:
        return authorization_code.code_challenge_method


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication (OIDC Core §9, RFC 7523)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        # The issuer, or the URL of the endpoint being called (token, PAR, revocation, introspection).
        server = current_app.config["IDP"].server
        return [server.issuer, server.url(url_for("oidc.token")), server.url(request.path)]

    def extract_assertion(self, assertion: str) -> tuple[dict, dict]:
        """The assertion's header and claims, unverified; its ``sub`` names the client to look up.

        Authlib's own reading fails on a payload nested too deeply and queries the
        database with any ``sub``: here the payload is untrusted JSON and ``sub``
        must be a client_id as the parameter rules have it.
        """
        try:
            token = jws.extract_compact(assertion.encode())
            claims = json_loads(token.payload)
        except (JoseError, ValueError):
            raise InvalidClientError(description="Invalid JWT assertion.") from None
        if not isinstance(claims, dict) or not parameters.fits("client_id", claims.get("sub")):
            raise InvalidClientError(description="Invalid JWT assertion.")
        return token.headers(), claims

    def verify_claims(self, claims) -> None:
        # RFC 7523 §3 lets a server refuse an exp unreasonably far ahead. An assertion's jti is
        # remembered for JTI_SECONDS: one that lived longer could be replayed once its jti is
        # forgotten. A client makes a new assertion per request, so minutes are plenty.
        exp = claims.get("exp")
        latest = now().timestamp() + MAX_ASSERTION_SECONDS + self.leeway
        if not isinstance(exp, bool) and isinstance(exp, int | float) and not exp <= latest:  # NaN too
            raise InvalidClientError(description="The assertion's exp is too far in the future.")
        super().verify_claims(claims)

    def validate_jti(self, claims: dict, jti: str) -> bool:
        # Hashed: a jti is any string the client chose, and the store's keys are short.
        store = current_app.extensions["idp.store"]
        return store.add("client_assertion_jti", f"{claims['sub']}:{digest(jti)}", {}, ttl=JTI_SECONDS)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        # The assertion's kid lets a client that rotated its jwks_uri keys be refetched at once.
        kid = jws.extract_compact(request.form["client_assertion"].encode()).headers().get("kid")
        try:
            return client_keyset(client, kid=kid if isinstance(kid, str) else None)
        except ClientKeysError as exc:
            log.info("keys of client %s unusable: %s", client.client_id, exc)
            raise InvalidClientError(description="The client's keys could not be used.") from None


def make_server(app) -> Server:
    """Build the authorization server for ``app``; tokens are opaque random strings."""
    tokens = app.config["IDP"].tokens
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": tokens.access_token_seconds,
        "refresh_token": tokens.access_token_seconds,
        "client_credentials": tokens.access_token_seconds,
    }
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = random_token
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = random_token
    server = Server()
    server.init_app(app)
    server.register_grant(AuthorizationCodeGrant, [PKCE(required=True), OpenIDCode(require_nonce=False)])
    server.register_grant(RefreshTokenGrant, [OpenIDRefresh()])
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    # Refusals raised before Authlib's own handling (create_oauth2_request above): RFC 6749 §5.2 JSON.
    app.register_error_handler(OAuth2Error, lambda error: server.handle_error_response(None, error))
    return server
