"""An error on /order or /forgot survives a language switch and a reload, worded in the new language."""

from __future__ import annotations

from tests.flows import hidden

PID_DIGITS = {
    "nb": "Skriv de 11 sifrene i fødselsnummeret eller d-nummeret ditt.",
    "nn": "Skriv dei 11 siffera i fødselsnummeret eller d-nummeret ditt.",
    "en": "Give the 11 digits of your national identity number or d-number.",
}
TOO_SHORT = {"nb": "Bruk minst", "nn": "Bruk minst", "en": "Use at least"}


def switch(client, lang: str, path: str) -> str:
    """The language switch as the page's links use it; the page it leads back to."""
    response = client.get(f"/language/{lang}", query_string={"next": path})
    assert response.status_code == 302 and response.location == path
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<html lang="{lang}"' in html
    return html


def send(client, path: str, *, to: str | None = None, **data: str) -> None:
    """Send the form on ``path``; it redirects to ``to`` (the same page when it found something wrong)."""
    page = client.get(path).get_data(as_text=True)
    response = client.post(path, data={"csrf_token": hidden(page, "csrf_token"), **data})
    assert response.status_code == 302 and response.location == (to or path)


def test_an_order_error_is_worded_in_the_language_switched_to(app):
    client = app.test_client()
    client.set_cookie("lang", "nb")
    send(client, "/order", pid="1234", password="kort", repeat="kort", phone="91234567", terms="y")
    html = client.get("/order").get_data(as_text=True)
    assert PID_DIGITS["nb"] in html and TOO_SHORT["nb"] in html
    assert 'value="1234"' in html  # what was typed stays too
    for lang in ("nn", "en", "nb"):
        html = switch(client, lang, "/order")
        assert PID_DIGITS[lang] in html and TOO_SHORT[lang] in html, lang
        for other in set(PID_DIGITS) - {lang}:
            assert PID_DIGITS[other] not in html
        assert 'value="1234"' in html


def test_a_forgot_error_is_worded_in_the_language_switched_to(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    send(client, "/forgot", pid="not a number")
    assert PID_DIGITS["en"] in client.get("/forgot").get_data(as_text=True)
    for lang in ("nn", "en"):
        html = switch(client, lang, "/forgot")
        assert PID_DIGITS[lang] in html, lang
        assert 'aria-invalid="true"' in html


def test_the_next_post_clears_what_the_last_one_left(app, people):
    client = app.test_client()
    send(client, "/forgot", pid="1234")
    assert PID_DIGITS["en"] in client.get("/forgot").get_data(as_text=True)
    send(client, "/forgot", to="/forgot/method", pid=people[0])
    assert PID_DIGITS["en"] not in client.get("/forgot").get_data(as_text=True)


def test_a_choice_refused_on_the_method_page_is_worded_in_the_new_language(app, people):
    client = app.test_client()
    send(client, "/forgot", to="/forgot/method", pid=people[0])
    send(client, "/forgot/method", method="carrier-pigeon")
    assert "Choose one of the ways below." in client.get("/forgot/method").get_data(as_text=True)
    html = switch(client, "nn", "/forgot/method")
    assert "Vel ein av måtane nedanfor." in html
    assert "Choose one of the ways below." not in html
