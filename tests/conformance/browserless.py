"""A citizen's browser without a browser: requests.Session through the hosted login pages.

Every step of the hosted login lives in :func:`login`, so a change to the
login pages (a second factor, say) is adapted here once.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


class _Forms(HTMLParser):
    """Collects each form's action, method and inputs (name → value), and iframe sources."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.iframes: list[str] = []
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": attr.get("action", ""), "method": attr.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and attr.get("name"):
            self.forms[-1]["fields"][attr["name"]] = attr.get("value", "")
        elif tag == "iframe":
            self.iframes.append(attr.get("src", ""))
        elif tag == "a" and attr.get("id"):
            self.links[attr["id"]] = attr.get("href", "")


def parse(html: str) -> _Forms:
    forms = _Forms()
    forms.feed(html)
    return forms


def login(session: requests.Session, response: requests.Response, *, pid: str, password: str) -> requests.Response:
    """Complete the hosted login that ``response`` (the redirect to /login) starts.

    Returns the provider's answer to /authorize/resume: the authorization
    response (a redirect, or a form_post page).
    """
    assert response.status_code in (302, 303), f"expected a redirect to the login page, got {response.status_code}"
    page_url = urljoin(response.url, response.headers["Location"])
    assert "/login" in page_url, page_url
    page = session.get(page_url, allow_redirects=False)
    assert page.status_code == 200, page.text
    form = next(f for f in parse(page.text).forms if "pid" in f["fields"] or "password" in f["fields"])
    fields = dict(form["fields"], pid=pid, password=password)
    posted = session.post(urljoin(page_url, form["action"]), data=fields, allow_redirects=False)
    assert posted.status_code in (302, 303), f"login failed ({posted.status_code})"
    following = urljoin(page_url, posted.headers["Location"])
    if "/login/step" in following:
        # The password cannot reach the requested level and the citizen has no factor that does:
        # the page explains, and its button sends the citizen back to the service with the error.
        step = session.get(following, allow_redirects=False)
        assert step.status_code == 403, step.text
        back = next(f for f in parse(step.text).forms if "/authorize/unmet" in f["action"])
        return session.post(urljoin(following, back["action"]), data=back["fields"], allow_redirects=False)
    assert "/authorize/resume" in following, following
    return session.get(following, allow_redirects=False)
