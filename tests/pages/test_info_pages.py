"""The pages about the service, the provider's branding on every page, and error pages in the page's language."""

from __future__ import annotations

import pytest

from idp.config import ConfigError
from tests.conftest import build_app, replace
from tests.flows import authorize_params

INFO_PAGES = ("/help", "/privacy", "/accessibility")


@pytest.mark.parametrize("path", INFO_PAGES)
@pytest.mark.parametrize("locale", ["nb", "nn", "en"])
def test_info_pages_in_every_language(app, path, locale):
    page = app.test_client().get(path, headers={"Accept-Language": locale})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<html lang="{locale}">' in html
    assert html.count("<h1>") == 1


def test_footer_links_every_info_page(app):
    html = app.test_client().get("/").get_data(as_text=True)
    for path in INFO_PAGES:
        assert f'href="{path}"' in html


@pytest.fixture
def branded(config, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    return replace(
        config,
        "branding",
        name="Statens innlogging",
        logo=str(logo),
        support_email="hjelp@innlogging.example",
        support_phone="+47 800 12 345",
        support_hours="08:00–15:30",
    )


def test_branding_and_support_from_config(branded):
    app = build_app(branded)
    with app.app_context():
        client = app.test_client()
        html = client.get("/", headers={"Accept-Language": "nn"}).get_data(as_text=True)
        assert "Statens innlogging" in html
        assert "Kontakt brukarstøtte" in html
        assert 'href="mailto:hjelp@innlogging.example"' in html
        assert 'href="tel:+4780012345"' in html
        assert "Ope kvardagar kl. 08:00–15:30" in html
        assert 'src="/branding/logo"' in html
        logo = client.get("/branding/logo")
        assert logo.status_code == 200
        assert logo.mimetype == "image/png"


def test_no_support_section_without_contact(app):
    html = app.test_client().get("/", headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "Kontakt brukerstøtte" not in html
    assert app.test_client().get("/branding/logo").status_code == 404


@pytest.mark.parametrize("logo", ["missing.svg", "logo.gif"])
def test_a_bad_logo_stops_the_start(config, tmp_path, logo):
    (tmp_path / "logo.gif").write_bytes(b"GIF89a")
    with pytest.raises(ConfigError, match="branding.logo"):
        build_app(replace(config, "branding", logo=str(tmp_path / logo)))


def test_service_name_and_steps_on_the_login_page(app, rp):
    client = app.test_client()
    login = client.get("/authorize", query_string=authorize_params(ui_locales="nn")).location
    html = client.get(login).get_data(as_text=True)
    assert "Du loggar inn på <strong>Testtjenesten</strong>" in html
    assert '<li aria-current="step">Fødselsnummer og passord</li>' in html


@pytest.mark.parametrize(
    ("locale", "meaning"),
    [
        ("nb", "Forespørselen fra tjenesten mangler noe eller har en feil."),
        ("nn", "Førespurnaden frå tenesta manglar noko eller har ein feil."),
        ("en", "The request from the service is incomplete or has an error in it."),
    ],
)
def test_protocol_error_page_in_the_page_language_with_the_code_apart(app, rp, locale, meaning):
    # An unregistered redirect_uri: the error cannot go back to the service, so it is shown.
    params = authorize_params(redirect_uri="https://evil.example/")
    page = app.test_client().get("/authorize", query_string=params, headers={"Accept-Language": locale})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert meaning in html
    code_line = html.split("<code>invalid_request</code>")[1].split("</p>")[0]
    # The developers' English description is shown on English pages only.
    assert ("redirect" in code_line.lower()) == (locale == "en")
