"""Debian's Chromium for the browser tests, driven by Playwright: never a browser Playwright downloads.

tests/setup-browser.sh installs it (``make test`` runs that first). Where it is missing a
browser test is skipped, or fails when CI asks for everything (``IDP_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

# Headless and quiet: no update checks, no sync, no first-run pages competing with the test.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require(what: str, message: str) -> NoReturn:
    """Skip the test for want of ``what``; fail it where CI requires every service."""
    if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what}: {message}")
    pytest.skip(f"{what}: {message}")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        require("Chromium", "not installed (tests/setup-browser.sh installs it)")
    return path


@contextmanager
def chromium() -> Iterator:
    """Debian's Chromium, launched by Playwright; closed when the block ends."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshots_folder() -> Path:
    """Where page tests keep their screenshots: ``IDP_SCREENSHOTS``, or a new temporary folder."""
    folder = Path(os.environ.get("IDP_SCREENSHOTS") or tempfile.mkdtemp(prefix="idp-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
