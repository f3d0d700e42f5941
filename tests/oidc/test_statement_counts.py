"""What the token endpoint, userinfo and introspection send to the database, on each backend.

A count, not a timing: each statement is a round trip and each commit a flush
to disk (issue 5), so a change that adds one should be a decision, not an accident.
The BEGIN and ROLLBACK a driver sends by itself count too: psycopg opens a
transaction before the first statement unless the connection is in autocommit,
and a connection that goes back to the pool inside one is rolled back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa

from idp.extensions import db
from tests.conftest import PASSWORD
from tests.flows import REDIRECT_URI, basic, login_for_code

# The client comes from the process's cache (idp/oidc/client_cache.py), warm since /authorize.
TOKEN_REQUEST = {
    # One statement on an autocommit connection: the claim, the new token and the citizen, in CTEs.
    "postgresql": ["WITH"],
    # SQLite has no UPDATE in a CTE: an immediate transaction with the claim, the citizen and the token.
    "sqlite": ["BEGIN", "UPDATE", "SELECT", "INSERT", "COMMIT"],
}


def _in_transaction(dbapi_connection: object) -> bool:
    if isinstance(dbapi_connection, psycopg.Connection):
        return dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    assert isinstance(dbapi_connection, sqlite3.Connection)
    return dbapi_connection.in_transaction


def _driver_begins(dbapi_connection: object, statement: str) -> bool:
    """Whether the driver sends a BEGIN of its own before ``statement``."""
    if _in_transaction(dbapi_connection):
        return False
    if isinstance(dbapi_connection, psycopg.Connection):
        return not dbapi_connection.autocommit
    # Python's sqlite3 (3.11, legacy transaction control) begins before INSERT, UPDATE, DELETE, REPLACE.
    first = statement.split(None, 1)[0].upper()
    return dbapi_connection.isolation_level is not None and first in {"INSERT", "UPDATE", "DELETE", "REPLACE"}


@contextmanager
def statements() -> Iterator[list[str]]:
    """The first word of each statement sent while inside, with the driver's own BEGIN, COMMIT and ROLLBACK."""
    sent: list[str] = []

    def before_cursor_execute(conn, _cursor, statement, *_args) -> None:
        if _driver_begins(conn.connection.dbapi_connection, statement):
            sent.append("BEGIN")
        sent.append(statement.split(None, 1)[0].upper())

    def ending(word: str):
        def listener(conn) -> None:
            if _in_transaction(conn.connection.dbapi_connection):
                sent.append(word)

        return listener

    commit, rollback = ending("COMMIT"), ending("ROLLBACK")

    def reset(dbapi_connection, _record, _state) -> None:
        if _in_transaction(dbapi_connection):
            sent.append("ROLLBACK")

    # As in production, where each request has its own session: nothing is cached from earlier requests.
    db.session.remove()
    engine = db.engine
    listeners = [
        (engine, "before_cursor_execute", before_cursor_execute),
        (engine, "commit", commit),
        (engine, "rollback", rollback),
        (engine.pool, "reset", reset),
    ]
    for target, name, listener in listeners:
        sa.event.listen(target, name, listener)
    try:
        yield sent
    finally:
        for target, name, listener in listeners:
            sa.event.remove(target, name, listener)


def post_token(http, **form: str):
    response = http.post("/token", data=form, headers=basic("rp1", "rp1-secret"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_token_requests_claim_and_issue_in_one_round_trip_or_transaction(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, scope="openid offline_access")
    with statements() as exchange:
        tokens = post_token(http, grant_type="authorization_code", code=back["code"], redirect_uri=REDIRECT_URI)
    with statements() as refresh:
        post_token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert exchange == TOKEN_REQUEST[db.engine.dialect.name]
    assert refresh == TOKEN_REQUEST[db.engine.dialect.name]


def test_userinfo_is_one_query(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    tokens = post_token(http, grant_type="authorization_code", code=back["code"], redirect_uri=REDIRECT_URI)
    with statements() as sent:
        response = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    assert sent == ["SELECT"]  # on an autocommit connection: no BEGIN, no ROLLBACK


def test_introspection_is_one_query(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    tokens = post_token(http, grant_type="authorization_code", code=back["code"], redirect_uri=REDIRECT_URI)
    with statements() as sent:
        response = http.post("/introspect", data={"token": tokens["access_token"]}, headers=basic("rp1", "rp1-secret"))
    assert response.get_json()["active"] is True
    assert sent == ["SELECT"]
