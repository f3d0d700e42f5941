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


_TOKEN, _CITIZEN = Token.__table__, Citizen.__table__
_ISSUED = sa.select(_TOKEN, *(c.label(f"citizen__{c.name}") for c in _CITIZEN.c)).join_from(
    _TOKEN, _CITIZEN, _CITIZEN.c.id == _TOKEN.c.citizen_id
)
_BY_ACCESS = _ISSUED.where(_TOKEN.c.access_token_hash == sa.bindparam("hash"))
_BY_EITHER = _ISSUED.where(
    sa.or_(_TOKEN.c.access_token_hash == sa.bindparam("hash"), _TOKEN.c.refresh_token_hash == sa.bindparam("hash"))
)


def find_issued(value: str, *, access_only: bool, connection: sa.Connection | None = None) -> Issued | None:
    """The token holding ``value`` (as its access token only, or as either), with its citizen and client.

    For reading only: token and citizen are transient copies from one Core query (the ORM's
    loading cost more than the query), the client comes from the process's cache; a token
    whose client was removed is not found. The query runs on ``connection`` if given (the lean
    paths pass an autocommit one), else in the session's transaction.
    """
    statement = _BY_ACCESS if access_only else _BY_EITHER
    on = connection if connection is not None else db.session.connection()
    row = on.execute(statement, {"hash": digest(value)}).mappings().first()
    if row is None:
        return None
    client = current_app.extensions["idp.clients"].get(row["client_id"])
    if client is None:
        return None
    token = Token(**{c.name: row[c.name] for c in _TOKEN.c})
    citizen = Citizen(**{c.name: row[f"citizen__{c.name}"] for c in _CITIZEN.c})
    return Issued(token, citizen, client)
