"""Finding an issued token by its value, for revocation, introspection and userinfo.

Only digests are stored (``idp.models.oauth``), so a value is found by its digest.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from idp.extensions import db
from idp.models import Citizen, Client, Token
from idp.models.oauth import digest


class Issued(NamedTuple):
    """A token with the citizen and the client it was issued to."""

    token: Token
    citizen: Citizen
    client: Client


def _either_kind(value: str) -> sa.ColumnElement[bool]:
    # Access and refresh token share a row; one query with OR finds either, each column by its own index.
    hashed = digest(value)
    return sa.or_(Token.access_token_hash == hashed, Token.refresh_token_hash == hashed)


def find_token(value: str) -> Token | None:
    """The token row holding ``value`` as access or refresh token."""
    return db.session.scalar(sa.select(Token).where(_either_kind(value)))


def find_issued(value: str, *, access_only: bool) -> Issued | None:
    """The token holding ``value`` (as its access token only, or as either), with its citizen and client.

    One query, the client from the process's cache; a token whose client was removed is not found.
    """
    condition = Token.access_token_hash == digest(value) if access_only else _either_kind(value)
    row = db.session.execute(
        sa.select(Token, Citizen).join(Citizen, Citizen.id == Token.citizen_id).where(condition)
    ).first()
    if row is None:
        return None
    client = current_app.extensions["idp.clients"].get(row.Token.client_id)
    return None if client is None else Issued(row.Token, row.Citizen, client)
