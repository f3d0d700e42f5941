"""The chain through the hosted login: TOTP, PIN either side of the cutoff, choice, step-up, unmet, amr profiles."""

from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol, set_preferred
from idp.mfa.factor import Outcome
from idp.models import AuditEvent
from tests.mfa.flows import (
    AFTER_CUTOFF,
    BEFORE_CUTOFF,
    REDIRECT_URI,
    authorize,
    choose,
    finish,
    hidden,
    id_token_claims,
    password_step,
    query,
    submit_code,
    submit_password,
    tx_of,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _totp(app, citizen):
    app.extensions["idp.chain"].factors["totp"].enrol(citizen, SECRET)
    db.session.commit()


def _code(clock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(clock(), counter_offset=offset_steps)


def _pin_letter(app, citizen) -> dict[int, str]:
    _row, codes = app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
    db.session.commit()
    return dict(codes)


def _asked_pin(client, tx: str) -> int:
    import re

    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    return int(re.search(r"PIN code number (\d+)", html).group(1))


def test_totp_login_and_replay(app, citizen, rp, clock):
    _totp(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    code = _code(clock)
    claims = id_token_claims(client, finish(client, submit_code(client, tx, code))["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    # The same time step again, in a fresh login: refused as a replay.
    tx = tx_of(password_step(client, citizen, prompt="login").location)
    response = submit_code(client, tx, code)
    assert response.status_code == 400
    assert "already been used" in response.get_data(as_text=True)
    outcomes = db.session.scalars(sa.select(AuditEvent.outcome).filter_by(event="login.factor")).all()
    assert outcomes == ["success", "replay"]
    # The next period's code works (valid_window 1: one step of drift either way).
    finish(client, submit_code(client, tx, _code(clock, 1)))


def test_totp_outside_the_window_is_wrong(app, citizen, rp, clock):
    _totp(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    response = submit_code(client, tx, _code(clock, -2))
    assert response.status_code == 400
    assert "The code is wrong" in response.get_data(as_text=True)


def test_pin_before_the_cutoff_reaches_low_with_a_notice(app, citizen, rp, clock):
    clock.current = BEFORE_CUTOFF
    codes = _pin_letter(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    number = _asked_pin(client, tx)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    assert "can be used until January 1, 2023" in html
    claims = id_token_claims(client, finish(client, submit_code(client, tx, codes[number]))["code"])
    assert claims["acr"] == "idporten-loa-low"
    assert claims["amr"] == ["pwd", "pin", "mfa"]
    # The code is burned: asking for the same number cannot happen, and the code is spent.
    row = app.extensions["idp.chain"].factors["pin"]._unused(citizen)
    assert number not in {code.number for code in row}
    assert len(row) == 24


def test_pin_does_not_reach_substantial(app, citizen, rp, clock):
    clock.current = BEFORE_CUTOFF
    _pin_letter(app, citizen)
    client = app.test_client()
    response = password_step(client, citizen, acr_values="idporten-loa-substantial", state="st-1")
    page = client.get(response.location)
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "requires a more secure way of logging in" in html
    # The citizen goes back: the client hears unmet_authentication_requirements with its state.
    back = client.post(
        "/authorize/unmet", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx_of(response.location)}
    )
    assert back.status_code in (302, 303) and back.location.startswith(REDIRECT_URI)
    params = query(back.location)
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == "st-1"
    assert params["iss"] == app.config["IDP"].server.issuer


def test_pin_after_the_cutoff_is_not_offered(app, citizen, rp, clock):
    clock.current = BEFORE_CUTOFF
    _pin_letter(app, citizen)
    clock.current = AFTER_CUTOFF
    client = app.test_client()
    page = client.get(password_step(client, citizen).location)
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "PIN codes from letters were phased out" in html
    # Nothing this citizen has logs in any more: Min profil would refuse them, so the letter is the way.
    assert "To log in again, order an activation letter." in html
    assert 'href="/profile/activation"' in html and 'href="/profile"' not in html
    event = db.session.scalars(sa.select(AuditEvent).filter_by(event="login.unmet")).one()
    assert event.detail["phased_out"] == ["pin"]


def test_right_pin_after_the_cutoff_is_refused_and_audited(app, citizen, rp, clock):
    clock.current = BEFORE_CUTOFF.replace(month=12, day=31, hour=23, minute=58)
    codes = _pin_letter(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    number = _asked_pin(client, tx)
    clock.advance(minutes=3)  # midnight passes while the page is open
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    response = client.post(
        f"/login/step?tx={tx}", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx, "code": codes[number]}
    )
    assert response.status_code == 303
    refused = client.get(response.location)
    assert refused.status_code == 403
    assert "PIN codes can no longer be used" in refused.get_data(as_text=True)
    assert not any(c.used_at for c in app.extensions["idp.chain"].factors["pin"]._unused(citizen))
    outcomes = db.session.scalars(sa.select(AuditEvent.outcome).filter_by(event="login.factor")).all()
    assert outcomes == ["phased_out"]
    assert not db.session.scalars(sa.select(AuditEvent).filter_by(event="login.complete")).all()


def test_choice_offers_the_preferred_factor_first(app, citizen, rp, clock):
    _totp(app, citizen)
    enrol(citizen, "sms", phone="+4791234567")
    set_preferred(citizen, "totp")
    db.session.commit()
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    assert html.index("Code from an authenticator app") < html.index("Code by SMS")
    # Each choice is a form of its own that sends one factor, as a browser would post it.
    forms = re.findall(r"<form .*?</form>", html, re.S)
    choices = [f for f in forms if 'action="/login/choose"' in f]
    assert len(choices) == 2 and all(f.count('name="factor"') == 1 for f in choices)
    fields = dict(re.findall(r'name="([^"]+)"(?: type="hidden")? value="([^"]*)"', choices[0]))
    chosen = client.post("/login/choose", data=fields)
    assert chosen.status_code == 303 and chosen.location == f"/login/step?tx={tx}"
    assert set(fields) == {"csrf_token", "tx", "factor"} and fields["factor"] == "totp"
    page = client.get(chosen.location).get_data(as_text=True)
    assert "<h1>Code from an authenticator app</h1>" in page and 'name="code"' in page
    finish(client, submit_code(client, tx, _code(clock)))


def test_step_up_asks_only_for_the_stronger_factor(app, citizen, rp, clock, outbox):
    clock.current = BEFORE_CUTOFF
    codes = _pin_letter(app, citizen)
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    choose(client, tx, "pin")
    number = _asked_pin(client, tx)
    claims = id_token_claims(client, finish(client, submit_code(client, tx, codes[number]))["code"])
    assert claims["acr"] == "idporten-loa-low"
    # A service asking for substantial: no password page, straight to the SMS code.
    start = authorize(client, acr_values="idporten-loa-substantial")
    assert start.location.startswith("/login?")
    step_up = client.get(start.location)
    assert step_up.status_code in (302, 303) and step_up.location.startswith("/login/step")
    tx = tx_of(step_up.location)
    client.get(step_up.location)
    assert len(outbox.messages()) == 1
    claims = id_token_claims(client, finish(client, submit_code(client, tx, outbox.last_code()))["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "sms", "mfa"]
    # The stepped-up session now serves substantial requests without any page.
    again = authorize(client, acr_values="idporten-loa-substantial")
    assert again.location.startswith(REDIRECT_URI)


def test_essential_acr_claim_is_a_minimum(app, citizen, rp, clock):
    clock.current = BEFORE_CUTOFF
    _pin_letter(app, citizen)
    client = app.test_client()
    claims = '{"id_token": {"acr": {"essential": true, "values": ["idporten-loa-substantial"]}}}'
    page = client.get(password_step(client, citizen, claims=claims).location)
    assert page.status_code == 403  # PIN cannot reach it


def test_idporten_amr_profile(app, citizen, rp, clock, monkeypatch):
    monkeypatch.setattr(app.extensions["idp.policy"], "amr_profile", "idporten")
    _totp(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    claims = id_token_claims(client, finish(client, submit_code(client, tx, _code(clock)))["code"])
    assert claims["amr"] == ["Minid-TOTP"]


def test_no_second_factor_means_no_login_by_default(app, citizen, rp):
    client = app.test_client()
    page = client.get(password_step(client, citizen).location)
    assert page.status_code == 403
    assert "Order an activation letter" in page.get_data(as_text=True)


def test_cancel_on_the_factor_page_is_access_denied(app, citizen, rp, clock):
    _totp(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen, state="st-2").location)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    back = client.post("/authorize/cancel", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    params = query(back.location)
    assert params["error"] == "access_denied" and params["state"] == "st-2"


def test_max_age_asks_for_the_password_again_not_just_a_factor(app, citizen, rp, clock):
    _totp(app, citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    finish(client, submit_code(client, tx, _code(clock)))
    clock.advance(minutes=2)
    fresh_enough = authorize(client, max_age="300")
    assert fresh_enough.location.startswith(REDIRECT_URI)  # the session is young enough: no pages
    too_old = authorize(client, max_age="60", acr_values="idporten-loa-substantial")
    page = client.get(too_old.location)
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.get_data(as_text=True)
    tx = tx_of(submit_password(client, too_old.location, pid=citizen.pid).location)
    clock.advance(seconds=30)
    claims = id_token_claims(client, finish(client, submit_code(client, tx, _code(clock)))["code"])
    assert claims["auth_time"] == int(clock().timestamp())


def test_essential_acr_claim_met_with_sms(app, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    claims = '{"id_token": {"acr": {"essential": true, "values": ["idporten-loa-substantial"]}}}'
    tx = tx_of(password_step(client, citizen, claims=claims).location)
    client.get(f"/login/step?tx={tx}")
    token = id_token_claims(client, finish(client, submit_code(client, tx, outbox.last_code()))["code"])
    assert token["acr"] == "idporten-loa-substantial"


def test_a_pending_answer_is_no_failure_and_a_proof_s_own_amr_reaches_the_token(app, citizen, rp, clock, monkeypatch):
    """The interface for answers that are not codes: an approval not yet given, a proof whose amr depends on it."""
    _totp(app, citizen)
    totp = app.extensions["idp.chain"].factors["totp"]
    answers = iter(
        [Outcome(False, "pending"), Outcome(True, amr={"rfc8176": ["swk", "user"], "idporten": ["Minid-TOTP"]})]
    )
    monkeypatch.setattr(totp, "verify", lambda citizen, state, response: next(answers))
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    waiting = submit_code(client, tx, "000000")
    assert waiting.status_code == 200  # no error: still waiting
    assert not db.session.scalars(sa.select(AuditEvent).filter_by(event="login.factor")).all()
    claims = id_token_claims(client, finish(client, submit_code(client, tx, "000000"))["code"])
    assert claims["amr"] == ["pwd", "swk", "user", "mfa"]
