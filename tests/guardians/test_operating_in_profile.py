"""A guardian takes on a ward's account in Min profil: SMS to the guardian's own phone, confirmed by a code.

Through Flask's test client as a browser without JavaScript, on SQLite and on PostgreSQL + Redis,
from the guardian's own login to the ward's account logging in at a service with the guardian's phone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol, enrolment
from idp.models import AuditEvent, LoginSession, Mandate
from idp.pid import generate_pid, mask_pid
from tests.conftest import FakeClock, add_citizen, add_client, make_config
from tests.mfa.flows import (
    EnglishClient,
    SmsOutbox,
    finish,
    hidden,
    id_token_claims,
    password_step,
    submit_code,
    submit_password,
    tx_of,
)

GUARDIAN_PHONE = "+4790000001"
WARD_PHONE = "+4798888888"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def config(tmp_path, backend):
    return make_config(
        tmp_path,
        **backend.env,
        IDP_ASSURANCE_PASSWORD_ONLY="false",
        IDP_SMS_OUTBOX=str(tmp_path / "sms.jsonl"),
        IDP_LETTERS_OUTBOX=str(tmp_path / "letters"),
    )


@pytest.fixture
def outbox(tmp_path):
    return SmsOutbox(tmp_path / "sms.jsonl")


@pytest.fixture
def world(app, clock):
    """Vera is the guardian of Ola (in force), Per (expired), Siri (revoked) and Tor (from next week);
    Olga is the guardian of Kari. Vera's own SMS goes to GUARDIAN_PHONE."""
    app.test_client_class = EnglishClient
    add_client()
    guardian = add_citizen(app, born=date(1961, 1, 1), given_name="Vera")
    other = add_citizen(app, born=date(1962, 2, 2), given_name="Olga")
    enrol(guardian, "sms", phone=GUARDIAN_PHONE)
    today, day = clock().date(), timedelta(days=1)
    wards = {}
    for i, (name, reference, who, extra) in enumerate(
        [
            ("Ola", "VM-OLA", guardian, {}),
            ("Per", "VM-PER", guardian, {"valid_to": today - day}),
            ("Siri", "VM-SIRI", guardian, {"revoked_at": clock()}),
            ("Tor", "VM-TOR", guardian, {"valid_from": today + 7 * day}),
            ("Kari", "VM-KARI", other, {}),
        ]
    ):
        ward = add_citizen(app, born=date(1930 + i, 3, 3), given_name=name)
        enrol(ward, "sms", phone=WARD_PHONE)  # the ward's own phone, before the guardian takes over
        db.session.add(
            Mandate(
                reference=reference,
                guardian_pid=who.pid,
                ward_pid=ward.pid,
                ward_name=ward.name,
                roles=["helse"],
                valid_from=extra.get("valid_from", today - 30 * day),
                valid_to=extra.get("valid_to"),
                revoked_at=extra.get("revoked_at"),
            )
        )
        wards[name] = ward
    db.session.add(  # Liv has no account here: Vera can only represent her at a service
        Mandate(
            reference="VM-LIV",
            guardian_pid=guardian.pid,
            ward_pid=generate_pid(birth_date=date(1936, 4, 4), synthetic=True),
            ward_name="Liv Utenkonto",
            roles=["helse"],
            valid_from=today - 30 * day,
        )
    )
    db.session.commit()
    return {"guardian": guardian, "other": other, "wards": wards}


def profile(http, citizen, outbox) -> str:
    """The citizen's own login to Min profil (password, code by SMS); the profile page."""
    start = http.get("/profile")
    assert start.status_code in (302, 303) and start.location.endswith("/profile/login")
    login = http.get(start.location)
    response = submit_password(http, login.location, pid=citizen.pid)
    tx = tx_of(response.location)
    http.get(response.location)
    done = submit_code(http, tx, outbox.last_code())
    assert done.status_code in (302, 303) and done.location.endswith("/profile")
    page = http.get("/profile")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def operate(http, html: str, reference: str):
    return http.post("/profile/operate", data={"csrf_token": hidden(html, "csrf_token"), "reference": reference})


def confirm(http, code: str):
    page = http.get("/profile/operate/confirm").get_data(as_text=True)
    return http.post("/profile/operate/confirm", data={"csrf_token": hidden(page, "csrf_token"), "code": code})


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).filter_by(event=name).order_by(AuditEvent.id)))


def test_the_guardian_takes_on_the_wards_account_and_logs_in_with_it(app, world, outbox):
    guardian, ola = world["guardian"], world["wards"]["Ola"]
    http = app.test_client()
    html = profile(http, guardian, outbox)
    assert "Accounts you operate" in html and "personal and cannot be used for someone else" in html
    assert "Ola Nordmann" in html and 'value="VM-OLA"' in html
    # Ended mandates say why; another guardian's ward is not there at all.
    assert "Per Nordmann" in html and "expired on November 25, 2026" in html and 'value="VM-PER"' not in html
    assert "Siri Nordmann" in html and "has been revoked" in html and 'value="VM-SIRI"' not in html
    assert "applies from December 3, 2026" in html and 'value="VM-TOR"' not in html
    assert "Kari Nordmann" not in html and "VM-KARI" not in html
    assert "Liv Utenkonto" in html and "no account of their own here" in html and 'value="VM-LIV"' not in html

    started = operate(http, html, "VM-OLA")
    assert started.status_code == 303 and started.location == "/profile/operate/confirm"
    sent = outbox.messages()[-1]
    assert sent["to"] == GUARDIAN_PHONE and "operate the account of Ola Nordmann" in sent["text"]
    page = http.get("/profile/operate/confirm").get_data(as_text=True)
    assert "personal and cannot be used for someone else" in page and GUARDIAN_PHONE not in page  # masked
    wrong = confirm(http, "000000" if outbox.last_code() != "000000" else "111111")
    assert wrong.location == "/profile/operate/confirm"
    again = http.get("/profile/operate/confirm")
    assert again.status_code == 400 and "The code is wrong" in again.get_data(as_text=True)
    db.session.expire_all()
    assert ola.operated_under is None and enrolment(ola, "sms").phone == WARD_PHONE

    done = confirm(http, outbox.last_code())
    assert done.status_code == 303 and done.location.startswith("/profile")
    html = http.get("/profile").get_data(as_text=True)
    assert "You now operate the account of Ola Nordmann" in html and "You operate this account" in html
    db.session.expire_all()
    assert ola.operated_under == "VM-OLA" and enrolment(ola, "sms").phone == GUARDIAN_PHONE
    assert enrolment(ola, "sms").preferred
    [started_event] = events("guardianship.operated")
    assert started_event.citizen_id == ola.id and started_event.detail["by"] == "guardian"
    assert started_event.detail["guardian"] == mask_pid(guardian.pid) and guardian.pid not in str(started_event.detail)
    assert [e.outcome for e in events("profile.operate_confirm")] == ["wrong", "success"]

    # The ward's account now logs in at a service with a code to the guardian's phone, and the session says so.
    service = app.test_client()
    response = password_step(service, ola, scope="openid pid")
    service.get(response.location)
    assert outbox.messages()[-1]["to"] == GUARDIAN_PHONE
    back = finish(service, submit_code(service, tx_of(response.location), outbox.last_code()))
    assert id_token_claims(service, back["code"])["pid"] == ola.pid
    session = db.session.scalars(sa.select(LoginSession).filter_by(citizen_id=ola.id)).one()
    assert session.act == {"pid": guardian.pid, "mandate": "VM-OLA"}

    # A replayed confirmation does nothing more.
    replay = confirm_without_page(http, outbox.last_code(), html)
    assert replay.status_code == 303 and len(events("guardianship.operated")) == 1


def confirm_without_page(http, code: str, html: str):
    return http.post("/profile/operate/confirm", data={"csrf_token": hidden(html, "csrf_token"), "code": code})


@pytest.mark.parametrize(
    "reference",
    [
        "VM-PER",
        "VM-SIRI",
        "VM-TOR",
        "VM-KARI",
        "VM-LIV",
        "VM-NONE",
        "",
        "VM-OLA\u202e",
        "x" * 5000,
        ["VM-OLA", "VM-KARI"],
    ],
)
def test_only_a_mandate_in_force_of_ones_own_can_be_used(app, world, outbox, reference):
    http = app.test_client()
    html = profile(http, world["guardian"], outbox)
    sent = len(outbox.messages())
    data = {"csrf_token": hidden(html, "csrf_token"), "reference": reference}
    response = http.post("/profile/operate", data=data)
    if reference == ["VM-OLA", "VM-KARI"]:  # the first value counts: a mandate of one's own, allowed
        assert response.location == "/profile/operate/confirm"
        return
    assert response.status_code == 303 and response.location.endswith("/profile#operating")
    page = http.get("/profile")
    assert page.status_code == 400 and "cannot be operated by you now" in page.get_data(as_text=True)
    assert len(outbox.messages()) == sent  # no code went anywhere
    assert all(w.operated_under is None for w in world["wards"].values())


def test_the_pages_need_the_guardians_own_login(app, world):
    http = app.test_client()
    assert http.get("/profile/operate/confirm").location.endswith("/profile/login")
    page = http.get("/profile/login")  # any page, for a CSRF token of this browser
    login = http.get(page.location).get_data(as_text=True)
    response = http.post("/profile/operate", data={"csrf_token": hidden(login, "csrf_token"), "reference": "VM-OLA"})
    assert response.status_code in (302, 303) and response.location.endswith("/profile/login")
    assert world["wards"]["Ola"].operated_under is None


def test_a_guardian_without_an_own_phone_is_told_to_set_one_up_first(app, world, outbox, clock):
    guardian = world["guardian"]
    http = app.test_client()
    html = profile(http, guardian, outbox)
    enrolment(guardian, "sms").phone = None  # as if SMS were set up without a number (only the app, say)
    db.session.commit()
    html = http.get("/profile").get_data(as_text=True)
    assert "first set up a code by SMS to your own phone" in html and 'value="VM-OLA"' not in html
    response = operate(http, html, "VM-OLA")
    assert response.location.endswith("/profile#operating") and world["wards"]["Ola"].operated_under is None


def test_a_mandate_that_ends_shows_why_and_stops_the_wards_login(app, world, outbox, clock):
    guardian, ola = world["guardian"], world["wards"]["Ola"]
    http = app.test_client()
    html = profile(http, guardian, outbox)
    operate(http, html, "VM-OLA")
    confirm(http, outbox.last_code())
    db.session.scalars(sa.select(Mandate).filter_by(reference="VM-OLA")).one().revoked_at = clock()
    db.session.commit()
    html = http.get("/profile").get_data(as_text=True)
    assert "has been revoked, so the account cannot be used through you" in html
    assert "You operate this account" not in html
    page = password_step(app.test_client(), ola)
    assert page.status_code == 403 and "guardianship mandate" in page.get_data(as_text=True)


def test_a_wrong_code_three_times_asks_for_a_new_one_within_the_limits(app, world, outbox):
    http = app.test_client()
    html = profile(http, world["guardian"], outbox)
    operate(http, html, "VM-OLA")
    right = outbox.last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        confirm(http, wrong)
    page = http.get("/profile/operate/confirm").get_data(as_text=True)
    assert 'name="code"' not in page and "Send a new code" in page
    resent = http.post("/profile/operate/resend", data={"csrf_token": hidden(page, "csrf_token")})
    assert resent.location == "/profile/operate/confirm"
    page = http.get("/profile/operate/confirm").get_data(as_text=True)
    # Within 30 s of the last code: the page says when a new one can be asked for, and sends nothing.
    assert "You can ask for a new code in" in page and outbox.last_code() == right
