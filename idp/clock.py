"""Injectable time: the app reads the clock from here so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The current UTC time as the running app sees it."""
    return current_app.extensions["idp.clock"]()
