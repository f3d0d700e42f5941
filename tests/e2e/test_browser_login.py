"""A citizen logs in to the demo relying party in a real Chromium, driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from demo_rp.app import create_rp
from tests.live import LiveServer, base_env, free_port, idp

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Chromium is not installed (tests/setup-browser.sh installs it)"
        if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


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
    yield rp_url, {**loaded["citizens"][0], "sms_outbox": loaded["sms"]["outbox"]}
    rp_server.shutdown()
    server.close()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(locale="nb-NO", java_script_enabled=False)
        yield context.new_page()
        browser.close()


def test_citizen_logs_in_through_the_hosted_page_without_javascript(demo, page):
    rp_url, citizen = demo
    page.goto(rp_url)
    page.click("#login")
    page.get_by_label("Fødselsnummer").fill(citizen["pid"])
    page.get_by_label("Passord").fill("feil-passord")
    page.get_by_role("button", name="Neste", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "Fødselsnummeret eller passordet er feil."
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
