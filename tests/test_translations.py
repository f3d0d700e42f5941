"""Every citizen-facing text has a bokmål and a nynorsk translation, plural forms included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("locale", ["nb", "nn"])
def test_every_message_is_translated_to_norwegian(tmp_path, locale):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with template.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with (ROOT / f"idp/translations/{locale}/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and _complete(m.string) and not m.fuzzy}
    missing = sorted(str(m) for m in wanted - translated)
    assert not missing, f"untranslated in {locale}: {missing}"


def _complete(string: str | tuple[str, ...]) -> bool:
    """A message's translation, every plural form of it when it has them."""
    return all(string) if isinstance(string, tuple) else bool(string)
