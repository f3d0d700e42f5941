"""The phase-out letter as printed: a PDF page rendered to an image, its text read back, in nb and en."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pypdfium2 as pdfium
import pytest

from idp.notices.pdf import printable, render
from idp.notices.phase_out import CITIZEN, Letter, compose
from tests.conftest import FakeClock, add_citizen, make_config

PHASE_OUT = {"IDP_PIN_ENROL_UNTIL": "2022-10-01", "IDP_PIN_ACCEPT_UNTIL": "2023-01-01"}
SCALE = 2  # pixels per PDF point


@pytest.fixture
def config(tmp_path):
    return make_config(
        tmp_path, **PHASE_OUT, IDP_BRANDING_SUPPORT_EMAIL="hjelp@id.example", IDP_BRANDING_SUPPORT_PHONE="22 00 00 00"
    )


@pytest.fixture
def clock():
    return FakeClock(datetime(2022, 11, 15, 12, 0, tzinfo=UTC))


def printed(app, locale: str, given_name: str = "Kari") -> tuple[pdfium.PdfDocument, str]:
    citizen = add_citizen(app, born=date(1950, 2, 3), given_name=given_name)
    config = app.config["IDP"]
    notice = compose(
        Letter(citizen, citizen, CITIZEN),
        locale=locale,
        rule=app.extensions["idp.policy"].rules["pin"],
        ways=["sms", "totp"],
        config=config,
        today=date(2022, 11, 15),
    )
    document = pdfium.PdfDocument(render(notice))
    return document, document[0].get_textpage().get_text_range()


def test_the_page_renders_and_its_text_reads_back_in_english(app):
    document, text = printed(app, "en")
    assert len(document) == 1
    page = document[0]
    assert (round(page.get_width()), round(page.get_height())) == (595, 842)  # A4 in points
    for words in (
        "Kari Nordmann",
        "You need a new way to log in",
        "up to and including December 31, 2022",
        "No new ones are issued from October 1, 2022 on.",
        "hjelp@id.example",
    ):
        assert words in " ".join(text.split())

    # The title's ink is where its text says it is: the image shows what the text layer claims.
    image = page.render(scale=SCALE, grayscale=True).to_pil()
    textpage = page.get_textpage()
    left, bottom, right, top = textpage.get_charbox(text.index("You need"))
    height = page.get_height()
    glyph = image.crop(
        (int(left * SCALE), int((height - top) * SCALE), int(right * SCALE) + 1, int((height - bottom) * SCALE) + 1)
    )
    assert glyph.getextrema()[0] < 100
    margin = image.crop((0, 0, int(20 * SCALE), image.height))  # the left margin holds no ink
    assert margin.getextrema()[0] > 250
    document.close()


def test_bokmal_letters_keep_their_letters(app):
    document, text = printed(app, "nb", given_name="Åse Ærlig-Øvrebø")
    flat = " ".join(text.split())
    assert "Åse Ærlig-Øvrebø Nordmann" in flat
    assert "til og med 31. desember 2022" in flat
    assert "«Sett opp kode på SMS»" in flat
    document.close()


def test_a_name_outside_the_core_font_loses_accents_not_letters(app):
    assert printable("Áile Čoahkki – «ŋ»") == "Áile Coahkki – «?»"
    document, text = printed(app, "nb", given_name="Áile Čoahkki")
    assert "Áile Coahkki Nordmann" in text
    document.close()
