"""Claims the register knows: birthdate from the identity number, updated_at when a released value changed."""

from __future__ import annotations

import time
from datetime import date

import pytest

from idp.extensions import db
from idp.oidc.claims import released_claims
from idp.pid import generate_pid
from tests.conftest import PASSWORD, add_citizen
from tests.flows import login_for_code
from tests.oidc.test_code_flow import exchange


def _userinfo(app, citizen, scope: str) -> dict:
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, scope=scope)
    tokens = exchange(http, back["code"]).get_json()
    return http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()


def test_profile_carries_birthdate_and_updated_at(app, rp):
    citizen = add_citizen(app, born=date(1961, 2, 28))
    info = _userinfo(app, citizen, "openid profile")
    assert info["birthdate"] == "1961-02-28"
    assert info["updated_at"] == int(citizen.claims_updated_at.timestamp())
    assert isinstance(info["updated_at"], int)
    assert "birthdate" not in _userinfo(app, citizen, "openid email")


def test_discovery_lists_the_register_claims(app):
    claims = app.test_client().get("/.well-known/openid-configuration").get_json()["claims_supported"]
    assert {"birthdate", "updated_at"} <= set(claims)


@pytest.mark.parametrize("dnr", [False, True], ids=["fødselsnummer", "d-nummer"])
@pytest.mark.parametrize("born", [date(1899, 12, 31), date(1940, 1, 1), date(2000, 2, 29), date(2039, 12, 31)])
def test_birthdate_follows_the_number_rules(app, born, dnr):
    citizen = add_citizen(app, born=date(1990, 1, 1))
    citizen.pid = generate_pid(birth_date=born, synthetic=True, dnr=dnr)
    assert released_claims(citizen, frozenset({"birthdate"}), locale=None) == {"birthdate": born.isoformat()}


def test_an_unreadable_number_gives_no_birthdate_rather_than_a_wrong_one(app, citizen):
    citizen.pid = "00000000000"
    assert released_claims(citizen, frozenset({"birthdate", "given_name"}), locale=None) == {"given_name": "Kari"}


def test_updated_at_moves_with_a_released_value_not_with_a_password_or_lock(app, citizen):
    from idp.mfa.password import hash_password
    from idp.models.citizen import CitizenStatus

    first = citizen.claims_updated_at
    time.sleep(0.01)  # distinct timestamps, not a timing assertion
    citizen.password_hash = hash_password(app.extensions["idp.hasher"], "another password 123")
    citizen.status = CitizenStatus.locked
    db.session.commit()
    assert citizen.claims_updated_at == first
    citizen.email = "kari.nordmann@example.org"
    db.session.commit()
    assert citizen.claims_updated_at > first
