"""The token endpoint's reads and writes, in as few round trips as the backend allows.

Authlib's grants decide (idp/oidc/server.py); this module claims a code or a
refresh token and writes the new token. It speaks SQLAlchemy Core, not the ORM:
a token exchange spent more time in the ORM's unit of work and lazy loads than
in the signature.

Two ways in, for two callers:

* Authlib's grants (the Flask path) claim with ``claim_code`` / ``claim_refresh``
  in the session's transaction and write with ``insert_token``; Authlib checks
  the claimed row and the caller commits.
* The lean token path (idp/oidc/lean/token.py) answers only requests that will
  succeed, so it puts every check in the claim's WHERE clause and writes the new
  token in the same transaction: ``exchange_code`` / ``rotate_refresh``. On
  PostgreSQL that is one statement (the claim, the new token and the citizen, in
  CTEs) sent on an autocommit connection: one round trip, no BEGIN or COMMIT of
  its own. SQLite cannot put an UPDATE in a CTE, so there it is an immediate
  transaction of three statements, taken in turn by the processes of one machine
  (``sqlite_writer``). When a check fails nothing is written, and the Flask path
  meets the code or refresh token as the client sent it.

Claiming is an ``UPDATE`` guarded by "not used yet": a concurrent exchange of
the same code waits on the row (PostgreSQL) or the write lock (SQLite), then
finds it used.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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
    authorization_details: list | None
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
    authorization_details: list | None

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


def _with_citizen(claimed: sa.CTE) -> sa.Select:
    """PostgreSQL: a claimed row and its citizen's in one statement; citizen columns prefixed."""
    return sa.select(*claimed.c, *(column.label(f"citizen__{column.name}") for column in _CITIZEN.c)).join_from(
        claimed, _CITIZEN, _CITIZEN.c.id == claimed.c.citizen_id
    )


_CLAIM_CODE_WITH_CITIZEN = _with_citizen(_CLAIM_CODE.cte("claimed"))
_CLAIM_REFRESH_WITH_CITIZEN = _with_citizen(_CLAIM_REFRESH.cte("claimed"))
_CITIZEN_BY_ID = sa.select(_CITIZEN).where(_CITIZEN.c.id == sa.bindparam("id"))


def _citizen_in(row: sa.RowMapping) -> Citizen:
    """The citizen a ``_with_citizen`` row carries (a transient object, never added to the session)."""
    return Citizen(**{name: row[f"citizen__{name}"] for name in _CITIZEN_COLUMNS})


def _claim(claim: sa.Update, joined: sa.Select, params: dict) -> tuple[sa.RowMapping, Citizen] | None:
    """Run a claim in the session's transaction; the claimed row and its citizen."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        row = connection.execute(joined, params).mappings().first()
        return None if row is None else (row, _citizen_in(row))
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


@dataclass(frozen=True)
class NewToken:
    """A new token row's own values; the rest it carries over from the code or token it continues."""

    access_token_hash: str
    refresh_token_hash: str | None
    issued_at: datetime
    expires_in: int
    refresh_expires_at: datetime | None


# The columns a new token takes from the authorization code or refresh token it continues.
_CARRIED = (
    "grant_id",
    "client_id",
    "citizen_id",
    "scope",
    "auth_time",
    "acr",
    "amr",
    "sid",
    "claims",
    "locale",
    "authorization_details",
)
_OWN = tuple(field.name for field in dataclasses.fields(NewToken))
_INSERT_TOKEN = sa.insert(_TOKEN)


def insert_token(
    new: NewToken,
    *,
    grant_id: str,
    client_id: str,
    citizen_id: int,
    scope: str,
    auth_time: datetime,
    acr: str | None,
    amr: list[str],
    sid: str | None,
    claims: dict | None,
    locale: str | None,
    authorization_details: list | None,
) -> None:
    """Write a new token in the session's transaction (committed with the claim it came from)."""
    carried = {
        "grant_id": grant_id,
        "client_id": client_id,
        "citizen_id": citizen_id,
        "scope": scope,
        "auth_time": auth_time,
        "acr": acr,
        "amr": amr,
        "sid": sid,
        "claims": claims,
        "locale": locale,
        "authorization_details": authorization_details,
    }
    db.session.connection().execute(_INSERT_TOKEN, {**carried, **dataclasses.asdict(new)})


# The lean path's claims: every check the grant would make after claiming is in the WHERE clause,
# so a row comes back only for a request that succeeds.
_CLAIM_CHECKED_CODE = _CLAIM_CODE.where(
    _CODE.c.expires_at > sa.bindparam("moment"),
    sa.or_(
        sa.func.coalesce(_CODE.c.redirect_uri, "") == "", _CODE.c.redirect_uri == sa.bindparam("given_redirect_uri")
    ),
    sa.or_(
        sa.and_(sa.func.coalesce(_CODE.c.code_challenge, "") == "", sa.bindparam("no_verifier", type_=sa.Boolean)),
        sa.and_(_CODE.c.code_challenge_method == "S256", _CODE.c.code_challenge == sa.bindparam("s256_challenge")),
    ),
)
_CLAIM_CHECKED_REFRESH = _CLAIM_REFRESH.where(
    sa.or_(_TOKEN.c.refresh_expires_at.is_(None), _TOKEN.c.refresh_expires_at > sa.bindparam("moment"))
)


def _claim_and_issue(claim: sa.Update, table: sa.Table) -> sa.Select:
    """PostgreSQL: the claim, the new token and the citizen in one statement.

    PostgreSQL runs a data-modifying CTE to completion whether or not the main query reads it,
    and the INSERT's SELECT yields a row only when the claim did.
    """
    # Authlib's token generator keeps only the scopes the client may still have; here a row
    # whose scopes are not all among them is not claimed, and the Flask path answers.
    within = sa.func.string_to_array(table.c.scope, " ").op("<@")(
        sa.bindparam("allowed_scopes", type_=postgresql.ARRAY(sa.Text))
    )
    claimed = claim.where(within).cte("claimed")
    own = [sa.bindparam(f"new_{name}", type_=_TOKEN.c[name].type) for name in _OWN]
    issued = sa.insert(_TOKEN).from_select([*_CARRIED, *_OWN], sa.select(*(claimed.c[n] for n in _CARRIED), *own))
    return _with_citizen(claimed).add_cte(issued.cte("issued"))


_EXCHANGE_CODE = _claim_and_issue(_CLAIM_CHECKED_CODE, _CODE)
_ROTATE_REFRESH = _claim_and_issue(_CLAIM_CHECKED_REFRESH, _TOKEN)


@contextmanager
def autocommit_connection() -> Iterator[sa.Connection]:
    """A pooled connection on which each statement commits by itself.

    A request that needs one statement then costs one round trip: psycopg sends a
    BEGIN before the first statement of a transaction, and the pool a ROLLBACK when
    a connection that read something goes back.
    """
    with db.engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def exchange_code(
    connection: sa.Connection,
    *,
    code_hash: str,
    client_id: str,
    allowed_scopes: frozenset[str],
    redirect_uri: str | None,
    no_verifier: bool,
    s256_challenge: str | None,
    new: NewToken,
) -> ClaimedCode | None:
    """Claim the client's live code and write ``new`` from it, if every check holds; else change nothing.

    The checks: unused, this client's, not expired at ``new.issued_at``, its scopes all still
    among ``allowed_scopes``, ``redirect_uri`` as at /authorize, and PKCE: no verifier for a code
    without a challenge, or the verifier's S256 challenge (RFC 7636 §4.6; computed by the caller)
    equal to the code's.
    """
    params = {
        "hash": code_hash,
        "client": client_id,
        "given_redirect_uri": redirect_uri,
        "no_verifier": no_verifier,
        "s256_challenge": s256_challenge,
    }
    found = _issue_from_claim(connection, _CLAIM_CHECKED_CODE, _EXCHANGE_CODE, params, allowed_scopes, new)
    return _claimed(ClaimedCode, found)


def rotate_refresh(
    connection: sa.Connection, *, token_hash: str, client_id: str, allowed_scopes: frozenset[str], new: NewToken
) -> ClaimedRefresh | None:
    """Rotate the client's live, unexpired refresh token into ``new`` if its scopes are all still
    among ``allowed_scopes``; else change nothing and return None."""
    params = {"hash": token_hash, "client": client_id}
    found = _issue_from_claim(connection, _CLAIM_CHECKED_REFRESH, _ROTATE_REFRESH, params, allowed_scopes, new)
    return _claimed(ClaimedRefresh, found)


class _NotClaimable(Exception):
    """SQLite: the claimed row fails a check made after the claim; the transaction is undone."""


def _issue_from_claim(
    connection: sa.Connection,
    claim: sa.Update,
    in_one: sa.Select,
    params: dict,
    allowed_scopes: frozenset[str],
    new: NewToken,
) -> tuple[sa.RowMapping, Citizen] | None:
    """Claim and write on an ``autocommit_connection``, as one transaction."""
    # No parameter is named after a column: SQLAlchemy would add it to the claim's SET clause.
    values = {**params, "moment": new.issued_at}
    if connection.dialect.name == "postgresql":
        own = {f"new_{name}": value for name, value in dataclasses.asdict(new).items()}
        row = connection.execute(in_one, {**values, **own, "allowed_scopes": sorted(allowed_scopes)}).mappings().first()
        return None if row is None else (row, _citizen_in(row))
    try:
        with sqlite_writer(connection):
            row = connection.execute(claim, values).mappings().first()
            if row is None:
                return None
            if not set(row["scope"].split()) <= allowed_scopes:
                raise _NotClaimable
            citizen = connection.execute(_CITIZEN_BY_ID, {"id": row["citizen_id"]}).mappings().one()
            connection.execute(_INSERT_TOKEN, {**{name: row[name] for name in _CARRIED}, **dataclasses.asdict(new)})
    except _NotClaimable:
        return None
    return row, Citizen(**citizen)


_writer_threads = threading.Lock()
_writer_files: dict[tuple[int, str], int] = {}


@contextmanager
def sqlite_writer(connection: sa.Connection) -> Iterator[None]:
    """An immediate transaction on an autocommit SQLite connection, one writer at a time on this machine.

    SQLite lets one connection write at a time; the others' busy handler sleeps and
    retries, up to 100 ms a try, and under 16 concurrent token requests some waited
    over a second. Waiting here instead (a lock for this process's threads, a lock
    file for the server's processes) wakes a waiter as soon as the writer is done.
    """
    database = connection.engine.url.database
    with _writer_threads:
        descriptor = _writer_file(database) if database and database != ":memory:" else None
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        finally:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)


def _writer_file(database: str) -> int:
    """This process's own descriptor of the lock file beside ``database`` (call with ``_writer_threads`` held).

    Own, because a descriptor inherited across a fork shares its lock with the parent's.
    """
    key = (os.getpid(), database)
    if key not in _writer_files:
        _writer_files[key] = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return _writer_files[key]
