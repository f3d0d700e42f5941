"""The database statements of the token endpoint and userinfo, on each backend.

A count, not a timing: each statement is a round trip and each commit a flush
to disk (issue 5), so a change that adds one should be a decision, not an accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from idp.extensions import db
from tests.conftest import PASSWORD
from tests.flows import REDIRECT_URI, basic, login_for_code

# The client comes from the process's cache (idp/oidc/client_cache.py), warm since /authorize.
TOKEN_REQUEST = {
    "postgresql": ["WITH", "INSERT", "COMMIT"],  # claim with its citizen; new token
    "sqlite": ["UPDATE", "SELECT", "INSERT", "COMMIT"],  # claim; citizen (no UPDATE in a CTE); new token
}


@contextmanager
def statements() -> Iterator[list[str]]:
    """The first word of each statement sent while inside, and COMMIT for each commit."""
    sent: list[str] = []

    def before_cursor_execute(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    def commit(_conn) -> None:
        sent.append("COMMIT")

    # As in production, where each request has its own session: nothing is cached from earlier requests.
    db.session.remove()
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before_cursor_execute)
    sa.event.listen(engine, "commit", commit)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", before_cursor_execute)
        sa.event.remove(engine, "commit", commit)


def post_token(http, **form: str):
    response = http.post("/token", data=form, headers=basic("rp1", "rp1-secret"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_token_requests_claim_and_issue_in_one_transaction(app, citizen, rp):
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
    assert sent == ["SELECT"]


def test_introspection_is_one_query(app, citizen, rp):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD)
    tokens = post_token(http, grant_type="authorization_code", code=back["code"], redirect_uri=REDIRECT_URI)
    with statements() as sent:
        response = http.post("/introspect", data={"token": tokens["access_token"]}, headers=basic("rp1", "rp1-secret"))
    assert response.get_json()["active"] is True
    assert sent == ["SELECT"]
