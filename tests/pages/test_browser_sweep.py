"""Every hosted page in a real Chromium, in bokmål, nynorsk and English, at 320, 360 and 1280 px.

On each page and width: axe-core (WCAG 2.1 A and AA, and best practice) finds
nothing, and nothing scrolls sideways (WCAG 1.4.10 reflow). A screenshot of each
is kept under $IDP_SCREENSHOTS (default: a new temporary folder). One live
provider and one browser serve the whole sweep; axe-core comes from npm, pinned
in tests/pages/package-lock.json, and is injected by Playwright, never from a CDN.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from idp.demo import DEMO_APP_PASSPHRASE, DEMO_PASSWORD
from idp.pid import generate_pid
from idp_app import keys
from tests.browser import screenshots_folder
from tests.live import LiveServer, base_env, free_port

pytestmark = pytest.mark.browser

LOCALES = ("nb", "nn", "en")
WIDTHS = (320, 360, 1280)
ROOT = Path(__file__).resolve().parent.parent.parent
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the TOTP citizen is only taken to the code page
WRONG = "ikkje-rett-passord"
FULLMAKT = "idporten:fullmakt"


def idp(env: dict[str, str], *args: str) -> str:
    """Run an ``idp`` command in this process, as ``tests.live.idp`` does in its own: the sweep needs a dozen."""
    from click.testing import CliRunner

    from idp.cli import main

    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"idp {' '.join(args)} failed: {result.output}"
    return result.output


BROKEN_PAGE = (
    b'<!doctype html><html lang="nb"><title>Broken</title><main><h1>Feil</h1><p>Go back and try again.</p>'
    b'<img src="/x.png"><input type="text"><div style="width: 2000px">wide</div>'
    b'<div style="overflow: hidden"><span class="word" style="white-space: nowrap">'
    + "innloggingsforespørselsbehandlingsrutinebeskrivelsesdokumentasjonsarkivet".encode()
    + b"</span></div></main></html>"
)


def _callback(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    if environ["PATH_INFO"] == "/broken":  # for the test that the sweep can fail
        return [BROKEN_PAGE]
    return [b'<!doctype html><html lang="en"><title>Service</title><main><h1>Back at the service</h1></main></html>']


class Site:
    """The live provider with one citizen for each state a page shows."""

    def __init__(self, data: Path):
        rp_port = free_port()
        self.rp = f"http://127.0.0.1:{rp_port}"
        # The service's callback only has to answer: the sweep ends its logins there.
        self.rp_server = make_server("127.0.0.1", rp_port, _callback)
        threading.Thread(target=self.rp_server.serve_forever, daemon=True).start()
        self.env = base_env(
            data,
            IDP_ASSURANCE_PASSWORD_ONLY="false",
            # The first login page offers "Log in with a passkey"; tests/pages/test_passkeys.py sweeps the pages
            # of a passkey registered and used (WebAuthn needs a domain name, this site is on 127.0.0.1).
            IDP_WEBAUTHN_PASSWORDLESS="true",
            # Every pass sends codes to one citizen from 127.0.0.1; the limits per network and per
            # account are tested in tests/mfa and tests/policy.
            IDP_LIMITS_IP_CODES_SENT="100000",
            IDP_LIMITS_ACCOUNT_CODES_SENT="100000",
            IDP_BRANDING_NAME="Demo-ID",
            IDP_BRANDING_SUPPORT_EMAIL="brukerstotte@id.example",
            IDP_BRANDING_SUPPORT_PHONE="+47 800 00 000",
            IDP_BRANDING_SUPPORT_HOURS="08:00–15:30",
        )
        idp(self.env, "db", "upgrade")
        idp(self.env, "keys", "init")
        # The third demo citizen's phone: a key file made by the reference app (the pages need no answer from it).
        key_file = data / "phone-key.json"
        keys.save(keys.new_key("http://127.0.0.1", "Telefon"), key_file, DEMO_APP_PASSPHRASE)
        loaded = json.loads(idp(self.env, "demo", "--rp-url", self.rp, "--app-key", str(key_file), "--json"))
        self.app = loaded["app"]["pid"]
        self.client_id = loaded["client"]["client_id"]
        self.redirect_uri = loaded["client"]["redirect_uri"]
        self.sms_outbox = Path(loaded["sms"]["outbox"])
        self.sms = loaded["citizens"][0]["pid"]
        self.citizens: dict[str, str] = {}
        for number, (name, factors) in enumerate(
            {
                "totp": ["totp"],
                "both": ["sms", "totp"],
                "none": [],
                "pin": ["pin"],
                "locked": ["sms"],
                "wait": ["sms"],  # once made to wait, every later wrong password shows the wait page again
            }.items()
        ):
            self.citizens[name] = self._citizen(number, factors)
        idp(self.env, "users", "lock", self.citizens["locked"])
        self._guardianship(data)
        self.citizens["unactivated"] = self._citizen(23, ["sms"])
        # As an account ordered at /order whose activation letter is not used yet (no command makes one).
        engine = sa.create_engine(self.env["IDP_DATABASE_URL"])
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE citizen SET activated = :no WHERE pid = :pid"),
                {"no": False, "pid": self.citizens["unactivated"]},
            )
        engine.dispose()
        self.server = LiveServer(self.env)
        self.url = self.server.url

    def _guardianship(self, data: Path) -> None:
        """A guardian with a ward to act for (the chooser), and a ward's account operated under a mandate
        since revoked (the page that stops its login); a service registered for representation."""
        self.citizens["guardian"] = self._citizen(20, ["sms"])
        self.citizens["ward"] = self._citizen(21, [])
        self.citizens["operated"] = self._citizen(22, [])
        mandates = data / "mandates.csv"
        guardian, ward, operated = (self.citizens[name] for name in ("guardian", "ward", "operated"))
        mandates.write_text(
            "reference,guardian_pid,ward_pid,ward_name,roles,valid_from,valid_to\n"
            f"VM-SWEEP-1,{guardian},{ward},Kari Nordmann-Kristiansen,helse,2020-01-01,\n"
            f"VM-SWEEP-2,{guardian},{operated},Per Nordmann,helse,2020-01-01,\n",
            encoding="utf-8",
        )
        idp(self.env, "guardians", "import", str(mandates))
        idp(self.env, "guardians", "operate", "VM-SWEEP-2", "--phone", "+4791234567")
        idp(self.env, "guardians", "revoke", "VM-SWEEP-2")
        client = json.loads(
            idp(self.env, "clients", "add", "--name", "Helsetjenesten", "--redirect-uri", self.redirect_uri,
                "--scope", "openid profile", "--authorization-details-type", FULLMAKT, "--json")
        )  # fmt: skip
        self.representation_client_id = client["client_id"]

    def _citizen(self, number: int, factors: list[str]) -> str:

        pid = generate_pid(birth_date=date(1950 + number, 3, 14), synthetic=True)
        idp(self.env, "users", "add", pid, "--given-name", "Ola", "--family-name", "Nordmann",
            "--street-address", "Storgata 1", "--postal-code", "0155", "--locality", "Oslo",
            "--password", DEMO_PASSWORD)  # fmt: skip
        for factor in factors:
            if factor == "sms":
                idp(self.env, "factors", "add", pid, "sms", "--phone", "+4791234567")
            elif factor == "totp":
                idp(self.env, "factors", "add", pid, "totp", "--secret", TOTP_SECRET)
            else:
                # Issued as before the cutoff; the provider itself runs after it (PINs phased out).
                idp({**self.env, "IDP_PIN_ENROL_UNTIL": "", "IDP_PIN_ACCEPT_UNTIL": ""}, "pins", "issue", pid)
        return pid

    def authorize_url(self, **extra: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": "s",
            "nonce": "n",
            **extra,
        }
        return f"{self.url}/authorize?{urlencode(query)}"

    def representation_url(self) -> str:
        """A service that asks who the citizen acts for (RFC 9396 authorization_details)."""
        details = json.dumps([{"type": FULLMAKT, "permission_roles": ["helse"]}])
        return self.authorize_url(client_id=self.representation_client_id, authorization_details=details)

    def last_sms_code(self) -> str:
        text = json.loads(self.sms_outbox.read_text(encoding="utf-8").splitlines()[-1])["text"]
        return re.search(r"\b\d{5,8}\b", text).group(0)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("sweep"))
    yield site
    site.server.close()
    site.rp_server.shutdown()


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshots_folder()


def _context(browser_and_axe, site: Site, locale: str, **options):
    browser, axe = browser_and_axe
    context = browser.new_context(locale={"nb": "nb-NO", "nn": "nn-NO", "en": "en-GB"}[locale], **options)
    context.add_cookies([{"name": "lang", "value": locale, "url": site.url}])
    # An init script runs in every page before its own; the page's CSP does not apply to it.
    context.add_init_script(path=str(axe))
    return context


def _english_sentences() -> frozenset[str]:
    """The catalogue's English source texts of three words or more, placeholders left out."""
    from babel.messages.pofile import read_po

    with (ROOT / "idp/translations/en/LC_MESSAGES/messages.po").open("rb") as handle:
        ids = [i for m in read_po(handle) if m.id for i in (m.id if isinstance(m.id, tuple) else (m.id,))]
    return frozenset(i for i in ids if "%" not in i and len(i.split()) >= 3)


ENGLISH = _english_sentences()


# Elements (and text) whose right edge lies past the window: the first three, named by tag and class.
OUTSIDE_THE_WINDOW = """() => {
    const edge = window.innerWidth + 1;
    const name = (e) => e.tagName.toLowerCase() + (e.classList.length ? "." + [...e.classList].join(".") : "");
    const found = [];
    for (const e of document.body.querySelectorAll("*")) {
        const box = e.getBoundingClientRect();
        if (box.width <= 1) continue;  // text for screen readers only (.visually-hidden) is clipped to a pixel
        if (box.right > edge) found.push(name(e));
        for (const node of e.childNodes) {
            if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            if ([...range.getClientRects()].some((r) => r.right > edge)) found.push(`text in ${name(e)}`);
        }
    }
    return found.slice(0, 3);
}"""


class Sweep:
    """Checks the page a browser tab shows now, at each width, and keeps what is wrong."""

    def __init__(self, page, locale: str, shots: Path, *, scheme: str = "light"):
        self.page = page
        self.locale = locale
        self.shots = shots
        self.label = locale if scheme == "light" else f"{locale}-{scheme}"
        self.problems: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        assert page.evaluate("document.documentElement.lang") == self.locale, f"{name}: page not in {self.locale}"
        if self.locale != "en":
            text = page.inner_text("body")
            self.problems += [f"{name} {self.label}: English text {e!r}" for e in sorted(ENGLISH) if e in text]
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                self.problems.append(f"{name} {self.label} {width}px: scrolls sideways by {overflow}px")
            # A word that does not break can also hide under a box's edge without widening the page.
            past_edge = page.evaluate(OUTSIDE_THE_WINDOW)
            self.problems += [f"{name} {self.label} {width}px: {e} reaches past the window's edge" for e in past_edge]
            violations = page.evaluate(
                """async (tags) => {
                    const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
                    const result = await axe.run(document, options);
                    const where = (v) => v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ");
                    return result.violations.map(v => `${v.id}: ${where(v)}`);
                }""",
                AXE_TAGS,
            )
            self.problems += [f"{name} {self.label} {width}px: {v}" for v in violations]
            page.screenshot(path=str(self.shots / f"{name}-{self.label}-{width}.png"), full_page=True)


def _click(page, selector: str) -> None:
    """Click and wait for the page it leads to: the checks must not run on the page being left."""
    with page.expect_navigation():
        page.locator(selector).first.click()


def _submit(page) -> None:
    _click(page, "main form button.primary")


def _password(page, pid: str, password: str = DEMO_PASSWORD) -> None:
    page.fill("input[name=pid]", pid)
    page.fill("input[name=password]", password)
    _submit(page)


def _start_login(page, site: Site) -> None:
    page.goto(site.authorize_url())


def _visit(sweep: Sweep, site: Site, steps: list[tuple[str, Callable[[], None]]]) -> None:
    for name, action in steps:
        action()
        sweep.check(name)


# Every language in the light scheme; one in the dark (colour contrast is checked there too) and one in
# forced colours (Windows high contrast), where the page must keep every boundary and still reflow.
SCHEMES = {
    "light": {"color_scheme": "light"},
    "dark": {"color_scheme": "dark"},
    "forced": {"color_scheme": "light", "forced_colors": "active"},
}


@pytest.mark.parametrize(
    ("locale", "scheme"), [*((locale, "light") for locale in LOCALES), ("nn", "dark"), ("nb", "forced")]
)
def test_every_hosted_page(site, browser, shots, locale, scheme):
    context = _context(browser, site, locale, **SCHEMES[scheme])
    page = context.new_page()
    sweep = Sweep(page, locale, shots, scheme=scheme)
    try:
        # Pages about the service, and errors.
        _visit(sweep, site, [
            ("front-page", lambda: page.goto(site.url + "/")),
            ("help", lambda: page.goto(site.url + "/help")),
            ("privacy", lambda: page.goto(site.url + "/privacy")),
            ("accessibility", lambda: page.goto(site.url + "/accessibility")),
            ("not-found", lambda: page.goto(site.url + "/no-such-page")),
            ("invalid-request", lambda: page.goto(
                f"{site.url}/authorize?client_id={site.client_id}&response_type=code&scope=openid"
                "&redirect_uri=https%3A%2F%2Fevil.example%2F")),
            ("expired-login", lambda: page.goto(site.url + "/login?tx=gone")),
            ("activation-order", lambda: page.goto(site.url + "/profile/activation")),
            ("activation-use", lambda: page.goto(site.url + "/profile/activate")),
            ("order", lambda: page.goto(site.url + "/order")),
            ("order-terms", lambda: page.goto(site.url + "/order/terms")),
            ("order-activate", lambda: page.goto(site.url + "/order/activate")),
            ("forgot", lambda: page.goto(site.url + "/forgot")),
        ])  # fmt: skip
        # A whole login with a code by SMS, Min profil, and logging out.
        _visit(sweep, site, [
            ("login", lambda: _start_login(page, site)),
            ("login-wrong-password", lambda: _password(page, site.sms, WRONG)),
            ("sms", lambda: _password(page, site.sms)),
            ("sms-wrong-code", lambda: (page.fill("input[name=code]", "000000"), _submit(page))),
        ])  # fmt: skip
        page.fill("input[name=code]", site.last_sms_code())
        _submit(page)
        page.wait_for_url(f"{site.rp}/**")
        _visit(sweep, site, [
            ("profile", lambda: page.goto(site.url + "/profile")),
            ("profile-totp", lambda: page.goto(site.url + "/profile/totp")),
            ("profile-app", lambda: page.goto(site.url + "/profile/app")),
            ("profile-app-code", lambda: _click(page, "form[action$='/profile/app/code'] button")),
            ("profile-confirm-phone", lambda: (page.goto(site.url + "/profile"),
                                               page.fill("input[name=phone]", "91234568"),
                                               _click(page, "form[action$='/profile/phone'] button"))),
            ("profile-passkey-new", lambda: (page.goto(site.url + "/profile"),
                                             page.fill("input[name=nickname]", "Telefon"),
                                             _click(page, "form[action$='/profile/passkeys'] button"))),
            ("profile-confirm-remove", lambda: (page.goto(site.url + "/profile"),
                                                _click(page, "form[action$='/profile/remove'] button"))),
            ("logout-confirm", lambda: page.goto(site.url + "/logout")),
            ("logged-out", lambda: _submit(page)),
        ])  # fmt: skip
        # The other states a login can meet.
        _visit(sweep, site, [
            ("totp", lambda: (_start_login(page, site), _password(page, site.citizens["totp"]))),
            ("choose", lambda: (_start_login(page, site), _password(page, site.citizens["both"]))),
            ("app", lambda: (_start_login(page, site), _password(page, site.app),
                             _click(page, "ul.choices li:first-child button"))),
            ("unmet", lambda: (_start_login(page, site), _password(page, site.citizens["none"]))),
            ("pin-phased-out", lambda: (_start_login(page, site), _password(page, site.citizens["pin"]))),
            ("locked", lambda: (_start_login(page, site), _password(page, site.citizens["locked"]))),
            ("wait", lambda: _until_wait(page, site, site.citizens["wait"])),
            ("operated-stopped", lambda: _until_operated_stopped(page, site)),
            ("unmet-unactivated", lambda: _until_unactivated(page, site)),
            ("represent", lambda: _until_chooser(page, site)),
            ("profile-guardian", lambda: _guardian_profile(page, site)),
            ("operate-confirm", lambda: _click(page, "form[action$='/profile/operate'] button")),
        ])  # fmt: skip
    finally:
        context.close()
    assert not sweep.problems, "\n".join(sweep.problems)


def _until_wait(page, site: Site, pid: str) -> None:
    """Wrong passwords until the account must wait (limits.free_failures, then a delay)."""
    _start_login(page, site)
    for _ in range(10):
        _password(page, pid, WRONG)
        if page.locator("input[name=password]").count() == 0:
            return
    raise AssertionError("no wait page after 10 wrong passwords")


def _until_operated_stopped(page, site: Site) -> None:
    """A ward's account operated under a revoked mandate: its login stops after the password (403)."""
    _start_login(page, site)
    page.fill("input[name=pid]", site.citizens["operated"])
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation() as navigation:
        page.locator("main form button.primary").first.click()
    assert navigation.value.status == 403


def _until_unactivated(page, site: Site) -> None:
    """An account awaiting its activation letter at a service that asks for substantial: the unmet page says so."""
    page.goto(site.authorize_url(acr_values="idporten-loa-substantial"))
    _password(page, site.citizens["unactivated"])
    assert page.locator("main a[href$='/order/activate']").count() == 1


def _until_chooser(page, site: Site) -> None:
    """The guardian logs in as themself (password, code by SMS) and is asked who they act for."""
    page.goto(site.representation_url())
    _password(page, site.citizens["guardian"])
    page.fill("input[name=code]", site.last_sms_code())
    _submit(page)
    assert "/login/represent" in page.url, page.url


def test_the_login_history_is_stacked_on_a_phone(site, browser):
    """At 320 px each row of Min profil's history is a block with its columns' names, and a level's name
    keeps to one line; at 1280 px it is a table with its header row."""
    context = _context(browser, site, "nn")
    page = context.new_page()
    try:
        _start_login(page, site)
        _password(page, site.sms)
        page.fill("input[name=code]", site.last_sms_code())
        _submit(page)
        page.wait_for_url(f"{site.rp}/**")
        page.goto(site.url + "/profile")
        layout = """() => {
            const table = document.querySelector("table.logins");
            const headers = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
            const cells = [...table.querySelectorAll("tbody tr:first-child td")];
            const level = document.createRange();
            level.selectNodeContents(table.querySelector("tbody td.level"));
            return {
                headers,
                headerShown: table.querySelector("thead").getBoundingClientRect().height > 1,
                display: cells.map((td) => getComputedStyle(td).display),
                labels: cells.map((td) => getComputedStyle(td, "::before").content.replace(/^"|"$/g, "")),
                levelLines: new Set([...level.getClientRects()].map((r) => Math.round(r.top))).size,
                rows: table.querySelectorAll("tbody tr").length,
            };
        }"""
        page.set_viewport_size({"width": 320, "height": 800})
        narrow = page.evaluate(layout)
        assert narrow["rows"] >= 1
        assert len(narrow["headers"]) == 3
        assert narrow["display"] == ["block", "block", "block"]
        assert narrow["labels"] == narrow["headers"]  # each cell says which column it is
        assert not narrow["headerShown"]
        assert narrow["levelLines"] == 1
        page.set_viewport_size({"width": 1280, "height": 800})
        wide = page.evaluate(layout)
        assert wide["display"] == ["table-cell"] * 3 and wide["headerShown"]
        assert wide["labels"] == ["none"] * 3
    finally:
        context.close()


def _guardian_profile(page, site: Site) -> None:
    """The guardian's Min profil, with the accounts they may operate (logging in if the chooser left no session)."""
    page.goto(site.url + "/profile")
    if "/login" in page.url:
        _password(page, site.citizens["guardian"])
        page.fill("input[name=code]", site.last_sms_code())
        _submit(page)
    assert page.url.startswith(site.url + "/profile"), page.url
    assert page.locator("#operating").count() == 1


def test_keyboard_only_login(site, browser):
    """A citizen without a mouse: Tab to each field and button, each visibly focused, Enter to send,
    all the way back to the service."""
    context = _context(browser, site, "nn")
    page = context.new_page()
    try:
        _start_login(page, site)

        def tab_to(selector: str) -> None:
            for _ in range(30):
                page.keyboard.press("Tab")
                if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                    assert outline != "none", f"{selector} shows no focus"
                    return
            raise AssertionError(f"Tab never reaches {selector}")

        tab_to("input[name=pid]")
        page.keyboard.type(site.sms)
        tab_to("input[name=password]")
        page.keyboard.type(DEMO_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_selector("input[name=code]")
        tab_to("input[name=code]")
        page.keyboard.type(site.last_sms_code())
        tab_to("main form button.primary")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{site.rp}/**")
        assert "code=" in page.url
    finally:
        context.close()


def test_the_sweep_sees_a_broken_page(site, browser, shots):
    """The checks themselves: an image without alt text, an unlabelled field, a too wide block and English
    on a Norwegian page are caught."""
    context = _context(browser, site, "nb")
    try:
        page = context.new_page()
        page.goto(site.rp + "/broken")
        sweep = Sweep(page, "nb", shots)
        sweep.check("broken")
        found = "\n".join(sweep.problems)
        assert "image-alt" in found
        assert "label" in found
        assert "English text 'Go back and try again.'" in found
        for width in WIDTHS:
            assert f"broken nb {width}px: scrolls sideways" in found
        for width in (320, 360):  # hidden under its box's edge, yet past the window's
            assert f"broken nb {width}px: text in span.word reaches past the window's edge" in found
    finally:
        context.close()


def test_language_switched_mid_login_holds_to_the_end(site, browser):
    """The service asks for nynorsk; the citizen switches to English on the login page and keeps it."""
    context = _context(browser, site, "nb")
    page = context.new_page()
    try:
        page.goto(site.authorize_url() + "&ui_locales=nn")
        assert page.evaluate("document.documentElement.lang") == "nn"
        _click(page, "nav.languages a[lang=en]")
        assert page.evaluate("document.documentElement.lang") == "en"
        _password(page, site.sms)
        assert page.evaluate("document.documentElement.lang") == "en"
        page.fill("input[name=code]", site.last_sms_code())
        _submit(page)
        assert page.url.startswith(site.redirect_uri + "?")
        assert "code=" in page.url
    finally:
        context.close()
