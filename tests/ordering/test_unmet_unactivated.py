"""An ordered account whose activation letter is unused meets a service asking for more than its ceiling:
the login's unmet page says why and what to do, and the letter's code, used in Min profil or at
/order/activate, lifts the ceiling."""

from __future__ import annotations

import re

import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, Citizen
from tests.conftest import PASSWORD, add_citizen, add_client
from tests.flows import authorize_params, hidden, submit_password
from tests.ordering.test_order_pages import STRONG, order

SUBSTANTIAL = "idporten-loa-substantial"
NOT_ACTIVATED = "Your account is not activated yet."
LETTER_VALID = "We have sent you a letter with an activation code. It is valid until"
LETTER_GONE = "The activation letter we sent you is no longer valid."


def ordered_account(app, pid: str, outbox) -> Citizen:
    client = app.test_client()
    order(client, pid=pid)
    page = client.get("/order/phone").get_data(as_text=True)
    client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": outbox.last_code()})
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=pid))
    assert citizen is not None and not citizen.activated
    return citizen


def unmet_page(app, pid: str, *, lang: str = "en", acr: str = SUBSTANTIAL, password: str = STRONG):
    client = app.test_client()
    client.set_cookie("lang", lang)
    started = client.get("/authorize", query_string=authorize_params(acr_values=acr))
    answer = submit_password(client, started.location, pid=pid, password=password)
    while answer.status_code in (302, 303) and not answer.location.startswith("https://"):
        answer = client.get(answer.location)
    return answer


def unmet_outcomes() -> list[str]:
    return [e.outcome for e in db.session.scalars(sa.select(AuditEvent).filter_by(event="login.unmet"))]


def test_the_unmet_page_says_the_account_awaits_its_letter(app, people, outbox, letters):
    add_client()
    ordered_account(app, people[0], outbox)
    page = unmet_page(app, people[0])
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert NOT_ACTIVATED in html and LETTER_VALID in html
    assert 'href="/order/activate"' in html
    assert "set up a code by SMS or an authenticator app in your profile" not in html  # not the way for this account
    assert unmet_outcomes() == ["unactivated"]
    nynorsk = unmet_page(app, people[0], lang="nn").get_data(as_text=True)
    assert "Kontoen din er ikkje aktivert enno." in nynorsk
    assert NOT_ACTIVATED not in nynorsk


def test_when_the_letter_has_expired_the_page_says_to_order_a_new_one(app, people, outbox, letters, clock):
    add_client()
    ordered_account(app, people[1], outbox)
    clock.advance(days=app.config["IDP"].letters.activation_days + 1)
    html = unmet_page(app, people[1]).get_data(as_text=True)
    assert NOT_ACTIVATED in html and LETTER_GONE in html and LETTER_VALID not in html
    assert 'href="/profile/activation"' in html


def test_the_letters_code_in_min_profil_activates_the_account(app, people, outbox, letters):
    add_client()
    citizen = ordered_account(app, people[2], outbox)
    code = re.search(r"\b([0-9]{4}-[0-9]{4}-[0-9]{4})\b", letters()[-1]).group(1)
    client = app.test_client()
    page = client.get("/profile/activate").get_data(as_text=True)
    used = client.post(
        "/profile/activate",
        data={"csrf_token": hidden(page, "csrf_token"), "pid": people[2], "password": STRONG, "code": code},
    )
    assert used.status_code in (302, 303) and "activate" in used.location
    db.session.refresh(citizen)
    assert citizen.activated
    assert "account.activated" in [e.event for e in db.session.scalars(sa.select(AuditEvent))]
    # Activated, the account's SMS reaches the level: the login goes on to the code, not the unmet page.
    answer = unmet_page(app, people[2])
    assert answer.status_code == 200 and 'name="code"' in answer.get_data(as_text=True)


def test_an_activated_account_without_factors_gets_the_usual_unmet_page(app):
    add_client()
    citizen = add_citizen(app)
    assert citizen.activated
    page = unmet_page(app, citizen.pid, password=PASSWORD)
    html = page.get_data(as_text=True)
    assert page.status_code == 403 and NOT_ACTIVATED not in html
    assert "Order an activation letter" in html  # _setup.html: the way for an account that lacks a factor
    assert unmet_outcomes() == ["unmet"]
