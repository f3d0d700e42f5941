"""Managing relying parties: one function per verb, used by the admin API, the ``idp`` command and RFC 7592.

Every verb validates through ``registration.apply_metadata`` (the one place that
decides what a client may be), records an audit event naming who acted, and
commits. ``actor`` says who: ``cli``, ``admin:<client_id>`` or ``SELF`` (a party
registering dynamically, or a registered client managing itself, RFC 7592),
which is held to what dynamic registration allows.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import Client, Token
from idp.models.oauth import digest, new_client_id
from idp.oidc import parameters
from idp.oidc.client_metadata import RegistrationError, apply_metadata, client_metadata, public_key_error

SELF = "self"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
# A rotated-out secret stays valid at most this long: long enough for a staged deployment.
MAX_OVERLAP_SECONDS = 30 * 24 * 3600
DEFAULT_OVERLAP_SECONDS = 24 * 3600
MAX_KEYS = 20


class ClientNotFound(LookupError):
    """No client has this client_id."""


def find(client_id: object) -> Client:
    """The client registered as ``client_id``; raises ClientNotFound (also for ids no client could have)."""
    if not parameters.fits("client_id", client_id):
        raise ClientNotFound(str(client_id))
    client = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    if client is None:
        raise ClientNotFound(str(client_id))
    return client


def all_clients() -> list[Client]:
    return list(db.session.scalars(sa.select(Client).order_by(Client.name, Client.client_id)))


def create(
    data: dict, *, actor: str, client_id: str | None = None, client_secret: str | None = None
) -> tuple[Client, dict]:
    """Register a client; returns it and the secrets shown once (for SELF, its registration access token too)."""
    client_id = client_id or new_client_id()
    if not parameters.fits("client_id", client_id):
        raise RegistrationError("invalid_client_metadata", "client_id has characters or a length we cannot accept")
    if db.session.scalar(sa.select(Client.id).filter_by(client_id=client_id)) is not None:
        raise RegistrationError("invalid_client_metadata", f"client {client_id} exists already")
    client = Client(client_id=client_id, created_at=now())
    apply_metadata(client, data, operator=actor != SELF)
    issued = issue_secret(client, client_secret)
    if actor == SELF:
        token = secrets.token_urlsafe(32)
        client.registration_access_token_hash = digest(token)
        issued["registration_access_token"] = token
    db.session.add(client)
    audit.record("client.created", outcome="success", client_id=client_id, actor=actor)
    db.session.commit()
    return client, issued


def update(client: Client, changes: dict, *, actor: str, replace: bool = False) -> dict:
    """Change a client's metadata: ``changes`` over what it has, or instead of it (``replace``, RFC 7592 PUT).

    A key set to null removes that setting. Returns a new secret when the change
    moved the client onto secret authentication.
    """
    method_before = client.token_endpoint_auth_method
    data = dict(changes) if replace else {**client_metadata(client), **changes}
    try:
        apply_metadata(client, data, operator=actor != SELF)
    except RegistrationError:
        db.session.rollback()
        raise
    issued = {}
    if client.token_endpoint_auth_method != method_before:
        issued = issue_secret(client)
        client.previous_client_secret_hash = client.previous_client_secret_expires_at = None
    audit.record("client.updated", outcome="success", client_id=client.client_id, actor=actor, fields=sorted(changes))
    db.session.commit()
    return issued


def delete(client: Client, *, actor: str) -> None:
    """Remove a client; every token it holds stops working."""
    db.session.execute(sa.update(Token).where(Token.client_id == client.client_id).values(revoked_at=now()))
    db.session.delete(client)
    audit.record("client.deleted", outcome="success", client_id=client.client_id, actor=actor)
    db.session.commit()


def rotate_secret(client: Client, *, overlap_seconds: int, actor: str) -> tuple[str, datetime]:
    """A new secret; the current one keeps working for ``overlap_seconds``, then not. Returns both facts."""
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        raise RegistrationError("invalid_client_metadata", "this client authenticates without a client secret")
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, int):
        raise RegistrationError("invalid_client_metadata", "overlap_seconds must be a whole number")
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise RegistrationError(
            "invalid_client_metadata", f"overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}"
        )
    until = now() + timedelta(seconds=overlap_seconds)
    client.previous_client_secret_hash = client.client_secret_hash
    client.previous_client_secret_expires_at = until
    secret = issue_secret(client)["client_secret"]
    audit.record(
        "client.secret_rotated",
        outcome="success",
        client_id=client.client_id,
        actor=actor,
        previous_valid_until=until.isoformat(),
    )
    db.session.commit()
    return secret, until


def add_key(client: Client, jwk: object, *, actor: str) -> str:
    """Add one public key to the client's ``jwks``; returns its kid."""
    if client.jwks_uri:
        raise RegistrationError("invalid_client_metadata", "this client publishes its keys at its jwks_uri")
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not parameters.is_text(jwk["kid"]):
        raise RegistrationError("invalid_client_metadata", "the key must be a JWK with a kid")
    keys = list((client.jwks or {}).get("keys", []))
    if any(key.get("kid") == jwk["kid"] for key in keys):
        raise RegistrationError("invalid_client_metadata", f"the client has a key {jwk['kid']!r} already")
    if len(keys) >= MAX_KEYS:
        raise RegistrationError("invalid_client_metadata", f"a client has at most {MAX_KEYS} keys")
    problem = public_key_error({"keys": [jwk]})
    if problem:
        raise RegistrationError("invalid_client_metadata", problem)
    client.jwks = {"keys": [*keys, jwk]}
    audit.record("client.key_added", outcome="success", client_id=client.client_id, actor=actor, kid=jwk["kid"])
    db.session.commit()
    return jwk["kid"]


def remove_key(client: Client, kid: str, *, actor: str) -> None:
    """Remove the key ``kid``; a private_key_jwt client keeps at least one."""
    keys = list((client.jwks or {}).get("keys", []))
    kept = [key for key in keys if key.get("kid") != kid]
    if len(kept) == len(keys):
        raise ClientNotFound(f"key {kid}")
    if not kept and client.token_endpoint_auth_method == "private_key_jwt":
        raise RegistrationError("invalid_client_metadata", "private_key_jwt needs at least one key")
    client.jwks = {"keys": kept} if kept else None
    audit.record("client.key_removed", outcome="success", client_id=client.client_id, actor=actor, kid=kid)
    db.session.commit()


def issue_secret(client: Client, secret: str | None = None) -> dict:
    """A new client secret (for secret authentication methods), shown once; only its digest is kept."""
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        client.client_secret_hash = None
        return {}
    secret = secret or secrets.token_urlsafe(32)
    client.client_secret_hash = digest(secret)
    return {"client_secret": secret}
