"""Letter gateways: letters go by post to the citizen's registered address, never elsewhere.

``file`` writes each letter as a text file into an outbox folder; in
production a print-and-post service reads that folder. A letter may carry a
PDF (a notice laid out for print, address included): it goes beside the text
file, with the same name, and the print service prints it instead.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from idp.clock import now
from idp.config import Config, ConfigError
from idp.models import Citizen


class LetterGateway(Protocol):
    def send(self, *, citizen: Citizen, kind: str, body: str, pdf: bytes | None = None) -> Path | None: ...


class NoAddress(ValueError):
    """The citizen has no registered postal address to send a letter to."""


class FileLetterGateway:
    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, *, citizen: Citizen, kind: str, body: str, pdf: bytes | None = None) -> Path:
        """Write the letter; the path returned is the PDF's when there is one (what gets printed)."""
        address = citizen.address
        if not address or not address.get("street_address"):
            raise NoAddress("the citizen has no registered postal address")
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = self.folder / f"{now().strftime('%Y%m%dT%H%M%S')}-{kind}-{secrets.token_hex(4)}"
        text = f"{citizen.name}\n{address['formatted']}\n\n{body}\n"
        path = _write_private(stem.with_suffix(".txt"), text.encode())
        if pdf is not None:
            path = _write_private(stem.with_suffix(".pdf"), pdf)
        return path


def _write_private(path: Path, content: bytes) -> Path:
    # 0600: a letter holds codes or personal details until it is printed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return path


def make_letter_gateway(config: Config) -> LetterGateway:
    if config.letters.gateway == "file":
        return FileLetterGateway(config.path(config.letters.outbox))
    raise ConfigError(f"letters.gateway must be file, not {config.letters.gateway!r}")
