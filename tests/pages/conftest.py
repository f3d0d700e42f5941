"""The page tests' browser: Debian's Chromium with axe-core (from npm, pinned by package-lock.json) at hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser import chromium, require

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"


def _axe_source() -> Path:
    """axe-core from tests/pages/node_modules, installed from the lock file on first use."""
    if AXE.is_file():
        return AXE
    if shutil.which("npm") is None:
        require("npm", "needed to install axe-core for the page sweep")
    result = subprocess.run(
        ["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0 or not AXE.is_file():
        require("npm registry", result.stderr.strip()[-300:])
    return AXE


@pytest.fixture(scope="module")
def browser():
    """(the browser, axe-core's script): one Chromium for a test file."""
    axe = _axe_source()
    with chromium() as launched:
        yield launched, axe
