"""Guardian-operated accounts: the ward's own account, logged in with by the guardian, SMS to the guardian's phone.

Through Flask's test client on SQLite and PostgreSQL + Redis, with the factor chain as MinID runs it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.mfa.enrolment import enrol
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
    tx_of,
)

GUARDIAN_PHONE = "+4790000001"


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
def ward(app, clock):
    """A ward whose own account its guardian operates under mandate VM-OP, with SMS to the guardian's phone."""
    app.test_client_class = EnglishClient
    add_client()
    person = add_citizen(app, born=date(1932, 7, 7), given_name="Ola")
    guardian_pid = generate_pid(birth_date=date(1961, 1, 1), synthetic=True)
    db.session.add(
        Mandate(
            reference="VM-OP",
            guardian_pid=guardian_pid,
            ward_pid=person.pid,
            ward_name=person.name,
            roles=["helse"],
            valid_from=clock().date() - timedelta(days=30),
            valid_to=clock().date() + timedelta(days=1),
        )
    )
    person.operated_under = "VM-OP"
    enrol(person, "sms", phone=GUARDIAN_PHONE)
    db.session.commit()
    person.guardian_pid = guardian_pid  # for the test's eyes only
    return person


def sms_login(http, ward, outbox):
    response = password_step(http, ward, scope="openid pid")
    assert response.status_code == 303 and response.location.startswith("/login/step"), response.status_code
    tx = tx_of(response.location)
    http.get(response.location)  # the factor page sends the code
    assert outbox.messages()[-1]["to"] == GUARDIAN_PHONE
    return finish(http, submit_code(http, tx, outbox.last_code()))


def test_the_guardian_logs_in_with_the_wards_account_and_the_session_says_so(app, ward, outbox):
    http = app.test_client()
    back = sms_login(http, ward, outbox)
    assert id_token_claims(http, back["code"])["pid"] == ward.pid  # the tokens are the ward's
    session = db.session.scalars(sa.select(LoginSession).filter_by(citizen_id=ward.id)).one()
    assert session.act == {"pid": ward.guardian_pid, "mandate": "VM-OP"}
    event = db.session.scalars(sa.select(AuditEvent).filter_by(event="login.complete")).one()
    assert event.detail["operated_by"] == mask_pid(ward.guardian_pid) and event.detail["mandate"] == "VM-OP"


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_a_mandate_that_ended_stops_the_login_with_a_clear_page(app, ward, clock, ending):
    mandate = db.session.scalars(sa.select(Mandate).filter_by(reference="VM-OP")).one()
    if ending == "revoked":
        mandate.revoked_at = clock()
    else:
        clock.advance(days=2)
    db.session.commit()
    page = password_step(app.test_client(), ward)  # the page the POST redirected to
    assert page.status_code == 403
    assert "guardianship mandate" in page.get_data(as_text=True)
    event = db.session.scalars(sa.select(AuditEvent).filter_by(event="login.operated")).one()
    assert event.outcome == ending and ward.pid not in str(event.detail)


def test_the_sso_session_stops_answering_when_the_mandate_ends(app, ward, clock, outbox):
    http = app.test_client()
    sms_login(http, ward, outbox)
    mandate = db.session.scalars(sa.select(Mandate).filter_by(reference="VM-OP")).one()
    mandate.revoked_at = clock()
    db.session.commit()
    response = http.get(
        "/authorize",
        query_string={"response_type": "code", "client_id": "rp1", "redirect_uri": "https://rp.example/callback",
                      "scope": "openid", "state": "s", "nonce": "n"},
    )  # fmt: skip
    assert response.status_code == 302 and response.location.startswith("/login")  # not a code from the session
    step = http.get(response.location)  # the session is fresh: only the second factor is asked again
    assert step.status_code == 302 and step.location.startswith("/login/step")
    http.get(step.location)
    page = submit_code(http, tx_of(step.location), outbox.last_code())  # the page the POST redirected to
    assert page.status_code == 403 and "guardianship mandate" in page.get_data(as_text=True)
    assert db.session.scalars(sa.select(LoginSession).filter_by(citizen_id=ward.id)).one().ended_at is None
    assert not [e for e in db.session.scalars(sa.select(AuditEvent.event)) if e == "login.complete"][1:]


def test_an_account_nobody_operates_logs_in_as_before(app, ward, outbox):
    ward.operated_under = None
    db.session.commit()
    http = app.test_client()
    sms_login(http, ward, outbox)
    assert db.session.scalars(sa.select(LoginSession).filter_by(citizen_id=ward.id)).one().act is None


def test_in_the_wards_profile_the_guardian_sets_up_nothing_personal_and_an_ended_mandate_ends_it(
    app, ward, clock, outbox
):
    """The app, authenticator apps and passkeys prove one person: not the guardian acting as the ward. And Min
    profil, like a login, stops answering the guardian once the mandate has ended."""
    http = app.test_client()
    sms_login(http, ward, outbox)
    profile = http.get("/profile")
    assert profile.status_code == 200
    token = hidden(profile.get_data(as_text=True), "csrf_token")
    for path, data in (("/profile/app/code", {}), ("/profile/passkeys", {"nickname": "Vergens telefon"})):
        refused = http.post(path, data={"csrf_token": token, **data})
        assert refused.status_code == 403 and "personal" in refused.get_data(as_text=True), path
    mandate = db.session.scalars(sa.select(Mandate).filter_by(reference="VM-OP")).one()
    mandate.revoked_at = clock()
    db.session.commit()
    stopped = http.get("/profile")
    assert stopped.status_code == 403 and "guardianship mandate" in stopped.get_data(as_text=True)


def test_the_guardians_session_ends_when_the_account_is_released_or_taken_over(app, ward, outbox):
    for change in ("released", "taken over"):
        http = app.test_client()
        sms_login(http, ward, outbox)
        assert http.get("/profile").status_code == 200
        ward.operated_under = None if change == "released" else "VM-NEW"
        db.session.commit()
        gone = http.get("/profile")
        assert gone.status_code == 302 and gone.location.startswith("/profile/login"), change
        ward.operated_under = "VM-OP"
        db.session.commit()
