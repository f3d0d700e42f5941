"""A letter's link comes from the issuer, never from the request's Host header.

The Host header is refused unless trusted (tests/unit/test_trusted_hosts.py);
here a proxy passes any host through, and the letter must still name the issuer.
"""

from __future__ import annotations

import pytest

from idp.extensions import db
from tests.conftest import PASSWORD
from tests.mfa.flows import AFTER_CUTOFF, BEFORE_CUTOFF, hidden

EVIL = "idp-login.evil.example"


@pytest.fixture
def env(env):
    return {**env, "IDP_SERVER_TRUSTED_HOSTS": f"127.0.0.1,localhost,{EVIL}"}


def test_the_letter_names_the_issuer_whatever_host_the_request_named(app, citizen, clock, tmp_path):
    clock.current = BEFORE_CUTOFF
    app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
    db.session.commit()
    clock.current = AFTER_CUTOFF
    client = app.test_client()
    page = client.get("/profile/activation", headers={"Host": EVIL, "Accept-Language": "en"})
    ordered = client.post(
        "/profile/activation",
        headers={"Host": EVIL, "Accept-Language": "en"},
        data={
            "csrf_token": hidden(page.get_data(as_text=True), "csrf_token"),
            "pid": citizen.pid,
            "password": PASSWORD,
        },
    )
    # Redirect after POST: relative, so it names no host of the request's either.
    assert ordered.status_code == 303 and ordered.location == "/profile/activation"
    shown = client.get(ordered.location, headers={"Host": EVIL, "Accept-Language": "en"})
    assert "on its way" in shown.get_data(as_text=True)
    [letter] = (tmp_path / "letters").glob("*-activation-*.txt")
    text = letter.read_text()
    assert "http://127.0.0.1:5000/profile/activate" in text
    assert EVIL not in text
