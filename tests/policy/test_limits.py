"""Per-account lockout arithmetic and per-IP windows, on the database store with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.config import LimitsConfig
from idp.extensions import db
from idp.policy.limits import Limits
from idp.store import DatabaseStore


class Clock:
    def __init__(self):
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self):
        return self.current


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def limits(app, clock):
    return Limits(
        LimitsConfig(free_failures=3, delay_step_seconds=60, max_delay_seconds=300, lock_after=10),
        DatabaseStore(db, clock=clock),
    )


def test_delays_grow_by_steps_up_to_the_cap_then_lock(limits, clock):
    waits = [limits.failure(1, clock()) for _ in range(10)]
    assert waits == [(0, False)] * 3 + [
        (60, False),
        (120, False),
        (180, False),
        (240, False),
        (300, False),
        (300, False),
        (0, True),
    ]
    assert limits.wait_seconds(1, clock()) == 300
    clock.current += timedelta(seconds=299)
    assert limits.wait_seconds(1, clock()) == 1
    clock.current += timedelta(seconds=1)
    assert limits.wait_seconds(1, clock()) == 0


def test_accounts_are_counted_apart_and_reset(limits, clock):
    for _ in range(4):
        limits.failure(1, clock())
    assert limits.wait_seconds(1, clock()) == 60
    assert limits.wait_seconds(2, clock()) == 0
    limits.reset(1)
    assert limits.wait_seconds(1, clock()) == 0
    assert limits.failure(1, clock()) == (0, False)


def test_failures_are_forgotten_after_the_reset_time(limits, clock):
    for _ in range(3):
        limits.failure(1, clock())
    clock.current += timedelta(seconds=limits.config.failure_reset_seconds + 1)
    assert limits.failure(1, clock()) == (0, False)


def test_ip_window(limits, clock):
    limits.config = LimitsConfig(ip_logins=2, window_seconds=60)
    assert limits.ip_allows("login", "10.0.0.1") and limits.ip_allows("login", "10.0.0.1")
    assert not limits.ip_allows("login", "10.0.0.1")
    assert limits.ip_allows("login", "10.0.0.2")
    assert limits.ip_allows("code", "10.0.0.1")  # codes are counted apart from logins
    clock.current += timedelta(seconds=61)
    assert limits.ip_allows("login", "10.0.0.1")
