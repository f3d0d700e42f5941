"""A forgotten password at /forgot: with SMS, with TOTP, with a letter; limits, audit and no enumeration."""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa import enrolment as rows
from idp.mfa.password import verify_password
from idp.models import AuditEvent, LoginSession
from idp.pid import generate_pid
from tests.conftest import PASSWORD, add_citizen
from tests.flows import hidden

NEW = "gule-giraffer-leser-avis"


def events(name: str) -> list[str]:
    return [e.outcome for e in db.session.scalars(sa.select(AuditEvent).filter_by(event=name).order_by(AuditEvent.id))]


def post(client, get_path: str, post_path: str | None = None, **data: str):
    page = client.get(get_path).get_data(as_text=True)
    return client.post(post_path or get_path, data={"csrf_token": hidden(page, "csrf_token"), **data})


def begin(client, pid: str, method: str):
    """The number, then the way: returns the response to the choice."""
    assert post(client, "/forgot", pid=pid).location == "/forgot/method"
    return post(client, "/forgot/method", method=method)


def live_session(citizen, clock) -> LoginSession:
    session = LoginSession(
        cookie_hash=secrets.token_hex(32),
        sid=secrets.token_urlsafe(16),
        citizen=citizen,
        auth_time=clock(),
        acr="idporten-loa-substantial",
        amr=["pwd", "sms", "mfa"],
        expires_at=clock() + timedelta(hours=8),
    )
    db.session.add(session)
    db.session.commit()
    return session


def password_is(app, citizen, value: str) -> bool:
    db.session.refresh(citizen)
    return verify_password(app.extensions["idp.hasher"], citizen.password_hash, value)


@pytest.fixture
def with_sms(app):
    citizen = add_citizen(app)
    rows.enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    return citizen


def test_with_sms_the_password_is_replaced_sessions_end_and_the_phone_hears_of_it(app, with_sms, outbox, clock):
    session = live_session(with_sms, clock)
    client = app.test_client()
    assert begin(client, with_sms.pid, "sms").location == "/forgot/code"
    code = outbox.last_code()
    assert "choosing a new password" in outbox.messages()[-1]["text"]
    assert post(client, "/forgot/code", code=code).location == "/forgot/password"
    weak = post(client, "/forgot/password", password="Kari1990", repeat="Kari1990")
    html = client.get(weak.location).get_data(as_text=True)
    assert 'aria-invalid="true"' in html and "<meter" in html
    assert post(client, "/forgot/password", password=NEW, repeat=NEW).location == "/forgot/done"
    assert password_is(app, with_sms, NEW) and not password_is(app, with_sms, PASSWORD)
    db.session.refresh(session)
    assert session.ended_at is not None
    assert (
        outbox.messages()[-1]["to"] == "+4791234567"
        and "password of your account was changed" in outbox.messages()[-1]["text"]
    )
    assert events("forgot.password") == ["success"] and events("forgot.notice") == ["success"]
    # The proof is spent with the password: the page is gone, and the code cannot be used again.
    assert client.get("/forgot/password").status_code == 400
    assert post(client, "/forgot", "/forgot/code", code=code).status_code == 400


def test_with_totp(app, clock):
    citizen = add_citizen(app)
    secret = pyotp.random_base32()
    app.extensions["idp.chain"].factors["totp"].enrol(citizen, secret)
    db.session.commit()
    client = app.test_client()
    assert begin(client, citizen.pid, "totp").location == "/forgot/code"
    code = pyotp.TOTP(secret).at(clock())
    assert post(client, "/forgot/code", code=code).location == "/forgot/password"
    assert post(client, "/forgot/password", password=NEW, repeat=NEW).location == "/forgot/done"
    assert password_is(app, citizen, NEW)
    # The same TOTP code again is a replay, even in a new attempt.
    other = app.test_client()
    begin(other, citizen.pid, "totp")
    assert post(other, "/forgot/code", code=code).location == "/forgot/code"
    assert events("forgot.code") == ["success", "replay"]


def test_with_a_letter_ordered_without_logging_in(app, with_sms, letters, outbox):
    client = app.test_client()
    assert begin(client, with_sms.pid, "letter").location == "/forgot/letter"
    assert "should arrive by" in client.get("/forgot/letter").get_data(as_text=True)
    [letter] = letters()
    assert "You asked for a new password" in letter and with_sms.pid not in letter
    code = re.search(r"\b([0-9]{4}-[0-9]{4}-[0-9]{4})\b", letter).group(1)
    # A second order while the letter is valid sends nothing new.
    begin(app.test_client(), with_sms.pid, "letter")
    assert len(letters()) == 1

    use = app.test_client()
    # A weak password is refused before the code is looked at: the letter stays usable.
    refused = post(use, "/forgot/letter/use", pid=with_sms.pid, code=code, password="password1", repeat="password1")
    assert "leaked" in use.get(refused.location).get_data(as_text=True)
    wrong = post(use, "/forgot/letter/use", pid=with_sms.pid, code="1111-2222-3333", password=NEW, repeat=NEW)
    assert "activation code is wrong" in use.get(wrong.location).get_data(as_text=True)
    assert (
        post(use, "/forgot/letter/use", pid=with_sms.pid, code=code, password=NEW, repeat=NEW).location
        == "/forgot/done"
    )
    assert password_is(app, with_sms, NEW)
    again = post(use, "/forgot/letter/use", pid=with_sms.pid, code=code, password=PASSWORD + "x", repeat=PASSWORD + "x")
    assert again.location == "/forgot/letter/use" and password_is(app, with_sms, NEW)
    assert events("forgot.letter") == ["success", "already_ordered"]
    assert events("forgot.letter_use") == ["failure", "failure"]


def strip(html: str) -> str:
    return re.sub(r'value="[^"]*"', "", html)


@pytest.mark.parametrize("method", ["sms", "totp", "letter"])
def test_a_number_without_an_account_meets_the_same_pages(app, with_sms, outbox, letters, method):
    unknown = generate_pid(birth_date=date(1999, 9, 9), synthetic=True)
    known_client, unknown_client = app.test_client(), app.test_client()
    known = begin(known_client, with_sms.pid, method)
    stranger = begin(unknown_client, unknown, method)
    assert known.location == stranger.location
    assert strip(known_client.get(known.location).get_data(as_text=True)) == strip(
        unknown_client.get(stranger.location).get_data(as_text=True)
    )
    if method != "letter":
        wrong = post(unknown_client, "/forgot/code", code="12345")
        assert wrong.location == "/forgot/code"
        assert "The code is wrong" in unknown_client.get("/forgot/code").get_data(as_text=True)
    # Nothing went to anyone for the unknown number.
    assert all(m["to"] == "+4791234567" for m in outbox.messages())
    assert len(letters()) == (1 if method == "letter" else 0)


def test_wrong_codes_are_throttled_like_the_login(app, with_sms, outbox):
    client = app.test_client()
    begin(client, with_sms.pid, "totp")  # nothing is sent; every code is checked against the app
    for _ in range(3):
        post(client, "/forgot/code", code="000000")
    html = client.get("/forgot/code").get_data(as_text=True)
    assert "The code is wrong" in html
    post(client, "/forgot/code", code="000000")
    assert "wait" in client.get("/forgot/code").get_data(as_text=True).lower()
    assert events("limits.throttled")


def test_hostile_input(app, with_sms):
    client = app.test_client()
    assert post(client, "/forgot", pid="1" * 50_000).location == "/forgot"
    assert 'aria-invalid="true"' in client.get("/forgot").get_data(as_text=True)
    begin(client, with_sms.pid, "sms")
    assert post(client, "/forgot/method", method="admin").location == "/forgot/method"
    assert post(client, "/forgot/method", method="totp\u202e").location == "/forgot/method"
    for path in ("/forgot/code", "/forgot/password", "/forgot/letter", "/forgot/done", "/forgot/letter/use"):
        assert app.test_client().get(path).status_code in (200, 302, 400)
    assert app.test_client().post("/forgot/password", data={"password": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("lang", "title"), [("nb", "Glemt passord"), ("nn", "Gløymt passord"), ("en", "Forgotten password")]
)
def test_the_pages_in_every_language(app, with_sms, lang, title):
    client = app.test_client()
    client.set_cookie("lang", lang)
    assert f"<h1>{title}</h1>" in client.get("/forgot").get_data(as_text=True)
    assert 'autocomplete="username"' in client.get("/forgot").get_data(as_text=True)
    begin(client, with_sms.pid, "totp")
    assert 'autocomplete="one-time-code"' in client.get("/forgot/code").get_data(as_text=True)
    html = client.get("/forgot/letter/use").get_data(as_text=True)
    assert html.count('autocomplete="new-password"') == 2 and 'autocomplete="one-time-code"' in html
