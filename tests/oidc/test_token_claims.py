"""Claiming a code or refresh token at the token endpoint: once, even under races, on each backend.

In the races the winner is held right after claiming the credential, and the
loser is sent in that window. On Authlib's path (lean paths off) the winner has
not committed yet: the loser must wait for it, find the credential spent, and
revoke the grant, the winner's new tokens included. On the lean path claim and
new token are one statement (PostgreSQL) or one locked transaction (SQLite), so
the window opens after the commit; the loser, refused by the lean path, goes on
to Authlib's, which must do the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from idp.oidc import token_store
from tests.conftest import PASSWORD
from tests.flows import REDIRECT_URI, basic, login_for_code, pkce_pair

HELD_SECONDS = 0.5  # how long the winner holds its claim; long enough for the loser's request to arrive


def hold_first_claim(monkeypatch, claim_name: str) -> threading.Event:
    """Make the first claim through ``token_store.<claim_name>`` pause after claiming; the event says it got there.

    The lean path claims through ``exchange_code`` and ``rotate_refresh``, Authlib's grants through
    ``claim_code`` and ``claim_refresh``.
    """
    claimed = threading.Event()
    original = getattr(token_store, claim_name)

    def claim(*args, **kwargs):
        result = original(*args, **kwargs)
        if not claimed.is_set():
            claimed.set()
            threading.Event().wait(HELD_SECONDS)
        return result

    monkeypatch.setattr(token_store, claim_name, claim)
    return claimed


def race(app, form: dict[str, str], claimed: threading.Event) -> tuple[object, object]:
    """The winner's and the loser's responses to the same token request."""

    def post():
        return app.test_client().post("/token", data=form, headers=basic("rp1", "rp1-secret"))

    def post_after_claim():
        assert claimed.wait(10), "the first request never claimed the credential"
        return post()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(post), pool.submit(post_after_claim)
        return first.result(timeout=30), second.result(timeout=30)


def userinfo_status(app, access_token: str) -> int:
    return app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


@contextmanager
def lean_paths(app, *, on: bool) -> Iterator[None]:
    lean = app.wsgi_app
    while not hasattr(lean, "routes"):  # the LeanRoutes layer, under the hosts and documents layers
        lean = lean._app
    routes = lean.routes
    if not on:
        lean.routes = {}
    try:
        yield
    finally:
        lean.routes = routes


CLAIMS = {"lean": ("exchange_code", "rotate_refresh"), "authlib": ("claim_code", "claim_refresh")}


@pytest.mark.parametrize("path", sorted(CLAIMS))
def test_concurrent_exchanges_of_one_code_give_one_token_and_revoke_it(app, citizen, rp, monkeypatch, path):
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD)
    claimed = hold_first_claim(monkeypatch, CLAIMS[path][0])
    form = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT_URI}
    with lean_paths(app, on=path == "lean"):
        winner, loser = race(app, form, claimed)
    assert winner.status_code == 200, winner.get_json()
    assert loser.status_code == 400 and loser.get_json()["error"] == "invalid_grant"
    assert userinfo_status(app, winner.get_json()["access_token"]) == 401


@pytest.mark.parametrize("path", sorted(CLAIMS))
def test_concurrent_refreshes_with_one_token_give_one_token_and_revoke_the_family(app, citizen, rp, monkeypatch, path):
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD, scope="openid offline_access")
    first = exchange(app, back["code"]).get_json()
    claimed = hold_first_claim(monkeypatch, CLAIMS[path][1])
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    with lean_paths(app, on=path == "lean"):
        winner, loser = race(app, form, claimed)
    assert winner.status_code == 200, winner.get_json()
    assert loser.status_code == 400 and loser.get_json()["error"] == "invalid_grant"
    assert userinfo_status(app, winner.get_json()["access_token"]) == 401
    assert userinfo_status(app, first["access_token"]) == 401


def exchange(app, code: str, **extra: str):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    return app.test_client().post("/token", data=form, headers=basic("rp1", "rp1-secret"))


def refresh(app, refresh_token: str, **extra: str):
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return app.test_client().post("/token", data=form, headers=basic("rp1", "rp1-secret"))


def test_a_failed_exchange_spends_the_code(app, citizen, rp):
    verifier, challenge = pkce_pair()
    back = login_for_code(
        app.test_client(), pid=citizen.pid, password=PASSWORD, code_challenge=challenge, code_challenge_method="S256"
    )
    wrong = exchange(app, back["code"], code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    right = exchange(app, back["code"], code_verifier=verifier)
    assert right.status_code == 400 and right.get_json()["error"] == "invalid_grant"


def test_a_refused_refresh_leaves_the_refresh_token_usable(app, citizen, rp):
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD, scope="openid offline_access")
    tokens = exchange(app, back["code"]).get_json()
    wider = refresh(app, tokens["refresh_token"], scope="openid offline_access pid")
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    renewed = refresh(app, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_json()
    assert userinfo_status(app, renewed.get_json()["access_token"]) == 200


def test_a_code_sent_by_many_at_once_gives_one_token(app, citizen, rp):
    """No hold: eight requests released together, whichever path each takes and however they interleave."""
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD)
    start = threading.Barrier(8)

    def post():
        start.wait(10)
        return exchange(app, back["code"])

    with ThreadPoolExecutor(8) as pool:
        answers = [future.result(timeout=30) for future in [pool.submit(post) for _ in range(8)]]
    won = [answer for answer in answers if answer.status_code == 200]
    assert len(won) == 1
    assert all(a.get_json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
    assert userinfo_status(app, won[0].get_json()["access_token"]) == 401
