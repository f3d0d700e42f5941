"""OAuth clients (relying parties), authorization codes and tokens.

Secrets, codes and tokens are stored as SHA-256 digests: they are long random
values, so a fast hash is enough, and a leaked table gives nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.clock import now
from idp.extensions import db
from idp.models.base import UTCDateTime, utcnow


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_client_id() -> str:
    """128 random bits in hex: unlike base64url, never starting with "-", which a command line reads as an option."""
    return secrets.token_hex(16)


class Client(db.Model, ClientMixin):
    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(32), default="client_secret_basic")
    grant_types: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["authorization_code"])
    response_types: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["code"])
    scope: Mapped[str] = mapped_column(sa.String(1000), default="openid profile")
    id_token_signed_response_alg: Mapped[str] = mapped_column(sa.String(16), default="RS256")
    subject_type: Mapped[str] = mapped_column(sa.String(16), default="pairwise")
    sector_identifier: Mapped[str | None] = mapped_column(sa.String(255))
    jwks: Mapped[dict | None] = mapped_column(sa.JSON)
    jwks_uri: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # OIDC Back-Channel and Front-Channel Logout 1.0 (client metadata).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(sa.String(1000))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(default=False)
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(sa.String(1000))
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(default=False)
    # Request objects by reference (OIDC Core §6.2): only these URIs are fetched.
    request_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # None: any alg we verify, including "none"; otherwise only this one (OIDC Registration §2).
    request_object_signing_alg: Mapped[str | None] = mapped_column(sa.String(16))
    # RFC 9126 §6: this client may only use pushed authorization requests.
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(default=False)
    # The pairwise sector's JSON document (OIDC Core §8.1); sector_identifier holds its host.
    sector_identifier_uri: Mapped[str | None] = mapped_column(sa.String(1000))
    # RFC 7592: the digest of the token that lets a dynamically registered client manage itself.
    registration_access_token_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # Descriptive metadata we store and return but never act on (logo_uri, policy_uri, contacts...).
    extra_metadata: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # A rotated-out secret keeps working until this time, so the client can deploy its new one.
    previous_client_secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    previous_client_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name, not a secret

    # Authlib's ClientMixin: the protocol layer asks the client these questions.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous default: with several registered URIs the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (OIDC Core §3.1.2.1, RFC 9700 §4.1.3).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one until its overlap ends (idp/oidc/clients.py rotates)."""
        presented = digest(client_secret)
        if self.client_secret_hash and hmac.compare_digest(self.client_secret_hash, presented):
            return True
        return (
            self.previous_client_secret_hash is not None
            and self.previous_client_secret_expires_at is not None
            and now() < self.previous_client_secret_expires_at
            and hmac.compare_digest(self.previous_client_secret_hash, presented)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class AuthorizationCode(db.Model):
    __tablename__ = "authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    grant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id"))
    redirect_uri: Mapped[str] = mapped_column(sa.String(1000))
    scope: Mapped[str] = mapped_column(sa.String(1000))
    nonce: Mapped[str | None] = mapped_column(sa.String(512))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str | None] = mapped_column(sa.String(64))
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    locale: Mapped[str | None] = mapped_column(sa.String(16))  # the login's language, for the `locale` claim
    # The `claims` request parameter (OIDC Core §5.5), validated, for the ID token and userinfo.
    claims: Mapped[dict | None] = mapped_column(sa.JSON)
    # RFC 9396: the authorization details granted (the chosen representation); None when none were asked for.
    authorization_details: Mapped[list | None] = mapped_column(sa.JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    citizen = relationship("Citizen")


class Token(db.Model):
    """An access token and, when the client may refresh, its refresh token.

    ``grant_id`` ties together every token descended from one authorization
    code, so a replayed code or refresh token revokes the whole family.
    """

    __tablename__ = "token"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    citizen_id: Mapped[int] = mapped_column(sa.ForeignKey("citizen.id"))
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(1000))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_in: Mapped[int] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str | None] = mapped_column(sa.String(64))
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    locale: Mapped[str | None] = mapped_column(sa.String(16))  # the login's language, for the `locale` claim
    claims: Mapped[dict | None] = mapped_column(sa.JSON)
    authorization_details: Mapped[list | None] = mapped_column(sa.JSON(none_as_null=True))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when this refresh token was exchanged for a new one (rotation).
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    citizen = relationship("Citizen")

    @property
    def access_expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.expires_in)

    # Authlib's TokenMixin.
    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return utcnow() >= self.access_expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self):
        return self.citizen

    def get_client(self) -> Client:
        return db.session.scalar(sa.select(Client).filter_by(client_id=self.client_id))
