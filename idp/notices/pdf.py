"""A notice laid out as an A4 letter (PDF) for a print-and-post service.

fpdf2 writes the PDF in pure Python. Its core font (Helvetica) needs no font
files; with the Windows-1252 encoding it covers Norwegian and English text
(æ, ø, å, dashes, bullets, quotes). A character outside it (a Sámi letter in a
name, say) is written without its accent rather than losing the letter.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from fpdf import FPDF

ENCODING = "windows-1252"


@dataclass(frozen=True)
class Notice:
    """One letter's words, already in the recipient's language."""

    recipient: str  # the name on the envelope
    address: str  # the postal address, lines separated by newlines
    dated: str  # the letter's date, formatted for its language
    title: str
    before: tuple[str, ...]  # paragraphs before the list
    ways: tuple[str, ...]  # the list: the ways forward
    after: tuple[str, ...]  # paragraphs after it
    closing: tuple[str, ...]  # the greeting and the sender, one line each

    def text(self) -> str:
        """The same letter as plain text (the outbox's .txt beside the PDF)."""
        ways = "\n".join(f"- {way}" for way in self.ways)
        return "\n\n".join([self.title, *self.before, ways, *self.after, "\n".join(self.closing)])


def printable(text: str) -> str:
    """``text`` in the core font's encoding: unencodable letters lose their accents (Č -> C), the rest becomes ?."""
    out = []
    for char in text:
        try:
            char.encode(ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode(ENCODING, "ignore").decode(ENCODING)
            out.append(base or "?")
    return "".join(out)


def render(notice: Notice) -> bytes:
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(25, 20, 25)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    # The address where a C5/DL window envelope shows it.
    pdf.set_xy(25, 45)
    pdf.multi_cell(85, 5.5, printable(f"{notice.recipient}\n{notice.address}"))
    pdf.set_xy(130, 45)
    pdf.cell(55, 5.5, printable(notice.dated), align="R")
    pdf.set_xy(25, 90)
    pdf.set_font("helvetica", style="B", size=14)
    pdf.multi_cell(0, 7, printable(notice.title))
    pdf.ln(3)
    pdf.set_font("helvetica", size=11)
    _paragraphs(pdf, notice.before)
    for way in notice.ways:
        pdf.set_x(30)
        pdf.cell(5, 5.5, "\u2022")
        pdf.multi_cell(0, 5.5, printable(way), align="L")
        pdf.ln(2)
    pdf.ln(1)
    _paragraphs(pdf, notice.after)
    pdf.multi_cell(0, 5.5, printable("\n".join(notice.closing)), align="L")
    return bytes(pdf.output())


def _paragraphs(pdf: FPDF, paragraphs: tuple[str, ...]) -> None:
    for paragraph in paragraphs:
        pdf.multi_cell(0, 5.5, printable(paragraph), align="L")
        pdf.ln(3)
