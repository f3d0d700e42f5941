"""Which language a page is written in: ui_locales, then the citizen's own choice, then the browser."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.conftest import PASSWORD
from tests.flows import REDIRECT_URI, authorize_params, basic, login_for_code

NYNORSK_LOGIN = "Logg inn på Testtjenesten"  # the same in nb and nn: the body tells them apart
NYNORSK_CANCEL = "Avbryt og gå tilbake til tenesta"
BOKMAL_CANCEL = "Avbryt og gå tilbake til tjenesten"
ENGLISH_CANCEL = "Cancel and go back to the service"


def page_language(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "the page names no language"
    return match.group(1)


def login_page(client, **params: str) -> str:
    response = client.get("/authorize", query_string=authorize_params(**params))
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.location)
    assert page.status_code == 200
    return page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("nn", "nn"),
        ("nn-NO", "nn"),
        ("nn-NO,nb;q=0.5", "nn"),
        ("no", "nb"),
        ("nb-NO", "nb"),
        ("en-GB", "en"),
        ("sv, da;q=0.9", "nb"),
        ("de, nn;q=0.2", "nn"),
    ],
)
def test_browser_language(app, accept, expected):
    page = app.test_client().get("/", headers={"Accept-Language": accept})
    assert page_language(page.get_data(as_text=True)) == expected


def test_nynorsk_through_ui_locales(app, rp):
    html = login_page(app.test_client(), ui_locales="nn")
    assert page_language(html) == "nn"
    assert NYNORSK_CANCEL in html


def test_nynorsk_through_accept_language(app, rp):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nn-NO,nn;q=0.9,en;q=0.5"
    html = login_page(client)
    assert page_language(html) == "nn"
    assert NYNORSK_CANCEL in html


def test_remembered_choice_beats_the_browser(app, rp):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    switched = client.get("/language/nn", query_string={"next": "/"})
    assert switched.status_code == 302
    html = login_page(client)
    assert page_language(html) == "nn"
    assert NYNORSK_CANCEL in html


def test_ui_locales_beats_choice_and_browser(app, rp):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.set_cookie("lang", "en")
    html = login_page(client, ui_locales="nn-NO en")
    assert page_language(html) == "nn"
    assert NYNORSK_CANCEL in html


def test_first_supported_ui_locale_wins(app, rp):
    html = login_page(app.test_client(), ui_locales="fr-CA se en nn")
    assert page_language(html) == "en"


def test_switch_during_a_login_beats_ui_locales(app, rp):
    client = app.test_client()
    response = client.get("/authorize", query_string=authorize_params(ui_locales="nn"))
    login = response.location
    assert NYNORSK_CANCEL in client.get(login).get_data(as_text=True)
    switched = client.get("/language/en", query_string={"next": login})
    assert switched.location == login
    html = client.get(login).get_data(as_text=True)
    assert page_language(html) == "en"
    assert ENGLISH_CANCEL in html


def test_unknown_choice_and_hostile_tags_fall_back(app, rp):
    client = app.test_client()
    client.set_cookie("lang", "xx\u0000")
    html = login_page(client, ui_locales=" ".join(["zz"] * 40) + " nn")
    # Only the first few tags are read: a hostile list is not walked to its end.
    assert page_language(html) == "nb"
    assert BOKMAL_CANCEL in html


def test_unknown_language_switch_sets_nothing(app):
    client = app.test_client()
    response = client.get("/language/xx", query_string={"next": "/"})
    assert response.status_code == 302
    assert client.get_cookie("lang") is None


def test_discovery_lists_the_languages(app):
    document = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["ui_locales_supported"] == ["nb", "nn", "en"]


def _id_token_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _tokens(app, code: str, **extra: str) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    response = app.test_client().post("/token", data=form, headers=basic("rp1", "rp1-secret"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _userinfo(app, access_token: str) -> dict:
    return app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).get_json()


@pytest.mark.parametrize(("ui_locales", "expected"), [("nn", "nn"), ("en-GB", "en"), (None, "nb")])
def test_locale_claim_says_the_language_of_the_login(app, citizen, rp, ui_locales, expected):
    back = login_for_code(
        app.test_client(),
        pid=citizen.pid,
        password=PASSWORD,
        scope="openid profile offline_access",
        ui_locales=ui_locales,
        claims=json.dumps({"id_token": {"locale": None}}),
    )
    tokens = _tokens(app, back["code"])
    assert _id_token_claims(tokens["id_token"])["locale"] == expected
    assert _userinfo(app, tokens["access_token"])["locale"] == expected
    # A refreshed token carries the same login's language.
    refreshed = (
        app.test_client()
        .post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic("rp1", "rp1-secret"),
        )
        .get_json()
    )
    assert _userinfo(app, refreshed["access_token"])["locale"] == expected


def test_locale_claim_is_not_released_without_the_profile_scope(app, citizen, rp):
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD, scope="openid email", ui_locales="nn")
    tokens = _tokens(app, back["code"])
    assert "locale" not in _userinfo(app, tokens["access_token"])
    assert "locale" not in _id_token_claims(tokens["id_token"])


def test_discovery_lists_the_locale_claim(app):
    assert "locale" in app.test_client().get("/.well-known/openid-configuration").get_json()["claims_supported"]
