"""The language switch sends the browser back to a page of ours, never to another site."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

HOSTILE = [
    "//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\u3000/evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_next_goes_to_the_front_page(app, target):
    response = app.test_client().get("/language/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.location == "/"


@pytest.mark.parametrize("raw", ["/%09/evil.example", "/%0d%0a/evil.example", "%2F%2Fevil.example", "/%5Cevil.example"])
def test_hostile_next_as_sent_in_a_link(app, raw):
    # The query string as an attacker's link carries it: percent-decoded by the server.
    response = app.test_client().get(f"/language/en?next={raw}")
    assert response.location == "/"


@pytest.mark.parametrize("target", ["/login?tx=abc", "/profile", "/authorize?client_id=rp1&scope=openid%20profile"])
def test_own_pages_are_returned_to(app, target):
    response = app.test_client().get("/language/nb", query_string={"next": target})
    assert response.location == target
    assert not urlsplit(response.location).netloc


def test_a_nul_in_next_is_refused(app):
    response = app.test_client().get("/language/en", query_string={"next": "/\x00/evil.example"})
    assert response.status_code == 400
    assert response.location is None


def test_an_overlong_next_goes_to_the_front_page(app):
    response = app.test_client().get("/language/en", query_string={"next": "/" + "a" * 10_000})
    assert response.location == "/"
