"""Min profil: logging in to it, adding and removing factors, password, recent logins, activation letters."""

from __future__ import annotations

import re
from datetime import date

import pyotp
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol, enrolment, enrolments
from idp.models import AuditEvent
from tests.conftest import PASSWORD
from tests.mfa.flows import AFTER_CUTOFF, BEFORE_CUTOFF, hidden, password_step, submit_code, submit_password, tx_of


def _profile(client, citizen, outbox):
    """Log in to the profile through the hosted login with password + SMS; returns the profile page's HTML."""
    start = client.get("/profile")
    assert start.status_code in (302, 303) and start.location.endswith("/profile/login")
    login = client.get(start.location)
    response = submit_password(client, login.location, pid=citizen.pid)
    tx = tx_of(response.location)
    client.get(response.location)
    done = submit_code(client, tx, outbox.last_code())
    assert done.status_code in (302, 303) and done.location.endswith("/profile")
    page = client.get("/profile")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _with_sms(citizen, phone="+4791234567"):
    enrol(citizen, "sms", phone=phone)
    db.session.commit()


def test_change_phone_confirmed_by_code(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    assert "Recent logins" in html and '<td class="level" data-label="Level of security">Substantial</td>' in html
    page = client.post(
        "/profile/phone", data={"csrf_token": hidden(html, "csrf_token"), "phone": "98765432"}, follow_redirects=True
    )
    assert page.status_code == 200
    assert outbox.messages()[-1]["to"] == "+4798765432"
    confirm = page.get_data(as_text=True)
    wrong = client.post(
        "/profile/phone/confirm", data={"csrf_token": hidden(confirm, "csrf_token"), "code": "x"}, follow_redirects=True
    )
    assert wrong.status_code == 400
    assert enrolment(citizen, "sms").phone == "+4791234567"
    done = client.post(
        "/profile/phone/confirm",
        data={"csrf_token": hidden(confirm, "csrf_token"), "code": outbox.last_code()},
        follow_redirects=True,
    )
    assert "Codes by SMS are turned on" in done.get_data(as_text=True)
    db.session.expire_all()
    assert enrolment(citizen, "sms").phone == "+4798765432"
    assert citizen.phone == "+4798765432" and citizen.phone_verified


def test_enrol_totp_with_qr(app, citizen, rp, outbox, clock):
    _with_sms(citizen)
    client = app.test_client()
    _profile(client, citizen, outbox)
    page = client.get("/profile/totp").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r"secret=([A-Z2-7]+)", page).group(1)
    # The key by hand, in groups of four; and a link that opens the authenticator app on this phone.
    assert re.search(r"<span>[A-Z2-7]{4}</span> <span>[A-Z2-7]{4}</span>", page)
    assert re.search(r'href="otpauth://totp/[^"]*secret=' + secret, page)
    code = pyotp.TOTP(secret).at(clock())
    wrong = client.post(
        "/profile/totp", data={"csrf_token": hidden(page, "csrf_token"), "code": "000000"}, follow_redirects=True
    )
    assert wrong.status_code == 400
    done = client.post(
        "/profile/totp", data={"csrf_token": hidden(page, "csrf_token"), "code": code}, follow_redirects=True
    )
    assert "authenticator app is set up" in done.get_data(as_text=True)
    db.session.expire_all()
    assert app.extensions["idp.chain"].factors["totp"].secret_of(enrolment(citizen, "totp")) == secret
    # The confirming code was used: it cannot log in.
    totp = app.extensions["idp.chain"].factors["totp"]
    assert totp.verify(citizen, {}, {"code": code}).reason == "replay"


def test_removing_the_last_substantial_factor_needs_confirmation(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    ask = client.post(
        "/profile/remove", data={"csrf_token": hidden(html, "csrf_token"), "factor": "sms"}, follow_redirects=True
    )
    assert "Remove it anyway" in ask.get_data(as_text=True)
    assert enrolment(citizen, "sms") is not None
    done = client.post(
        "/profile/remove",
        data={"csrf_token": hidden(html, "csrf_token"), "factor": "sms", "confirm": "yes"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    db.session.expire_all()
    assert enrolment(citizen, "sms") is None
    assert db.session.scalars(sa.select(AuditEvent).filter_by(event="profile.factor_removed")).one()


def test_removing_one_of_two_and_preferring(app, citizen, rp, outbox):
    _with_sms(citizen)
    app.extensions["idp.chain"].factors["totp"].enrol(citizen, pyotp.random_base32())
    db.session.commit()
    client = app.test_client()
    client.get("/profile/login")
    # Two factors: the login asks which; choose SMS.
    login = client.get(client.get("/profile/login").location)
    response = submit_password(client, login.request.path + "?" + login.request.query_string.decode(), pid=citizen.pid)
    tx = tx_of(response.location)
    html = client.get(response.location).get_data(as_text=True)
    client.post("/login/choose", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx, "factor": "sms"})
    client.get(f"/login/step?tx={tx}")
    assert submit_code(client, tx, outbox.last_code()).location.endswith("/profile")
    html = client.get("/profile").get_data(as_text=True)
    preferred = client.post(
        "/profile/preferred", data={"csrf_token": hidden(html, "csrf_token"), "factor": "totp"}, follow_redirects=True
    )
    assert "Your choice is saved" in preferred.get_data(as_text=True)
    assert [row.name for row in enrolments(citizen) if row.preferred] == ["totp"]
    ask = client.post(
        "/profile/remove", data={"csrf_token": hidden(html, "csrf_token"), "factor": "sms"}, follow_redirects=True
    )
    # Always asked first; no warning, TOTP still reaches substantial.
    assert "Remove it</button>" in ask.get_data(as_text=True) and "Remove it anyway" not in ask.get_data(as_text=True)
    assert enrolment(citizen, "sms") is not None
    removed = client.post(
        "/profile/remove",
        data={"csrf_token": hidden(html, "csrf_token"), "factor": "sms", "confirm": "yes"},
        follow_redirects=True,
    )
    assert "was removed" in removed.get_data(as_text=True)


def test_change_password(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    token = hidden(html, "csrf_token")
    wrong = client.post(
        "/profile/password",
        data={"csrf_token": token, "current": "nope", "new": "nytt-passord-9", "repeat": "nytt-passord-9"},
        follow_redirects=True,
    )
    assert "current password is wrong" in wrong.get_data(as_text=True)
    short = client.post(
        "/profile/password",
        data={"csrf_token": token, "current": PASSWORD, "new": "kort", "repeat": "kort"},
        follow_redirects=True,
    )
    assert "at least 8" in short.get_data(as_text=True)
    done = client.post(
        "/profile/password",
        data={"csrf_token": token, "current": PASSWORD, "new": "nytt-passord-9", "repeat": "nytt-passord-9"},
        follow_redirects=True,
    )
    assert "Your password is changed" in done.get_data(as_text=True)
    assert password_step(app.test_client(), citizen, password="nytt-passord-9").status_code in (302, 303)


def test_activation_letter_brings_a_pin_only_citizen_back(app, citizen, rp, outbox, clock, tmp_path):
    clock.current = BEFORE_CUTOFF
    app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
    db.session.commit()
    clock.current = AFTER_CUTOFF
    client = app.test_client()
    page = client.get("/profile/activation").get_data(as_text=True)
    ordered = client.post(
        "/profile/activation",
        data={"csrf_token": hidden(page, "csrf_token"), "pid": citizen.pid, "password": PASSWORD},
        follow_redirects=True,
    )
    assert "on its way" in ordered.get_data(as_text=True)
    [letter] = (tmp_path / "letters").glob("*-activation-*.txt")
    text = letter.read_text()
    assert "Storgata 1" in text
    code = re.search(r"\d{4}-\d{4}-\d{4}", text).group(0)
    again = client.post(
        "/profile/activation",
        data={"csrf_token": hidden(page, "csrf_token"), "pid": citizen.pid, "password": PASSWORD},
        follow_redirects=True,
    )
    assert "already sent" in again.get_data(as_text=True)
    page = client.get("/profile/activate").get_data(as_text=True)
    token = hidden(page, "csrf_token")
    bad = client.post(
        "/profile/activate",
        data={"csrf_token": token, "pid": citizen.pid, "password": PASSWORD, "code": "0000-0000-0000"},
        follow_redirects=True,
    )
    assert bad.status_code == 400
    good = client.post(
        "/profile/activate",
        data={"csrf_token": token, "pid": citizen.pid, "password": PASSWORD, "code": code},
        follow_redirects=True,
    )
    html = good.get_data(as_text=True)
    assert "grant" not in html  # the activation grant rides in the HttpOnly session cookie, never a URL
    # Another browser, without that cookie, gets nothing from the setup pages.
    stranger = app.test_client()
    own_token = hidden(stranger.get("/profile/activate").get_data(as_text=True), "csrf_token")
    refused = stranger.post(
        "/profile/activate/phone", data={"csrf_token": own_token, "phone": "+4791112222"}, follow_redirects=True
    )
    assert "expired" in refused.get_data(as_text=True)
    action = re.search(r'action="([^"]*activate/phone[^"]*)"', html).group(1).replace("&amp;", "&")
    confirm = client.post(action, data={"csrf_token": token, "phone": "+4791112222"}, follow_redirects=True)
    confirm_html = confirm.get_data(as_text=True)
    action = re.search(r'action="([^"]*activate/confirm[^"]*)"', confirm_html).group(1).replace("&amp;", "&")
    wrong = client.post(
        action,
        data={"csrf_token": token, "code": "00000" if outbox.last_code() != "00000" else "1"},
        follow_redirects=True,
    )
    assert wrong.status_code == 400 and 'name="code"' in wrong.get_data(as_text=True)  # may try again
    done = client.post(action, data={"csrf_token": token, "code": outbox.last_code()}, follow_redirects=True)
    assert "Codes by SMS are turned on" in done.get_data(as_text=True)
    # The letter's code is spent; the citizen now logs in with password + SMS.
    reuse = client.post(
        "/profile/activate",
        data={"csrf_token": token, "pid": citizen.pid, "password": PASSWORD, "code": code},
        follow_redirects=True,
    )
    assert reuse.status_code == 400
    db.session.expire_all()
    assert enrolment(citizen, "sms").phone == "+4791112222"
    tx = tx_of(password_step(client, citizen, prompt="login").location)
    client.get(f"/login/step?tx={tx}")
    assert submit_code(client, tx, outbox.last_code()).location.startswith("/authorize/resume")


def test_a_low_session_must_step_up_before_changing_strong_factors(app, citizen, rp, outbox, clock):
    clock.current = BEFORE_CUTOFF
    _row, codes = app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    client.post("/login/choose", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx, "factor": "pin"})
    number = int(re.search(r"PIN code number (\d+)", client.get(f"/login/step?tx={tx}").get_data(as_text=True))[1])
    submit_code(client, tx, dict(codes)[number])
    # Password + PIN is low; this citizen can reach substantial, so the profile asks for SMS first.
    start = client.get("/profile")
    assert start.status_code in (302, 303) and "acr=idporten-loa-substantial" in start.location
    step_up = client.get(client.get(start.location).location)
    assert step_up.status_code in (302, 303) and step_up.location.startswith("/login/step")
    tx = tx_of(step_up.location)
    client.get(step_up.location)
    assert submit_code(client, tx, outbox.last_code()).location.endswith("/profile")
    assert client.get("/profile").status_code == 200


def test_pin_only_citizen_may_add_sms_from_a_low_session(app, citizen, rp, outbox, clock):
    clock.current = BEFORE_CUTOFF
    _row, codes = app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
    db.session.commit()
    client = app.test_client()
    login = client.get(client.get("/profile/login").location)
    response = submit_password(client, login.request.path + "?" + login.request.query_string.decode(), pid=citizen.pid)
    tx = tx_of(response.location)
    number = int(re.search(r"PIN code number (\d+)", client.get(response.location).get_data(as_text=True))[1])
    assert submit_code(client, tx, dict(codes)[number]).location.endswith("/profile")
    html = client.get("/profile").get_data(as_text=True)
    page = client.post(
        "/profile/phone", data={"csrf_token": hidden(html, "csrf_token"), "phone": "91234567"}, follow_redirects=True
    )
    confirm = page.get_data(as_text=True)
    client.post(
        "/profile/phone/confirm",
        data={"csrf_token": hidden(confirm, "csrf_token"), "code": outbox.last_code()},
        follow_redirects=True,
    )
    db.session.expire_all()
    assert enrolment(citizen, "sms").phone == "+4791234567"


def test_activation_letter_can_set_up_an_authenticator_app(app, citizen, rp, clock, tmp_path):
    client = app.test_client()
    page = client.get("/profile/activation").get_data(as_text=True)
    client.post(
        "/profile/activation",
        data={"csrf_token": hidden(page, "csrf_token"), "pid": citizen.pid, "password": PASSWORD},
        follow_redirects=True,
    )
    [letter] = (tmp_path / "letters").glob("*-activation-*.txt")
    code = re.search(r"\d{4}-\d{4}-\d{4}", letter.read_text()).group(0)
    page = client.get("/profile/activate").get_data(as_text=True)
    token = hidden(page, "csrf_token")
    html = client.post(
        "/profile/activate",
        data={"csrf_token": token, "pid": citizen.pid, "password": PASSWORD, "code": code},
        follow_redirects=True,
    ).get_data(as_text=True)
    link = re.search(r'href="([^"]*activate/totp[^"]*)"', html).group(1).replace("&amp;", "&")
    setup = client.get(link).get_data(as_text=True)
    secret = re.search(r"secret=([A-Z2-7]+)", setup).group(1)
    done = client.post(link, data={"csrf_token": token, "code": pyotp.TOTP(secret).at(clock())}, follow_redirects=True)
    assert "Your authenticator app is set up" in done.get_data(as_text=True)
    assert client.get(link).status_code == 400  # the grant is spent
    db.session.expire_all()
    assert app.extensions["idp.chain"].factors["totp"].secret_of(enrolment(citizen, "totp")) == secret


def test_recent_logins_name_the_service(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    submit_code(client, tx, outbox.last_code())
    html = client.get("/profile").get_data(as_text=True)
    assert '<td data-label="Service">Testtjenesten</td>' in html
    # 12:00 UTC on 26 November is 13:00 in Oslo; the level has a name, not an acr value.
    assert '<td data-label="When">Nov 26, 2026, 1:00:00\u202fPM</td>' in html
    assert '<td class="level" data-label="Level of security">Substantial</td>' in html and "idporten-loa" not in html
    client.set_cookie("lang", "nb")
    html = client.get("/profile").get_data(as_text=True)
    assert '<td data-label="Når">26. nov. 2026, 13:00:00</td>' in html
    assert '<td class="level" data-label="Sikkerhetsnivå">Betydelig</td>' in html


def test_a_wrong_digit_keeps_the_citizen_on_the_code_page(app, citizen, rp, outbox, clock):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    sent = client.post("/profile/phone", data={"csrf_token": hidden(html, "csrf_token"), "phone": "98765432"})
    assert sent.status_code == 303 and sent.location == "/profile/phone/confirm"
    page = client.get(sent.location).get_data(as_text=True)
    token = hidden(page, "csrf_token")
    wrong = client.post("/profile/phone/confirm", data={"csrf_token": token, "code": "00000"})
    assert wrong.status_code == 303 and wrong.location == "/profile/phone/confirm"
    again = client.get(wrong.location)
    html = again.get_data(as_text=True)
    assert again.status_code == 400
    assert 'aria-invalid="true"' in html and "The code is wrong" in html and "+4798765432" in html
    # Too soon for a new code: the same page says how long is left.
    too_soon = client.post("/profile/phone/resend", data={"csrf_token": token}, follow_redirects=True)
    assert "You can ask for a new code in 30 seconds." in too_soon.get_data(as_text=True)
    assert len([m for m in outbox.messages() if m["to"] == "+4798765432"]) == 1
    # Two more wrong codes spend it: the page's main button asks for a new one.
    for _ in range(2):
        client.post("/profile/phone/confirm", data={"csrf_token": token, "code": "00000"})
    spent = client.get("/profile/phone/confirm").get_data(as_text=True)
    assert 'name="code"' not in spent and "Too many wrong codes" in spent
    clock.advance(seconds=31)
    client.post("/profile/phone/resend", data={"csrf_token": token})
    assert outbox.messages()[-1]["to"] == "+4798765432"
    done = client.post(
        "/profile/phone/confirm", data={"csrf_token": token, "code": outbox.last_code()}, follow_redirects=True
    )
    assert "Codes by SMS are turned on" in done.get_data(as_text=True)
    db.session.expire_all()
    assert enrolment(citizen, "sms").phone == "+4798765432"


def test_profile_forms_name_what_is_missing_at_the_field(app, citizen, rp, outbox):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    token = hidden(html, "csrf_token")
    empty = client.post("/profile/password", data={"csrf_token": token}, follow_redirects=True)
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400
    for field, text in [("current", "Type your current password."), ("new", "Type a new password.")]:
        assert f'<span class="field-error" id="{field}-error">{text}</span>' in html
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', html)
    assert '<a href="#current">Type your current password.</a>' in html
    phone = client.post("/profile/phone", data={"csrf_token": token, "phone": "12"}, follow_redirects=True)
    assert "That is not a mobile number we can send to." in phone.get_data(as_text=True)
    ids = re.findall(r'\bid="([^"]+)"', phone.get_data(as_text=True))
    assert len(ids) == len(set(ids)), ids


def test_no_enrolment_after_enrol_until(app, citizen, rp, outbox, monkeypatch):
    _with_sms(citizen)
    client = app.test_client()
    html = _profile(client, citizen, outbox)
    from idp.policy.assurance import FactorRule

    rules = app.extensions["idp.policy"].rules
    monkeypatch.setitem(rules, "totp", FactorRule("totp", rules["totp"].level, enrol_until=date(2020, 1, 1)))
    assert client.get("/profile/totp").status_code == 403
    sent = len(outbox.messages())
    monkeypatch.setitem(rules, "sms", FactorRule("sms", rules["sms"].level, enrol_until=date(2020, 1, 1)))
    refused = client.post(
        "/profile/phone", data={"csrf_token": hidden(html, "csrf_token"), "phone": "98765432"}, follow_redirects=True
    )
    assert refused.status_code == 400 and "can no longer be set up" in refused.get_data(as_text=True)
    assert len(outbox.messages()) == sent
