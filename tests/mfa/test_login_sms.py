"""Password + SMS code through the hosted login, and what can go wrong with the code."""

from __future__ import annotations

import re

import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent
from tests.mfa.flows import finish, hidden, id_token_claims, password_step, submit_code, submit_password, tx_of


def _with_sms(citizen):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()


def test_password_then_sms_reaches_substantial(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    response = password_step(client, citizen, acr_values="idporten-loa-substantial")
    assert response.status_code in (302, 303) and response.location.startswith("/login/step")
    tx = tx_of(response.location)
    page = client.get(response.location)
    html = page.get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in html
    assert "67" in html and "+4791234567" not in html  # masked number
    [message] = outbox.messages()
    assert message["to"] == "+4791234567"
    assert "Testtjenesten" in message["text"]  # names the service
    code = outbox.last_code()
    assert len(code) == 5
    params = finish(client, submit_code(client, tx, code))
    claims = id_token_claims(client, params["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "sms", "mfa"]
    events = db.session.scalars(sa.select(AuditEvent.event).filter_by(citizen_id=citizen.id)).all()
    assert {"login.password", "login.factor", "login.complete"} <= set(events)
    assert not any(code in str(e.detail) for e in db.session.scalars(sa.select(AuditEvent)))


def test_sms_code_is_single_use_and_bound_to_its_login(app, citizen, rp, outbox, monkeypatch):
    codes = iter(["12345", "54321"])
    monkeypatch.setattr("idp.mfa.sms.numeric_code", lambda length: next(codes))
    _with_sms(citizen)
    client = app.test_client()
    first = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={first}")
    finish(client, submit_code(client, first, "12345"))
    # The same code again, in a new login (prompt=login asks for the password again), is refused.
    second = tx_of(password_step(client, citizen, prompt="login").location)
    client.get(f"/login/step?tx={second}")
    assert outbox.last_code() == "54321"
    response = submit_code(client, second, "12345")
    assert response.status_code == 400
    assert "The code is wrong" in response.get_data(as_text=True)
    finish(client, submit_code(client, second, "54321"))


def test_three_wrong_codes_spend_the_code(app, citizen, rp, outbox, clock, monkeypatch):
    codes = iter(["12345", "54321"])
    monkeypatch.setattr("idp.mfa.sms.numeric_code", lambda length: next(codes))
    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    code, wrong = "12345", "00000"
    for _ in range(2):
        assert "The code is wrong" in submit_code(client, tx, wrong).get_data(as_text=True)
    third = submit_code(client, tx, wrong)
    assert "Too many wrong codes" in third.get_data(as_text=True)
    assert len(outbox.messages()) == 1  # no new code until the citizen asks
    # The page's main button now asks for a new code; a reload sends none.
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    assert len(outbox.messages()) == 1
    assert 'name="code"' not in html
    assert re.search(r'action="/login/resend">.*?class="primary">Send a new code<', html, re.S)
    # The right code no longer works: it was spent.
    clock.advance(seconds=31)
    client.post("/login/resend", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert outbox.last_code() == "54321"
    # A fourth failure in a row (the spent code) makes the account wait (limits.free_failures = 3).
    refused = submit_code(client, tx, code)
    assert refused.status_code == 429
    assert "Wait before you try again" in refused.get_data(as_text=True)
    assert f'<a href="/login/step?tx={tx}">Try again</a>' in refused.get_data(as_text=True)
    assert submit_code(client, tx, "54321").status_code == 429  # even the right code must wait
    clock.advance(seconds=61)
    finish(client, submit_code(client, tx, "54321"))


def test_expired_code_is_refused(app, citizen, rp, outbox, clock):
    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    code = outbox.last_code()
    clock.advance(seconds=301)
    response = submit_code(client, tx, code)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_resend_is_throttled(app, citizen, rp, outbox, clock):
    from tests.mfa.flows import hidden

    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    token = hidden(html, "csrf_token")
    too_soon = client.post("/login/resend", data={"csrf_token": token, "tx": tx})
    # The same page, still with its code field, says how long is left.
    assert too_soon.status_code == 303 and too_soon.location == f"/login/step?tx={tx}"
    page = client.get(too_soon.location).get_data(as_text=True)
    assert "You can ask for a new code in 30 seconds." in page and 'name="code"' in page
    assert len(outbox.messages()) == 1
    clock.advance(seconds=29)
    assert "in 1 second." in client.get(too_soon.location).get_data(as_text=True)
    clock.advance(seconds=31)
    again = client.post("/login/resend", data={"csrf_token": token, "tx": tx})
    assert again.status_code in (302, 303)
    assert len(outbox.messages()) == 2
    finish(client, submit_code(client, tx, outbox.last_code()))


def test_a_resend_the_gateway_refuses_is_audited_and_explained(app, citizen, rp, outbox, clock, monkeypatch):
    from idp.mfa.gateways.sms import GatewayError
    from tests.mfa.flows import hidden

    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    token = hidden(client.get(f"/login/step?tx={tx}").get_data(as_text=True), "csrf_token")
    gateway = app.extensions["idp.chain"].factors["sms"].gateway

    def refuse(*, to: str, text: str) -> None:
        raise GatewayError("SMS gateway unavailable")

    monkeypatch.setattr(gateway, "send", refuse)
    clock.advance(seconds=31)
    response = client.post("/login/resend", data={"csrf_token": token, "tx": tx})
    assert response.status_code == 303
    assert "Sending the code failed" in client.get(response.location).get_data(as_text=True)
    db.session.remove()
    sends = db.session.scalars(sa.select(AuditEvent).filter_by(event="login.code_sent")).all()
    assert [(e.outcome, e.detail.get("factor")) for e in sends] == [("success", "sms"), ("gateway_error", "sms")]


def test_back_and_reload_show_each_page_as_it_was(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    login = password_step(client, citizen, password="wrong-password")
    assert login.status_code == 400 and "password is wrong" in login.get_data(as_text=True)
    tx = tx_of(login.request.full_path)
    assert tx_of(submit_password(client, f"/login?tx={tx}", pid=citizen.pid).location) == tx
    wrong = submit_code(client, tx, "00000")
    assert wrong.status_code == 400 and "The code is wrong" in wrong.get_data(as_text=True)
    # Back to the password page: its own state (no longer an error), not the code page's.
    back = client.get(f"/login?tx={tx}")
    assert back.status_code == 200 and "wrong" not in back.get_data(as_text=True)
    # Forward again, and reloads: the same code page, no new code sent.
    for _ in range(2):
        again = client.get(f"/login/step?tx={tx}")
        assert again.status_code == 400 and "The code is wrong" in again.get_data(as_text=True)
    assert len(outbox.messages()) == 1
    finish(client, submit_code(client, tx, outbox.last_code()))
