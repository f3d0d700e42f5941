"""The order pages as a browser without JavaScript meets them: errors at their fields, the strength
meter, hostile input, limits, replays and every language the hosted pages have."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, Citizen
from tests.conftest import add_client
from tests.flows import authorize_params, hidden

STRONG = "blå-hvalross-synger-jazz"


def order(client, **fields: str):
    page = client.get("/order").get_data(as_text=True)
    data = {"pid": "", "password": STRONG, "repeat": STRONG, "phone": "91234567", "email": "", "terms": "y"}
    data.update(fields)
    return client.post("/order", data={"csrf_token": hidden(page, "csrf_token"), **data})


def outcome_page(client, response) -> str:
    """Every POST redirects; the GET it names shows the outcome."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client.get(response.location).get_data(as_text=True)


def field_tag(html: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)


def events(name: str) -> list[str]:
    return [e.outcome for e in db.session.scalars(sa.select(AuditEvent).filter_by(event=name).order_by(AuditEvent.id))]


@pytest.mark.parametrize(
    ("lang", "title"), [("nb", "Bestill en konto"), ("nn", "Bestill ein konto"), ("en", "Order an account")]
)
def test_the_form_in_every_language_with_labels_and_autocomplete(app, lang, title):
    client = app.test_client()
    client.set_cookie("lang", lang)
    html = client.get("/order").get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    expected = {
        "pid": "username",
        "password": "new-password",
        "repeat": "new-password",
        "phone": "tel",
        "email": "email",
    }
    for name, autocomplete in expected.items():
        assert f'autocomplete="{autocomplete}"' in field_tag(html, name)
        assert f'<label for="{name}"' in html
    assert 'type="checkbox"' in field_tag(html, "terms")
    add_client()
    login = client.get(client.get("/authorize", query_string=authorize_params()).location).get_data(as_text=True)
    assert 'href="/order"' in login and 'href="/forgot"' in login


def test_errors_sit_at_their_fields_and_the_meter_shows_the_strength(app, people):
    client = app.test_client()
    html = outcome_page(
        client,
        order(
            client, pid=people[0] + "9", password="password1", repeat="password1", phone="123", email="no-at", terms=""
        ),
    )
    for name in ("pid", "password", "phone", "email", "terms"):
        tag = field_tag(html, name)
        assert 'aria-invalid="true"' in tag and f"{name}-error" in tag, name
        assert f'id="{name}-error"' in html
        assert f'href="#{name}"' in html  # the summary links to the field
    assert "lists of leaked passwords" in html
    assert re.search(r'<meter[^>]*value="0"', html)
    # What the citizen typed comes back, except the passwords.
    assert f'value="{people[0]}9"' in field_tag(html, "pid")
    assert not re.search(r'value="[^"]', field_tag(html, "password") + field_tag(html, "repeat"))
    assert events("order.account") == []  # nothing was sent


def test_a_weak_password_and_one_from_the_citizens_own_data_are_refused(app, people):
    client = app.test_client()
    html = outcome_page(client, order(client, pid=people[0], password="Sommer99", repeat="Sommer99"))
    assert "too easy to guess" in html
    html = outcome_page(client, order(client, pid=people[0], password=people[0] + "ab", repeat=people[0] + "ab"))
    assert "easy to guess from your name, number or phone" in html
    html = outcome_page(client, order(client, pid=people[0], repeat=STRONG + "x"))
    assert 'aria-invalid="true"' in field_tag(html, "repeat") and "not the same" in html
    assert re.search(r'<meter[^>]*value="4"', html)


@pytest.mark.parametrize(
    "fields",
    [
        {"pid": "0101\x0090123"},
        {"pid": "1" * 100_000},
        {"phone": "+47\x00912"},
        {"phone": "9" * 5000},
        {"email": "a@b.no\x00"},
        {"email": "x" * 5000 + "@example.no"},
        {"password": "abc\x00defghijklmnop", "repeat": "abc\x00defghijklmnop"},
        {"password": "ø" * 20000, "repeat": "ø" * 20000},
        {"pid": "٠١٠١٩٠١٢٣٤٥"},
    ],
)
def test_hostile_input_gets_the_form_again_never_a_5xx(app, people, fields):
    client = app.test_client()
    response = order(client, **({"pid": people[0]} | fields))
    if any("\x00" in value for value in fields.values()):
        # The app refuses a NUL anywhere in a form before any view runs: a clear page.
        assert response.status_code == 400 and "Something in the request was wrong" in response.get_data(as_text=True)
    else:
        assert 'aria-invalid="true"' in outcome_page(client, response)
    assert events("order.account") == []


def test_wrong_types_and_missing_tokens(app, people):
    client = app.test_client()
    page = client.get("/order").get_data(as_text=True)
    assert client.post("/order", data={"pid": people[0]}).status_code == 400  # no CSRF token: a clear page
    twice = client.post(
        "/order",
        data={"csrf_token": hidden(page, "csrf_token"), "pid": [people[0], "x"], "terms": ["y", "n"]},
    )
    assert twice.status_code == 302
    assert client.post("/order", data={"csrf_token": "x" * 300_000}).status_code == 413
    for path in ("/order/phone", "/order/ordered", "/order/activate", "/order/activated", "/order/terms"):
        assert client.get(path).status_code in (200, 302, 400)
    gone = client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": "12345"})
    assert gone.status_code == 400 and "This order has expired" in gone.get_data(as_text=True)


def test_the_sms_code_is_checked_throttled_and_not_replayed(app, people, outbox, letters):
    client = app.test_client()
    response = order(client, pid=people[0])
    assert response.location == "/order/phone"
    page = client.get("/order/phone").get_data(as_text=True)
    assert "ending in ••••••••••67" in page or "67." in page
    assert 'autocomplete="one-time-code"' in page
    code = outbox.last_code()
    wrong = client.post(
        "/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": "00000" if code != "00000" else "11111"}
    )
    html = outcome_page(client, wrong)
    assert "The code is wrong" in html and 'aria-invalid="true"' in field_tag(html, "code")
    done = client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": code})
    assert done.location == "/order/ordered"
    again = client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": code})
    assert again.status_code == 400  # the order is used up: the same code cannot make a second account
    assert len(letters()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Citizen)) == 1
    assert events("order.phone") == ["wrong"]
    assert events("order.account") == ["code_sent", "success"]


def test_a_number_the_register_does_not_know_gets_the_same_pages_and_no_account(app, people, outbox, letters):
    from datetime import date

    from idp.pid import generate_pid

    unknown = generate_pid(birth_date=date(1999, 9, 9), synthetic=True)
    client = app.test_client()
    assert order(client, pid=unknown).location == "/order/phone"
    page = client.get("/order/phone").get_data(as_text=True)
    done = client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": outbox.last_code()})
    assert done.location == "/order/ordered"
    assert "Your order is received" in client.get("/order/ordered").get_data(as_text=True)
    assert letters() == [] and db.session.scalar(sa.select(Citizen).filter_by(pid=unknown)) is None
    assert events("order.account") == ["code_sent", "not_in_register"]


def test_orders_are_limited_per_number_and_per_network(app, people, outbox):
    client = app.test_client()
    for _ in range(3):
        assert order(client, pid=people[0]).location == "/order/phone"
    html = outcome_page(client, order(client, pid=people[0]))
    assert "too many orders from your network or for this number" in html
    assert len(outbox.messages()) == 3
    # Another number from the same network goes on until the network's own limit (ip_orders).
    for _ in range(7):
        order(client, pid=people[1])
    assert "too many orders" in outcome_page(client, order(client, pid=people[2]))
    assert events("order.account").count("rate_limited") >= 2


def test_an_unactivated_account_stops_at_its_ceiling(app, people, outbox, letters):
    from idp.policy.requirement import Requirement

    client = app.test_client()
    order(client, pid=people[0])
    page = client.get("/order/phone").get_data(as_text=True)
    client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": outbox.last_code()})
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=people[0]))
    chain = app.extensions["idp.chain"]
    assert not citizen.activated
    assert chain.options(citizen, Requirement(min_acr="idporten-loa-substantial"), app.extensions["idp.clock"]()) == []
    assert [
        f.name for f in chain.options(citizen, Requirement(min_acr="idporten-loa-low"), app.extensions["idp.clock"]())
    ] == ["sms"]
    assert chain.result(citizen, ["sms"])[0] == "idporten-loa-low"  # an SMS login of it is low, not substantial
    code = re.search(r"\b([0-9]{4}-[0-9]{4}-[0-9]{4})\b", letters()[0]).group(1)
    activate = client.get("/order/activate").get_data(as_text=True)
    spaced = code.replace("-", " ")
    used = client.post(
        "/order/activate",
        data={"csrf_token": hidden(activate, "csrf_token"), "pid": people[0], "password": STRONG, "code": spaced},
    )
    assert used.location == "/order/activated"
    db.session.refresh(citizen)
    assert citizen.activated and chain.result(citizen, ["sms"])[0] == "idporten-loa-substantial"
    assert events("account.activated") == ["success"]


def test_the_email_address_is_confirmed_by_a_link(app, people, outbox, clock, tmp_path):
    import json

    client = app.test_client()
    order(client, pid=people[0], email="ase@example.no")
    page = client.get("/order/phone").get_data(as_text=True)
    client.post("/order/phone", data={"csrf_token": hidden(page, "csrf_token"), "code": outbox.last_code()})
    [mail] = [json.loads(line) for line in (tmp_path / "var" / "email-outbox.jsonl").read_text().splitlines()]
    assert mail["to"] == "ase@example.no"
    link = re.search(r"http://127\.0\.0\.1:\d+(/order/email/\S+?) ", mail["text"]).group(1)
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=people[0]))
    assert citizen.email == "ase@example.no" and not citizen.email_verified

    opened = client.get(link)  # a mail scanner opening the link confirms nothing
    assert opened.status_code == 200 and "ase@example.no" in opened.get_data(as_text=True)
    db.session.refresh(citizen)
    assert not citizen.email_verified
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 400
    assert client.get("/order/email/" + "x" * 5000).status_code == 400
    confirmed = client.post(link, data={"csrf_token": hidden(opened.get_data(as_text=True), "csrf_token")})
    assert confirmed.location == "/order/email/confirmed"
    db.session.refresh(citizen)
    assert citizen.email_verified
    assert events("order.email") == ["success"]

    clock.advance(hours=73)
    assert client.get(link).status_code == 400  # expired on the app's clock
