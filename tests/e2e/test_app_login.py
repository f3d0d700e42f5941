"""Logins approved in the app, in a real Chromium: `idp-app` answers from a second process while the page waits.

The provider runs as a live server with the demo data; the third demo citizen's phone is an
`idp-app` key file made by the reference app's own code. Each page of each flow is kept as a
screenshot under $IDP_SCREENSHOTS (default: a new temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from demo_rp.app import create_rp
from idp.demo import DEMO_APP_PASSPHRASE
from idp_app import keys
from tests.browser import chromium, screenshots_folder
from tests.live import LiveServer, base_env, free_port, idp

pytestmark = pytest.mark.browser

APPROVAL_SECONDS = 20


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = tmp_path_factory.mktemp("app-login")
    env = base_env(
        data,
        IDP_ASSURANCE_PASSWORD_ONLY="false",
        IDP_APP_APPROVAL_SECONDS=str(APPROVAL_SECONDS),
        IDP_APP_PUSH_OUTBOX=str(data / "push.jsonl"),
        # Denials, wrong numbers and expiries count as failures from 127.0.0.1: this file is not about the waits.
        IDP_LIMITS_FREE_FAILURES="100",
        IDP_LIMITS_ACCOUNT_FREE_FAILURES="100",
        IDP_LIMITS_ACCOUNT_CODES_SENT="1000",
    )
    rp_port = free_port()
    rp_url = f"http://127.0.0.1:{rp_port}"
    server_port = free_port()
    key_file = data / "phone-key.json"
    keys.save(keys.new_key(f"http://127.0.0.1:{server_port}", "Aishas telefon"), key_file, DEMO_APP_PASSPHRASE)
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    loaded = json.loads(idp(env, "demo", "--rp-url", rp_url, "--app-key", str(key_file), "--json").stdout)
    server = LiveServer(env, port=server_port)
    rp = create_rp(
        issuer=server.url,
        client_id=loaded["client"]["client_id"],
        client_secret=loaded["client"]["client_secret"],
        scope="openid profile pid",
    )
    rp_server = make_server("127.0.0.1", rp_port, rp, threaded=True)
    threading.Thread(target=rp_server.serve_forever, daemon=True).start()
    citizen = next(c for c in loaded["citizens"] if c["pid"] == loaded["app"]["pid"])
    yield {"rp": rp_url, "citizen": citizen, "key_file": key_file, "idp": server.url, "push": data / "push.jsonl"}
    rp_server.shutdown()
    server.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshots_folder()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _page(browser, *, javascript: bool = True):
    return browser.new_context(locale="nb-NO", java_script_enabled=javascript).new_page()


def idp_app(site, *args: str) -> subprocess.Popen:
    """The reference app in its own process, as the citizen's phone."""
    env = {**os.environ, "IDP_APP_KEY_FILE": str(site["key_file"]), "IDP_APP_PASSPHRASE": DEMO_APP_PASSPHRASE}
    return subprocess.Popen(
        [sys.executable, "-m", "idp_app.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finished(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def _to_the_app_page(page, site, shots: Path, flow: str) -> int:
    """From the service through the password to the app's waiting page; the number it shows."""
    page.goto(site["rp"])
    page.click("#login")
    page.screenshot(path=str(shots / f"app-{flow}-1-password.png"), full_page=True)
    page.get_by_label("Fødselsnummer").fill(site["citizen"]["pid"])
    page.get_by_label("Passord").fill(site["citizen"]["password"])
    page.get_by_role("button", name="Neste", exact=True).click()
    # The demo citizen has codes by SMS too: the app is offered first.
    page.screenshot(path=str(shots / f"app-{flow}-2-choose.png"), full_page=True)
    choices = page.locator("ul.choices button")
    assert choices.first.inner_text() == "Bekreft i appen"
    choices.first.click()
    number = page.locator("#app-number")
    number.wait_for()
    assert page.locator("h1").inner_text() == "Bekreft i appen"
    assert page.locator("#app-status").get_attribute("aria-live") == "polite"
    page.screenshot(path=str(shots / f"app-{flow}-3-waiting.png"), full_page=True)
    return int(number.inner_text())


def test_approved_from_a_second_process_while_the_page_waits(site, browser, shots):
    page = _page(browser)
    number = _to_the_app_page(page, site, shots, "approve")
    # The phone: waits for the login to arrive, picks the number on screen, unlocks its key and signs.
    phone = idp_app(site, "approve", "--wait", "10", "--number", str(number))
    # Nothing is clicked: the page's script sees the answer and continues by itself.
    page.wait_for_url(site["rp"] + "/", timeout=30_000)
    code, out, err = _finished(phone)
    assert code == 0, err
    assert "Approved the login to Demotjenesten." in out
    page.screenshot(path=str(shots / "app-approve-4-back-at-the-service.png"), full_page=True)
    claims = json.loads(page.locator("#claims").inner_text())["id_token"]
    assert claims["pid"] == site["citizen"]["pid"]
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "swk", "user", "mfa"]
    # The push named the login, never the number.
    pushed = json.loads(site["push"].read_text().splitlines()[-1])["message"]
    assert pushed["service"] == "Demotjenesten" and "number" not in pushed


def test_without_javascript_the_button_does_the_check(site, browser, shots):
    page = _page(browser, javascript=False)
    number = _to_the_app_page(page, site, shots, "nojs")
    button = page.get_by_role("button", name="Jeg har godkjent i appen")
    button.click()  # too early: the page says so and waits on
    assert "Appen har ikke svart ennå" in page.get_by_role("alert").inner_text()
    page.screenshot(path=str(shots / "app-nojs-4-not-yet.png"), full_page=True)
    code, _out, err = _finished(idp_app(site, "approve", "--number", str(number)))
    assert code == 0, err
    page.get_by_role("button", name="Jeg har godkjent i appen").click()
    page.wait_for_url(site["rp"] + "/")
    page.screenshot(path=str(shots / "app-nojs-5-back-at-the-service.png"), full_page=True)


def _choices(site) -> list[int]:
    code, out, err = _finished(idp_app(site, "pending", "--wait", "10"))
    assert code == 0, err
    return [int(n) for n in re.search(r"numbers: ([\d ]+)", out).group(1).split()]


def test_the_wrong_number_stops_the_login(site, browser, shots):
    page = _page(browser)
    number = _to_the_app_page(page, site, shots, "wrong-number")
    wrong = next(choice for choice in _choices(site) if choice != number)
    code, _out, err = _finished(idp_app(site, "approve", "--number", str(wrong)))
    assert code == 1 and err.strip() == "idp-app: wrong number: the login was stopped"
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=15_000)
    assert "Det ble valgt feil tall i appen" in alert.inner_text()
    page.screenshot(path=str(shots / "app-wrong-number-4-stopped.png"), full_page=True)
    assert page.get_by_role("button", name="Send en ny forespørsel til appen").is_visible()


def test_a_denial_and_this_was_not_me(site, browser, shots):
    page = _page(browser)
    _to_the_app_page(page, site, shots, "deny")
    code, out, err = _finished(idp_app(site, "deny", "--wait", "10"))
    assert code == 0 and "Denied the login to Demotjenesten." in out, err
    page.get_by_role("alert").wait_for(timeout=15_000)
    assert "Innloggingen ble avvist i appen." in page.get_by_role("alert").inner_text()
    page.screenshot(path=str(shots / "app-deny-4-denied.png"), full_page=True)
    page.get_by_role("button", name="Dette var ikke meg").click()
    assert "Vi har registrert at dette ikke var deg" in page.get_by_role("status").first.inner_text()
    page.screenshot(path=str(shots / "app-deny-5-not-me-recorded.png"), full_page=True)


def test_an_unanswered_request_runs_out(site, browser, shots):
    page = _page(browser)
    _to_the_app_page(page, site, shots, "expiry")
    time.sleep(APPROVAL_SECONDS)
    page.get_by_role("alert").wait_for(timeout=15_000)
    assert "Forespørselen til appen har utløpt." in page.get_by_role("alert").inner_text()
    page.screenshot(path=str(shots / "app-expiry-4-expired.png"), full_page=True)
    # Too late for the phone as well.
    code, _out, err = _finished(idp_app(site, "approve", "--number", "10"))
    assert code == 1 and "no login is waiting" in err
