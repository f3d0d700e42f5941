"""No claim leaves without a granted scope that carries it, whatever the scopes and ``claims`` asked for.

Each example registers a client for some scopes, asks for others (and for
claims by name, greedy or malformed), logs in from the SSO session, and
checks the ID token, userinfo, and the ID token and userinfo after a refresh
with a narrower scope, after the client's registration was narrowed too.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from idp.extensions import db
from idp.models import Client
from tests.conftest import add_client
from tests.flows import query
from tests.fuzz import strategies as fz
from tests.fuzz.invariants import allowed_claims, check_response, payload, scope_claims
from tests.fuzz.settings import FUZZ
from tests.fuzz.world import ALL_SCOPES, REDIRECT_URI

PERSONAL = ["profile", "email", "phone", "address", "pid"]
CLAIM_NAMES = ["pid", "email", "email_verified", "phone_number", "address", "name", "given_name", "acr", "sub", "x"]


def scope_sets() -> st.SearchStrategy[set[str]]:
    return st.sets(st.sampled_from([*ALL_SCOPES, "unknown"]))


def claims_requests() -> st.SearchStrategy[str | None]:
    member = st.dictionaries(st.sampled_from(CLAIM_NAMES), st.sampled_from([None, {"essential": True}]), max_size=5)
    request = st.fixed_dictionaries({}, optional={"id_token": member, "userinfo": member})
    return st.one_of(st.none(), request.map(json.dumps), fz.json_text())


def test_released_claims_stay_within_the_granted_scopes(app, world):
    numbers = itertools.count()
    http = world.sso

    @FUZZ
    @given(
        registered=scope_sets(),
        requested=scope_sets(),
        claims=claims_requests(),
        refreshed=scope_sets(),
        narrowed=st.sets(st.sampled_from(PERSONAL)),
    )
    def run(registered, requested, claims, refreshed, narrowed) -> None:
        with app.app_context():
            client_id = f"release-{next(numbers)}"
            add_client(client_id=client_id, secret="s", scope=" ".join(sorted(registered | {"openid"})))
            params = world.authorize(client_id=client_id, scope=" ".join(sorted(requested | {"openid"})))
            if claims is not None:
                params["claims"] = claims
            back = http.get("/authorize", query_string=params)
            check_response(world, back)
            code = query(back.location or "").get("code")
            if code is None:
                return  # refused (a malformed claims parameter): nothing released
            granted = (requested | {"openid"}) & (registered | {"openid"})
            tokens = _post_token(
                world,
                client_id,
                grant_type="authorization_code",
                code=code,
                redirect_uri=REDIRECT_URI,
                code_verifier=world.verifier,
            )
            assert tokens.status_code == 200, tokens.get_data(as_text=True)
            body = tokens.get_json()
            assert set(body["scope"].split()) <= granted
            _check(body["id_token"], allowed_claims(granted))
            _check_userinfo(world, body["access_token"], granted)
            if "refresh_token" not in body:
                return
            # The operator narrows the registration; the next refresh asks for fewer scopes.
            client = db.session.scalar(db.select(Client).filter_by(client_id=client_id))
            client.scope = " ".join(sorted((registered - narrowed) | {"openid"}))
            db.session.commit()
            still = granted - narrowed
            again = _post_token(
                world,
                client_id,
                grant_type="refresh_token",
                refresh_token=body["refresh_token"],
                scope=" ".join(sorted(refreshed | {"openid"})),
            )
            check_response(world, again)
            if again.status_code == 200:
                renewed = again.get_json()
                _check(renewed["id_token"], allowed_claims(still & set(renewed["scope"].split())))
                _check_userinfo(world, renewed["access_token"], still & set(renewed["scope"].split()))

    run()


def _post_token(world, client_id: str, **form: str):
    response = world.anonymous.post(
        "/token", data=form, headers={"Authorization": fz.basic_credentials(client_id, "s")}
    )
    check_response(world, response)
    return response


def _check(id_token: str, allowed: set[str]) -> None:
    extra = set(payload(id_token)) - allowed
    assert not extra, f"ID token released {sorted(extra)}"


def _check_userinfo(world, access_token: str, granted: set[str]) -> None:
    response = world.anonymous.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    check_response(world, response)
    assert response.status_code == 200, response.get_data(as_text=True)
    extra = set(response.get_json()) - ({"sub"} | scope_claims(granted))
    assert not extra, f"userinfo released {sorted(extra)} with scopes {sorted(granted)}"
