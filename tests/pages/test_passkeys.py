"""Passkeys in a real Chromium, with the DevTools virtual authenticator (a platform authenticator
that keeps discoverable credentials and verifies the user).

A citizen registers a passkey in Min profil, renames it, logs in to a service with it as the
second factor and then with it alone (no password), and removes it; without JavaScript the
pages say why the passkey cannot be used and offer the other ways. Each page is checked by
axe-core and kept as a screenshot (tests/pages/test_browser_sweep.py's Sweep, in bokmål).

WebAuthn takes no IP address as relying party ID ("This is an invalid domain"), so this
provider's issuer is http://localhost:<port>, a secure context like https.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from idp.demo import DEMO_PASSWORD
from tests.browser import screenshots_folder
from tests.live import LiveServer, base_env, free_port
from tests.pages.test_browser_sweep import Sweep, _callback, idp

pytestmark = pytest.mark.browser

LOCALE = "nb"


class Site:
    def __init__(self, data: Path):
        rp_port = free_port()
        self.rp = f"http://127.0.0.1:{rp_port}"
        self.rp_server = make_server("127.0.0.1", rp_port, _callback)
        threading.Thread(target=self.rp_server.serve_forever, daemon=True).start()
        port = free_port()
        self.url = f"http://localhost:{port}"
        self.env = base_env(
            data,
            IDP_SERVER_ISSUER=self.url,
            IDP_SERVER_TRUSTED_HOSTS="localhost,127.0.0.1",  # the browser names localhost; the start-up check 127.0.0.1
            IDP_ASSURANCE_PASSWORD_ONLY="false",
            IDP_WEBAUTHN_PASSWORDLESS="true",
        )
        idp(self.env, "db", "upgrade")
        idp(self.env, "keys", "init")
        loaded = json.loads(idp(self.env, "demo", "--rp-url", self.rp, "--json"))
        self.client = loaded["client"]
        self.pid = loaded["citizens"][0]["pid"]
        self.sms_outbox = Path(loaded["sms"]["outbox"])
        self.server = LiveServer(self.env, port=port)

    def authorize_url(self) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": self.client["redirect_uri"],
            "scope": "openid profile",
            "state": "s",
            "nonce": "n",
        }
        return f"{self.url}/authorize?{urlencode(query)}"

    def last_sms_code(self) -> str:
        text = json.loads(self.sms_outbox.read_text(encoding="utf-8").splitlines()[-1])["text"]
        return re.search(r"\b\d{5,8}\b", text).group(0)

    def id_token_claims(self, callback_url: str) -> dict:
        """The service's side: the code from its callback exchanged for the ID token's claims."""
        code = parse_qs(urlsplit(callback_url).query)["code"][0]
        response = requests.post(
            f"{self.url}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.client["redirect_uri"]},
            auth=(self.client["client_id"], self.client["client_secret"]),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        payload = response.json()["id_token"].split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("passkeys"))
    yield site
    site.server.close()
    site.rp_server.shutdown()


def _context(browser, site: Site, **options):
    chromium, axe = browser
    context = chromium.new_context(locale="nb-NO", **options)
    context.add_cookies([{"name": "lang", "value": LOCALE, "url": site.url}])
    context.add_init_script(path=str(axe))
    return context


def _authenticator(context, page) -> tuple[object, str]:
    """A virtual platform authenticator in this tab, as a phone's or laptop's built-in one: its CDP session and id."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def _click(page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).first.click()


def _password(page, site: Site) -> None:
    page.fill("input[name=pid]", site.pid)
    page.fill("input[name=password]", DEMO_PASSWORD)
    _click(page, "form[action$='/login'] button.primary")


def _sms(page, site: Site) -> None:
    page.fill("input[name=code]", site.last_sms_code())
    _click(page, "main form button.primary")


def _log_out(page, site: Site) -> None:
    page.goto(site.url + "/logout")
    _click(page, "main form button.primary")


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshots_folder()


def test_passkey_registered_used_and_removed(site, browser, shots):
    context = _context(browser, site)
    page = context.new_page()
    sweep = Sweep(page, LOCALE, shots)
    cdp, authenticator = _authenticator(context, page)
    try:
        # Min profil, after a login with password and SMS.
        page.goto(site.url + "/profile")
        sweep.check("passkeys-login")
        _password(page, site)
        _sms(page, site)
        assert page.url == site.url + "/profile"
        sweep.check("passkeys-profile")
        # Register: a name, then the page whose button has the browser make the passkey.
        page.fill("input[name=nickname]", "Bærbar PC")
        _click(page, "form[action$='/profile/passkeys'] button")
        assert page.locator("form[data-webauthn=create] button").is_visible()
        assert not page.locator("[data-webauthn-without]").is_visible()
        sweep.check("passkeys-new")
        _click(page, "form[data-webauthn=create] button")
        assert "Passnøkkelen «Bærbar PC» er lagt til." in page.inner_text("main")
        assert "Bare på én enhet eller sikkerhetsnøkkel" in page.inner_text("main")
        sweep.check("passkeys-profile-added")
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
        # Rename it.
        _click(page, "a[href*='/profile/passkeys/']:not([href$='/remove'])")
        sweep.check("passkeys-rename")
        page.fill("input[name=nickname]", "Jobb-PC")
        _click(page, "main form button.primary")
        assert "Passnøkkelen heter nå «Jobb-PC»." in page.inner_text("main")
        _log_out(page, site)

        # A service's login: the password, then the passkey as the second factor.
        page.goto(site.authorize_url())
        assert page.locator("form[data-webauthn=get] button").is_visible()
        sweep.check("passkeys-login-service")
        _password(page, site)
        sweep.check("passkeys-choose")
        _click(page, "form[action$='/login/choose']:has(input[value=webauthn]) button")
        sweep.check("passkeys-second-factor")
        assert "Bruk en annen innloggingsmetode" in page.inner_text("main")  # the way back to SMS
        _click(page, "form[data-webauthn=get] button")
        assert page.url.startswith(site.client["redirect_uri"] + "?")
        claims = site.id_token_claims(page.url)
        assert claims["acr"] == "idporten-loa-substantial"
        assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
        _log_out(page, site)

        # The passkey alone: no number, no password.
        page.goto(site.authorize_url())
        _click(page, "form[data-webauthn=get] button")
        assert page.url.startswith(site.client["redirect_uri"] + "?")
        claims = site.id_token_claims(page.url)
        assert claims["acr"] == "idporten-loa-substantial"
        assert claims["amr"] == ["hwk", "user", "mfa"]
        signs = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]["signCount"]
        assert signs >= 2

        # Remove it, after the confirmation; Min profil is open in the session the passkey started.
        page.goto(site.url + "/profile")
        _click(page, "a[href$='/remove']:has-text('Fjern')")
        sweep.check("passkeys-confirm-remove")
        _click(page, "main form button.primary")
        assert "Passnøkkelen «Jobb-PC» er fjernet." in page.inner_text("main")
        assert page.locator("a[href*='/profile/passkeys/']").count() == 0
    finally:
        context.close()
    assert not sweep.problems, "\n".join(sweep.problems)


def test_without_javascript_the_pages_say_why(site, browser, shots):
    """No script: the passkey buttons stay hidden, the pages say passkeys need JavaScript and keep the other ways."""
    context = _context(browser, site, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(site.authorize_url())
        assert not page.locator("form[data-webauthn] button").is_visible()
        assert "Passnøkler krever JavaScript" in page.inner_text("main")
        page.screenshot(path=str(shots / "passkeys-login-without-javascript.png"), full_page=True)
        # The password form works as ever.
        _password(page, site)
        assert page.locator("input[name=code]").is_visible()
    finally:
        context.close()


def test_no_passkey_on_this_device(site, browser, shots):
    """The authenticator has no passkey for this site: the browser refuses, the page says so, nothing is sent."""
    context = _context(browser, site)
    page = context.new_page()
    _authenticator(context, page)
    try:
        page.goto(site.authorize_url())
        page.locator("form[data-webauthn=get] button").click()
        status = page.locator("[data-webauthn-status]")
        status.wait_for(state="visible")
        assert status.inner_text() == "Ingen passnøkkel ble brukt. Prøv igjen, eller bruk en annen innloggingsmetode."
        assert page.url.startswith(site.url + "/login?")
        assert page.locator("form[data-webauthn=get] button").is_enabled()  # the citizen may try again
        page.screenshot(path=str(shots / "passkeys-login-no-passkey.png"), full_page=True)
    finally:
        context.close()
