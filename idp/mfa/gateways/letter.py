"""Letter gateways: letters go by post to the citizen's registered address, never elsewhere.

``file`` writes each letter as a text file into an outbox folder; in
production a print-and-post service reads that folder.
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
    def send(self, *, citizen: Citizen, kind: str, body: str) -> Path | None: ...


class NoAddress(ValueError):
    """The citizen has no registered postal address to send a letter to."""


class FileLetterGateway:
    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, *, citizen: Citizen, kind: str, body: str) -> Path:
        address = citizen.address
        if not address or not address.get("street_address"):
            raise NoAddress("the citizen has no registered postal address")
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{now().strftime('%Y%m%dT%H%M%S')}-{kind}-{secrets.token_hex(4)}.txt"
        path = self.folder / name
        text = f"{citizen.name}\n{address['formatted']}\n\n{body}\n"
        # 0600: the letter holds codes until it is printed.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path


def make_letter_gateway(config: Config) -> LetterGateway:
    if config.letters.gateway == "file":
        return FileLetterGateway(config.path(config.letters.outbox))
    raise ConfigError(f"letters.gateway must be file, not {config.letters.gateway!r}")
