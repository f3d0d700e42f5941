"""RP-initiated logout with front-channel iframes, in a real Chromium with and without JavaScript.

The relying party's pages (https://rp.example) are answered by Playwright's
router, so the browser really loads the logout iframe and really arrives at
the post_logout_redirect_uri. Without script the page's Refresh header takes
it there; with script it goes once the iframe has loaded, and when an iframe
never answers, the script's bounded wait ends it. (Without script such a frame
holds back the page's load event, which starts the Refresh timer, until the
browser gives up on it.)
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from tests.browser import chromium
from tests.conformance.suite import code_flow

pytestmark = pytest.mark.browser

POST_LOGOUT = "https://rp.example/logged-out"


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _logout_in_browser(provider, browser, *, javascript: bool, frame_answers: bool) -> tuple[str, list[str]]:
    """Log in (browserless), hand the session cookie to Chromium, log out there; where it ends, frames asked."""
    rp = provider.clients["frontchannel"]
    flow = code_flow(provider, rp)
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": provider.url} for c in flow.browser.cookies])
    frames: list[str] = []

    def relying_party(route):
        url = route.request.url
        if urlsplit(url).path == "/frontchannel":
            frames.append(url)
            if not frame_answers:
                return  # left pending: the iframe never loads
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>rp</title><p>rp")

    context.route("https://rp.example/**", relying_party)
    page = context.new_page()
    query = urlencode(
        {"id_token_hint": flow.tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "b1"}
    )
    page.goto(provider.metadata["end_session_endpoint"] + "?" + query, wait_until="commit")
    page.wait_for_url(POST_LOGOUT + "?state=b1", timeout=20_000)
    ended = page.url
    context.close()
    return ended, frames


@pytest.mark.parametrize("javascript", [False, True], ids=["without-javascript", "with-javascript"])
def test_frontchannel_logout_returns_to_the_service(provider, browser, javascript):
    ended, frames = _logout_in_browser(provider, browser, javascript=javascript, frame_answers=True)
    assert ended == POST_LOGOUT + "?state=b1"
    assert len(frames) == 1 and "sid=" in frames[0]


def test_a_frame_that_never_loads_does_not_keep_the_citizen(provider, browser):
    ended, frames = _logout_in_browser(provider, browser, javascript=True, frame_answers=False)
    assert ended == POST_LOGOUT + "?state=b1"
    assert len(frames) == 1
