"""No framework page in any case: what a browser can meet gets our own page, in the page's language."""

from __future__ import annotations

import pytest

from tests.flows import authorize_params


def _page(app, lang: str):
    client = app.test_client()
    client.set_cookie("lang", lang)
    return client


@pytest.mark.parametrize(
    ("lang", "title"), [("nb", "Denne siden kan ikke åpnes alene"), ("en", "This page cannot be opened on its own")]
)
def test_a_forms_address_opened_as_a_page(app, lang, title):
    for path in ("/login/resend", "/login/choose", "/profile/phone", "/profile/phone/resend"):
        response = _page(app, lang).get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 405, path
        assert f"<h1>{title}</h1>" in html and f'<html lang="{lang}">' in html
        assert "POST" in response.headers["Allow"]
        assert "Method Not Allowed" not in html


def test_a_body_too_large_gets_our_page(app):
    response = _page(app, "en").post("/login", data={"pid": "x" * (300 * 1024)})
    assert response.status_code == 413
    assert "<h1>Something in the request was wrong</h1>" in response.get_data(as_text=True)


def test_an_error_of_ours_gets_our_page_and_a_machine_json(app, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "pages.index", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = _page(app, "nb").get("/")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "<h1>Noe gikk galt hos oss</h1>" in html and "a bug" not in html
    # Named as the real view, so it stays exempt from the pages' CSRF check as relying parties' endpoints are.
    broken.__module__, broken.__name__ = "idp.oidc.endpoints", "revoke"
    monkeypatch.setitem(app.view_functions, "oidc.revoke", broken)
    machine = app.test_client().post("/revoke", data={"token": "x"})
    assert machine.status_code == 500
    assert machine.get_json()["error"] == "server_error" and machine.headers["Cache-Control"] == "no-store"


def test_a_form_without_its_csrf_token_goes_back_to_its_page_saying_why(app, citizen, rp):
    client = _page(app, "en")
    login = client.get("/authorize", query_string=authorize_params(scope="openid")).location
    client.get(login)
    refused = client.post("/login", data={"tx": login.split("tx=")[1], "pid": citizen.pid, "password": "x"})
    assert refused.status_code == 303 and refused.location == login
    page = client.get(login)
    assert "The page had been open too long. Fill it in again." in page.get_data(as_text=True)
    # Min profil's forms alike; without a live login there is nothing to keep: the page says so.
    activation = client.post("/profile/activation", data={"pid": citizen.pid, "password": "x"})
    assert activation.status_code == 303 and activation.location == "/profile/activation"
    assert "open too long" in client.get("/profile/activation").get_data(as_text=True)
    expired = client.post("/login", data={"tx": "nobody", "pid": citizen.pid, "password": "x"})
    assert "This login has expired" in expired.get_data(as_text=True)


def test_a_body_too_large_is_not_read_even_for_the_language(app):
    response = app.test_client().post(
        "/token",
        data="ui_locales=en&" + "x" * (300 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "\x16©"},
    )
    assert response.status_code == 413
