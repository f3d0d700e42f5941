"""A citizen logs in to the demo relying party in a real Chromium, driven by Playwright."""

from __future__ import annotations

import json
import re
import threading

import pytest
from werkzeug.serving import make_server

from demo_rp.app import create_rp
from tests.browser import chromium
from tests.live import LiveServer, base_env, free_port, idp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser")
    env = base_env(data)
    rp_port = free_port()
    rp_url = f"http://127.0.0.1:{rp_port}"
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    loaded = json.loads(idp(env, "demo", "--rp-url", rp_url, "--json").stdout)
    server = LiveServer(env)
    rp = create_rp(
        issuer=server.url,
        client_id=loaded["client"]["client_id"],
        client_secret=loaded["client"]["client_secret"],
        scope="openid profile pid",
    )
    rp_server = make_server("127.0.0.1", rp_port, rp, threaded=True)
    thread = threading.Thread(target=rp_server.serve_forever, daemon=True)
    thread.start()
    yield rp_url, {**loaded["citizens"][0], "sms_outbox": loaded["sms"]["outbox"], "idp_url": server.url}
    rp_server.shutdown()
    server.close()


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_context(locale="nb-NO", java_script_enabled=False).new_page()


def test_citizen_logs_in_through_the_hosted_page_without_javascript(demo, page):
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    page.get_by_label("Fødselsnummer").fill(citizen["pid"])
    page.get_by_label("Passord").fill("feil-passord")
    page.get_by_role("button", name="Neste", exact=True).click()
    assert "Fødselsnummeret eller passordet er feil." in page.get_by_role("alert").inner_text()
    page.get_by_label("Fødselsnummer").fill(citizen["pid"])
    page.get_by_label("Passord").fill(citizen["password"])
    page.get_by_role("button", name="Neste", exact=True).click()
    # The second factor: the demo citizens get codes by SMS, which the file gateway writes to the outbox.
    with open(citizen["sms_outbox"], encoding="utf-8") as outbox:
        text = json.loads(outbox.read().splitlines()[-1])["text"]
    assert "Demotjenesten" in text
    page.get_by_label("Kode", exact=True).fill(re.search(r"\b\d{5}\b", text).group(0))
    page.get_by_role("button", name="Logg inn", exact=True).click()
    page.wait_for_url(rp_url + "/")
    claims = json.loads(page.locator("#claims").inner_text())
    assert claims["id_token"]["pid"] == citizen["pid"]
    assert claims["id_token"]["acr"] == "idporten-loa-substantial"
    assert claims["id_token"]["amr"] == ["pwd", "sms", "mfa"]
    assert claims["userinfo"]["name"] == citizen["name"]


def test_login_page_offers_english(demo, page):
    rp_url, _citizen = demo
    page.goto(rp_url)
    page.click("#login")
    page.get_by_role("link", name="English").click()
    assert page.get_by_label("National identity number (11 digits)").is_visible()
    assert page.get_by_label("Password").get_attribute("autocomplete") == "current-password"


def _sms_count(citizen) -> int:
    with open(citizen["sms_outbox"], encoding="utf-8") as outbox:
        return len(outbox.read().splitlines())


def _last_code(citizen) -> str:
    with open(citizen["sms_outbox"], encoding="utf-8") as outbox:
        return re.search(r"\b\d{5}\b", json.loads(outbox.read().splitlines()[-1])["text"]).group(0)


def _ids_are_unique(page) -> None:
    ids = page.eval_on_selector_all("[id]", "elements => elements.map(e => e.id)")
    assert len(ids) == len(set(ids)), ids


def test_reload_language_and_back_never_lose_the_login(demo, page):
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    login_url = page.url
    page.get_by_label("Fødselsnummer").fill(citizen["pid"])
    page.get_by_label("Passord").fill("feil-passord")
    page.get_by_role("button", name="Neste", exact=True).click()
    # The POST answered with a redirect: the page is the login page again, by GET, with the error.
    assert page.url == login_url
    assert "Fødselsnummeret eller passordet er feil." in page.get_by_role("alert").inner_text()
    page.reload()  # no form is sent again: a GET
    assert "Fødselsnummeret eller passordet er feil." in page.get_by_role("alert").inner_text()
    # Another language keeps the login and says the same in that language.
    page.get_by_role("link", name="English").click()
    assert page.url == login_url
    assert "The national identity number or the password is wrong." in page.get_by_role("alert").inner_text()
    _ids_are_unique(page)

    page.get_by_label("National identity number (11 digits)").fill(citizen["pid"])
    page.get_by_label("Password").fill(citizen["password"])
    page.get_by_role("button", name="Next", exact=True).click()
    step_url = page.url
    assert "/login/step" in step_url
    sent = _sms_count(citizen)
    page.reload()
    assert _sms_count(citizen) == sent  # a reload sends no new code

    # A new code asked for within the cool-down: the same page says how long is left.
    page.get_by_role("button", name="Send a new code").click()
    assert page.url == step_url
    assert re.search(r"You can ask for a new code in \d+ seconds?\.", page.get_by_role("alert").inner_text())
    assert page.get_by_label("Code", exact=True).is_visible()
    page.get_by_role("link", name="Bokmål").click()  # was a raw 405 once
    assert page.url == step_url
    assert page.get_by_label("Kode", exact=True).is_visible()
    _ids_are_unique(page)

    # A wrong code: the message at the field, which is marked invalid.
    page.get_by_label("Kode", exact=True).fill("00000")
    page.get_by_role("button", name="Logg inn", exact=True).click()
    field = page.get_by_label("Kode", exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby").split()
    assert "Koden er feil" in page.locator(f"#{described[0]}").inner_text()

    # Back through every page of the login: each is drawn again, none says the login is lost.
    page.go_back()
    page.go_back()
    assert "/login" in page.url and page.locator("h1").count() == 1
    assert page.locator("body").inner_text().find("utløpt") == -1
    page.go_forward()
    page.go_forward()
    assert page.url == step_url
    page.get_by_label("Kode", exact=True).fill(_last_code(citizen))
    page.get_by_role("button", name="Logg inn", exact=True).click()
    page.wait_for_url(rp_url + "/")
    assert json.loads(page.locator("#claims").inner_text())["id_token"]["pid"] == citizen["pid"]

    # A form's address opened as a page: our own page in the page's language, not the framework's.
    idp_url = login_url.split("/login")[0]
    response = page.goto(idp_url + "/login/resend")
    assert response.status == 405
    assert page.locator("h1").inner_text() == "Denne siden kan ikke åpnes alene"


def test_empty_and_malformed_numbers_are_told_at_their_field(demo, page):
    rp_url, _citizen = demo
    page.goto(rp_url)
    page.click("#login")
    page.get_by_role("button", name="Neste", exact=True).click()
    summary = page.get_by_role("alert")
    assert "Skriv fødselsnummeret ditt." in summary.inner_text()
    assert "Skriv passordet ditt." in summary.inner_text()
    number = page.get_by_label("Fødselsnummer")
    assert number.get_attribute("aria-invalid") == "true"
    # The summary links to the field.
    assert summary.get_by_role("link", name="Skriv fødselsnummeret ditt.").get_attribute("href") == "#pid"
    number.fill("1234")
    page.get_by_label("Passord").fill("noe")
    page.get_by_role("button", name="Neste", exact=True).click()
    assert "Et fødselsnummer har 11 siffer." in page.get_by_role("alert").inner_text()
    assert "feil" not in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Passord").get_attribute("aria-invalid") is None
    _ids_are_unique(page)


def test_a_newcomer_goes_from_the_front_page_to_min_profil_and_out(demo, page):
    _rp_url, citizen = demo
    page.goto(citizen["idp_url"] + "/")
    page.get_by_role("link", name="Gå til Min profil").click()
    page.get_by_label("Fødselsnummer").fill(citizen["pid"])
    page.get_by_label("Passord").fill(citizen["password"])
    page.get_by_role("button", name="Neste", exact=True).click()
    page.get_by_label("Kode", exact=True).fill(_last_code(citizen))
    page.get_by_role("button", name="Logg inn", exact=True).click()
    assert page.locator("h1").inner_text() == "Min profil"
    assert page.get_by_text("Tilby denne først").count() == 0  # one factor: nothing to offer first
    _ids_are_unique(page)

    # A new number: a wrong digit keeps the citizen on the code page, at the field.
    page.get_by_label("Mobilnummer").fill("98765432")
    page.get_by_role("button", name="Send en kode for å bekrefte nummeret").click()
    confirm_url = page.url
    page.get_by_label("Kode", exact=True).fill("00000")
    page.get_by_role("button", name="Bekreft", exact=True).click()
    assert page.url == confirm_url
    assert page.get_by_label("Kode", exact=True).get_attribute("aria-invalid") == "true"
    page.reload()
    page.get_by_role("link", name="English").click()
    assert page.url == confirm_url
    assert "The code is wrong" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code", exact=True).fill(_last_code(citizen))
    page.get_by_role("button", name="Confirm", exact=True).click()
    assert "Codes by SMS are turned on." in page.get_by_role("status").inner_text()

    # Removing asks first.
    page.get_by_role("button", name="Remove").first.click()
    assert page.locator("h1").inner_text().startswith("Remove")
    page.get_by_role("link", name="Keep it").click()
    assert page.locator("h1").inner_text() == "Your profile"

    page.get_by_role("button", name="Log out").click()
    page.goto(citizen["idp_url"] + "/profile")
    assert page.get_by_label("National identity number (11 digits)").is_visible()  # logged out: asked to log in
