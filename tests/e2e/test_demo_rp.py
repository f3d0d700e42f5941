"""The demo relying party in a real Chromium without JavaScript: refresh, step-up, prompt=login, logout of both kinds.

The demo is registered with a back-channel logout URI; the provider on
127.0.0.1 may reach it (IDP_FETCH_ALLOW_NETWORKS in tests/live.py).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.e2e.test_browser_login import demo, page  # noqa: F401 - fixtures: a provider, the demo, a browser

pytestmark = pytest.mark.browser
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _sms_code(citizen: dict) -> str:
    with open(citizen["sms_outbox"], encoding="utf-8") as outbox:
        return re.search(r"\b\d{5}\b", json.loads(outbox.read().splitlines()[-1])["text"]).group(0)


def _log_in(tab, citizen: dict) -> None:
    tab.get_by_label("Fødselsnummer").fill(citizen["pid"])
    tab.get_by_label("Passord").fill(citizen["password"])
    tab.get_by_role("button", name="Neste", exact=True).click()
    tab.get_by_label("Kode", exact=True).fill(_sms_code(citizen))
    tab.get_by_role("button", name="Logg inn", exact=True).click()


def _claims(tab) -> dict:
    return json.loads(tab.locator("#claims").inner_text())


def _reload_until(tab, selector: str, seconds: float = 15) -> str:
    """The back-channel logout travels server to server in the background: look again until it is shown."""
    deadline = time.monotonic() + seconds
    while not tab.locator(selector).count() and time.monotonic() < deadline:
        time.sleep(0.2)
        tab.reload()
    return tab.locator(selector).inner_text()


def test_refresh_step_up_and_prompt_login(demo, page):  # noqa: F811
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    _log_in(page, citizen)
    page.wait_for_url(rp_url + "/")
    first = _claims(page)["id_token"]
    assert first["acr"] == "idporten-loa-substantial"

    page.click("#refresh")
    assert page.locator("#refreshed").is_visible()
    refreshed = _claims(page)["id_token"]
    assert (refreshed["sub"], refreshed["sid"], refreshed["auth_time"]) == (
        first["sub"],
        first["sid"],
        first["auth_time"],
    )

    # Already at substantial: the step-up is answered from the session, no page in between.
    page.click("#step-up")
    page.wait_for_url(rp_url + "/")
    assert _claims(page)["id_token"]["auth_time"] == first["auth_time"]

    page.click("#prompt-login")
    assert page.get_by_label("Passord").is_visible()  # prompt=login: the password again
    _log_in(page, citizen)
    page.wait_for_url(rp_url + "/")
    assert _claims(page)["id_token"]["sub"] == first["sub"]


def test_rp_initiated_logout_comes_back_and_the_back_channel_notice_arrives(demo, page):  # noqa: F811
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    _log_in(page, citizen)
    page.wait_for_url(rp_url + "/")
    sid = _claims(page)["id_token"]["sid"]
    page.click("#logout")
    page.wait_for_url(re.compile(re.escape(rp_url) + r"/\?state="))
    assert page.locator("#notice").inner_text() == "Du er logget ut."
    assert page.locator("#login").is_visible()
    assert f"sid {sid[:8]}" in _reload_until(page, "#backchannel")


def test_a_logout_elsewhere_ends_the_demo_login_by_back_channel(demo, page):  # noqa: F811
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    _log_in(page, citizen)
    page.wait_for_url(rp_url + "/")
    provider = _claims(page)["id_token"]["iss"]
    page.goto(provider + "/logout")  # no hint: the provider asks, the citizen confirms
    page.get_by_role("button", name="Logg ut", exact=True).click()
    page.goto(rp_url)
    assert _reload_until(page, "#notice") == "Innloggingen din ble avsluttet hos ID."
    assert page.locator("#login").is_visible()


def test_the_demo_speaks_nb_nn_and_en(demo, page):  # noqa: F811
    rp_url, _citizen = demo
    page.goto(rp_url)
    assert page.locator("html").get_attribute("lang") == "nb"
    assert page.locator('meta[name="viewport"]').count() == 1
    page.click("a[hreflang=nn]")
    assert page.locator("html").get_attribute("lang") == "nn"
    assert page.locator("#login").inner_text() == "Logg inn"
    assert "Ei teneste" in page.content()
    page.click("a[hreflang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#login-substantial").inner_text() == "Log in (substantial)"


def test_a_cancelled_login_is_shown_as_the_error_the_service_got(demo, page):  # noqa: F811
    rp_url, _citizen = demo
    page.goto(rp_url)
    page.click("#login")
    page.get_by_role("button", name="Avbryt og gå tilbake til tjenesten").click()
    page.wait_for_url(rp_url + "/")
    assert page.locator("#error").inner_text().startswith("Innloggingen ble ikke fullført: access_denied")
    assert page.locator("#login").is_visible()


def test_the_back_channel_receiver_refuses_what_is_not_a_logout_token_from_the_provider(demo):  # noqa: F811
    rp_url, _citizen = demo
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    now = int(time.time())
    forged = jwt.encode(
        {"alg": "RS256", "kid": "stranger", "typ": "logout+jwt"},
        {"iss": "x", "aud": "demo", "iat": now, "exp": now + 60, "jti": "j", "sid": "s", "events": {EVENT: {}}},
        stranger,
    )
    for body in (
        {},
        {"logout_token": ""},
        {"logout_token": "a.b.c"},
        {"logout_token": "\u00e6" * 5000},
        {"logout_token": forged},
    ):
        answer = requests.post(rp_url + "/backchannel-logout", data=body, timeout=10)
        assert answer.status_code == 400, (body, answer.status_code)
        assert answer.json() == {"error": "invalid_request"}


SWITCH_TO = {"nb": ("nn", "Nynorsk"), "nn": ("en", "English"), "en": ("nb", "Bokmål")}


def _lang(tab) -> str:
    return tab.locator("html").get_attribute("lang")


@pytest.mark.parametrize("lang", sorted(SWITCH_TO))
def test_a_login_from_the_demo_in_each_language_survives_back_and_a_language_switch(demo, page, lang):  # noqa: F811
    """The demo asks in its language (ui_locales); Back at each step of the login shows that step again, a switch
    of language on the code page keeps the login, and the locale claim says the language the login ended in."""
    rp_url, citizen = demo
    page.goto(f"{rp_url}/language/{lang}")
    page.click("#login")
    assert _lang(page) == lang and page.locator("input[name=pid]").is_visible()
    page.fill("input[name=pid]", citizen["pid"])
    page.fill("input[name=password]", citizen["password"])
    page.locator("main form button.primary").click()
    page.wait_for_selector("input[name=code]")
    code_page = page.url
    page.go_back()  # the password page, as it was: not an error, not a resubmitted form
    assert "/login?" in page.url and page.locator("input[name=password]").is_visible() and _lang(page) == lang
    page.go_forward()
    assert page.url == code_page and page.locator("input[name=code]").is_visible()
    switched, name = SWITCH_TO[lang]
    page.get_by_role("link", name=name, exact=True).click()
    assert _lang(page) == switched and page.locator("input[name=code]").is_visible()  # the same login, in another
    page.go_back()  # the code page in the first language: still the same login
    assert page.locator("input[name=code]").is_visible()
    page.go_forward()
    page.fill("input[name=code]", _sms_code(citizen))
    page.locator("main form button.primary").click()
    page.wait_for_url(rp_url + "/")
    assert _claims(page)["userinfo"]["locale"] == switched  # the profile scope's claims come from userinfo
