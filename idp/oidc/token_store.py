"""The token endpoint's reads and writes, in as few round trips as the backend allows.

Authlib's grants decide (idp/oidc/server.py); this module only claims a code or
a refresh token and writes the new token. It speaks SQLAlchemy Core, not the
ORM: a token exchange spent more time in the ORM's unit of work and lazy loads
than in the signature. On PostgreSQL the claim and the citizen it belongs to
come back from one statement (an ``UPDATE … RETURNING`` inside a CTE); SQLite
cannot put an UPDATE in a CTE, so there the citizen is a second, in-process read.

Claiming is an ``UPDATE`` guarded by "not used yet": a concurrent exchange of
the same code waits on the row (PostgreSQL) or the write lock (SQLite), then
finds it used. The claim commits with the new token in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuthorizationCode, Citizen, Token

_CODE = AuthorizationCode.__table__
_TOKEN = Token.__table__
_CITIZEN = Citizen.__table__
_CITIZEN_COLUMNS = tuple(c.name for c in _CITIZEN.c)


@dataclass(frozen=True)
class ClaimedCode:
    """An authorization code just claimed, as Authlib's AuthorizationCodeMixin sees it."""

    grant_id: str
    client_id: str
    citizen: Citizen
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: datetime
    acr: str | None
    amr: list[str]
    sid: str | None
    claims: dict | None
    locale: str | None
    expires_at: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class ClaimedRefresh:
    """A refresh token just claimed for rotation, as Authlib's TokenMixin sees it."""

    grant_id: str
    client_id: str
    citizen: Citizen
    scope: str
    refresh_expires_at: datetime | None
    auth_time: datetime
    acr: str | None
    amr: list[str]
    sid: str | None
    claims: dict | None
    locale: str | None

    def check_client(self, client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope


_Claimed = TypeVar("_Claimed", "ClaimedCode", "ClaimedRefresh")

_CLAIM_CODE = (
    sa.update(_CODE)
    .where(
        _CODE.c.code_hash == sa.bindparam("hash"),
        _CODE.c.client_id == sa.bindparam("client"),
        _CODE.c.used_at.is_(None),
    )
    .values(used_at=sa.bindparam("moment"))
    .returning(*_CODE.c)
)

_CLAIM_REFRESH = (
    sa.update(_TOKEN)
    .where(
        _TOKEN.c.refresh_token_hash == sa.bindparam("hash"),
        _TOKEN.c.client_id == sa.bindparam("client"),
        _TOKEN.c.refreshed_at.is_(None),
        _TOKEN.c.revoked_at.is_(None),
    )
    .values(refreshed_at=sa.bindparam("moment"), revoked_at=sa.bindparam("moment"))
    .returning(*_TOKEN.c)
)


def _with_citizen(claim: sa.Update) -> sa.Select:
    """PostgreSQL: the claim's row and its citizen's in one statement; citizen columns prefixed."""
    claimed = claim.cte("claimed")
    return sa.select(*claimed.c, *(column.label(f"citizen__{column.name}") for column in _CITIZEN.c)).join_from(
        claimed, _CITIZEN, _CITIZEN.c.id == claimed.c.citizen_id
    )


_CLAIM_CODE_WITH_CITIZEN = _with_citizen(_CLAIM_CODE)
_CLAIM_REFRESH_WITH_CITIZEN = _with_citizen(_CLAIM_REFRESH)
_CITIZEN_BY_ID = sa.select(_CITIZEN).where(_CITIZEN.c.id == sa.bindparam("id"))


def _claim(claim: sa.Update, joined: sa.Select, params: dict) -> tuple[sa.RowMapping, Citizen] | None:
    """Run a claim; the claimed row and its citizen (a transient object, never added to the session)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        row = connection.execute(joined, params).mappings().first()
        if row is None:
            return None
        return row, Citizen(**{name: row[f"citizen__{name}"] for name in _CITIZEN_COLUMNS})
    row = connection.execute(claim, params).mappings().first()
    if row is None:
        return None
    citizen = connection.execute(_CITIZEN_BY_ID, {"id": row["citizen_id"]}).mappings().one()
    return row, Citizen(**citizen)


def _claimed(kind: type[_Claimed], found: tuple[sa.RowMapping, Citizen] | None) -> _Claimed | None:
    """The claimed row as ``kind``: its citizen, and the columns of the same names."""
    if found is None:
        return None
    row, citizen = found
    values = {field.name: row[field.name] for field in dataclasses.fields(kind) if field.name != "citizen"}
    return kind(citizen=citizen, **{**values, "amr": values["amr"] or []})


def claim_code(code_hash: str, client_id: str, moment: datetime) -> ClaimedCode | None:
    """Mark the client's unused code used and return it, or None (unknown, another client's, or used)."""
    params = {"hash": code_hash, "client": client_id, "moment": moment}
    return _claimed(ClaimedCode, _claim(_CLAIM_CODE, _CLAIM_CODE_WITH_CITIZEN, params))


def claim_refresh(token_hash: str, client_id: str, moment: datetime) -> ClaimedRefresh | None:
    """Mark the client's live refresh token rotated (refreshed and revoked) and return it, or None."""
    params = {"hash": token_hash, "client": client_id, "moment": moment}
    return _claimed(ClaimedRefresh, _claim(_CLAIM_REFRESH, _CLAIM_REFRESH_WITH_CITIZEN, params))


_INSERT_TOKEN = sa.insert(_TOKEN)


def insert_token(
    *,
    grant_id: str,
    client_id: str,
    citizen_id: int,
    access_token_hash: str,
    refresh_token_hash: str | None,
    scope: str,
    issued_at: datetime,
    expires_in: int,
    refresh_lifetime: timedelta | None,
    auth_time: datetime,
    acr: str | None,
    amr: list[str],
    sid: str | None,
    claims: dict | None,
    locale: str | None,
) -> None:
    """Write a new token in the caller's transaction (committed with the claim it came from)."""
    db.session.connection().execute(
        _INSERT_TOKEN,
        {
            "grant_id": grant_id,
            "client_id": client_id,
            "citizen_id": citizen_id,
            "access_token_hash": access_token_hash,
            "refresh_token_hash": refresh_token_hash,
            "scope": scope,
            "issued_at": issued_at,
            "expires_in": expires_in,
            "refresh_expires_at": issued_at + refresh_lifetime if refresh_lifetime else None,
            "auth_time": auth_time,
            "acr": acr,
            "amr": amr,
            "sid": sid,
            "claims": claims,
            "locale": locale,
        },
    )
