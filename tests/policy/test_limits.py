"""The throttle's arithmetic, on each backend's store, with times the test chooses.

The limits decide on the ``now`` they are given, so a Redis store (whose expiry runs on the
wall clock) gives the same answers as the database one.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from idp.config import LimitsConfig
from idp.extensions import db
from idp.models.state import ShortLivedState
from idp.policy import limits as limits_module
from idp.policy.limits import Limits, network_of
from idp.store import RedisStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PID = "17859097263"  # any string: the limits never parse the number
OTHER_PID = "17859097344"
CITIZEN, STRANGER = "192.0.2.10", "198.51.100.66"
CONFIG = LimitsConfig(
    free_failures=3,
    account_free_failures=10,
    delay_step_seconds=60,
    max_delay_seconds=300,
    max_failures=30,
    failure_reset_seconds=24 * 3600,
    window_seconds=600,
    ip_failures=1000,
)


@pytest.fixture
def limits(app):
    return Limits(CONFIG, app.extensions["idp.store"], secret="test-secret")


def fail(limits, *, at, network=STRANGER, account=PID, device=None):
    """One attempt that fails; returns the wait it brings (the attempt must have been allowed)."""
    attempt = limits.begin(account=account, network=network, device=device, now=at)
    assert attempt.allowed, (attempt.scope, attempt.wait_seconds)
    return limits.failed(attempt, at)


def wait(limits, *, at, network=STRANGER, account=PID, device=None) -> tuple[int, str]:
    """How long the next attempt must wait and why; an allowed probe is released without counting."""
    attempt = limits.begin(account=account, network=network, device=device, now=at)
    limits.passed(attempt)
    return attempt.wait_seconds, attempt.scope


def test_waits_grow_by_steps_up_to_the_cap_and_never_lock(limits):
    at = T0
    waits = []
    for _ in range(20):
        failure = fail(limits, at=at)
        waits.append(failure.wait_seconds)
        at += timedelta(seconds=failure.wait_seconds)
    # Per account and network: three free failures (typos), then one more step each, up to the cap.
    assert waits[:9] == [0, 0, 0, 60, 120, 180, 240, 300, 300]
    assert set(waits[8:]) == {300}
    # A refused attempt is not counted: asking again and again does not make the wait longer.
    failure = fail(limits, at=at)
    assert (failure.wait_seconds, failure.scope) == (300, "account_network")
    for _ in range(5):
        assert wait(limits, at=at + timedelta(seconds=10)) == (290, "account_network")
    assert wait(limits, at=at + timedelta(seconds=300)) == (0, "")


def test_a_strangers_network_slows_only_itself_until_max_failures(limits):
    at = T0
    for _ in range(CONFIG.max_failures - 2):
        at += timedelta(seconds=fail(limits, at=at).wait_seconds)
    fail(limits, at=at)  # the 29th
    assert wait(limits, at=at) == (300, "account_network")
    # One network past its own free failures does not make the others wait.
    assert wait(limits, at=at, network=CITIZEN) == (0, "")
    # But every failure counts toward max_failures over all networks (NIST SP 800-63B 5.2.2).
    at += timedelta(seconds=300)
    last = fail(limits, at=at)
    assert [(t.scope, t.stage) for t in last.throttles] == [("account_network", "held"), ("account", "held")]
    assert wait(limits, at=at, network=CITIZEN)[1] == "account"
    assert wait(limits, at=at, network=CITIZEN, device="the-citizens-phone") == (0, "")


def test_the_account_over_all_networks_has_a_higher_threshold(limits):
    # A botnet: every failure from another address, so no network's own count grows.
    for n in range(10):
        assert fail(limits, at=T0, network=f"203.0.113.{n}").wait_seconds == 0
    eleventh = fail(limits, at=T0, network="203.0.113.10")
    assert (eleventh.wait_seconds, eleventh.scope) == (60, "account")
    assert [(t.scope, t.stage) for t in eleventh.throttles] == [("account", "delayed")]
    assert wait(limits, at=T0, network=CITIZEN) == (60, "account")  # a new network meets it too
    assert wait(limits, at=T0, network=CITIZEN, device="the-citizens-phone") == (0, "")  # a known device does not
    assert wait(limits, at=T0, network=CITIZEN, account=OTHER_PID) == (0, "")
    # Once many networks make the account wait, every failure makes it wait longer, even from a
    # network that is also slowed on its own.
    at = T0 + timedelta(seconds=60)
    for _ in range(4):
        failure = fail(limits, at=at, network=STRANGER)
        at += timedelta(seconds=failure.wait_seconds)
    assert (failure.wait_seconds, failure.scope) == (300, "account")  # the 15th weighed failure: 5 steps


def test_max_failures_holds_attempts_without_a_known_device_until_forgotten(limits):
    at = T0
    for n in range(CONFIG.max_failures - 1):
        at += timedelta(seconds=fail(limits, at=at, network=f"203.0.113.{n}").wait_seconds)
    last = fail(limits, at=at, network=STRANGER)
    # The thirtieth: held until a day after the first failure, whatever the network.
    held = int((T0 + timedelta(days=1) - at).total_seconds())
    assert (last.wait_seconds, last.scope) == (held, "account")
    assert [(t.scope, t.stage) for t in last.throttles] == [("account", "held")]
    assert wait(limits, at=at, network=CITIZEN) == (held, "account")
    assert wait(limits, at=at + timedelta(hours=3), network=CITIZEN) == (held - 3 * 3600, "account")
    assert wait(limits, at=at, network=CITIZEN, device="the-citizens-phone") == (0, "")
    assert wait(limits, at=T0 + timedelta(days=1), network=CITIZEN) == (0, "")


def test_a_device_has_its_own_count_and_limits(limits):
    for _ in range(3):
        fail(limits, at=T0, device="stolen-cookie")
    assert fail(limits, at=T0, device="stolen-cookie").wait_seconds == 60
    assert wait(limits, at=T0, device="stolen-cookie") == (60, "device")
    assert wait(limits, at=T0, device="another-device") == (0, "")
    assert wait(limits, at=T0) == (0, "")  # device failures do not count toward the account


def test_a_complete_login_forgets_the_account_here_but_not_the_strangers_network(limits):
    for n in range(12):  # three of the stranger's four weigh on the account: eleven in all
        fail(limits, at=T0, network=STRANGER if n < 4 else f"203.0.113.{n}")
    assert wait(limits, at=T0, network=CITIZEN) == (60, "account")
    at = T0
    limits.completed(account=PID, network=CITIZEN, device=None)
    assert wait(limits, at=at, network=CITIZEN) == (0, "")
    assert wait(limits, at=at, network=STRANGER)[1] == "account_network"
    limits.forget(PID)  # support's reset: the account's count only
    assert wait(limits, at=at, network=STRANGER)[1] == "account_network"


def test_concurrent_attempts_on_one_scope_wait_for_the_first(app, limits):
    first = limits.begin(account=PID, network=CITIZEN, device=None, now=T0)
    assert first.allowed
    # Another network, same account: the account's scope is being checked right now. The second
    # attempt waits for the first to be recorded (a double click is answered), then is checked.

    def record_first() -> None:
        with app.app_context():
            limits.failed(first, T0)

    releasing = threading.Timer(0.2, record_first)
    releasing.start()
    started = time.monotonic()
    racing = limits.begin(account=PID, network=STRANGER, device=None, now=T0)
    releasing.join()
    assert racing.allowed and time.monotonic() - started >= 0.15
    assert limits.begin(account=OTHER_PID, network=STRANGER, device=None, now=T0).allowed


def test_an_attempt_that_never_gets_its_turn_is_refused(limits, monkeypatch):
    monkeypatch.setattr(limits_module, "CLAIM_WAIT_SECONDS", 0.1)
    assert limits.begin(account=PID, network=CITIZEN, device=None, now=T0).allowed
    racing = limits.begin(account=PID, network=STRANGER, device=None, now=T0)
    assert not racing.allowed and racing.scope == limits_module.CONTENDED and racing.wait_seconds > 0


def test_a_network_is_held_after_its_failures_on_all_accounts(limits):
    limits.config = dataclasses.replace(CONFIG, ip_failures=3)
    at = T0 + timedelta(seconds=100)  # 500 s before the window ends
    fail(limits, at=at, account=PID)
    fail(limits, at=at, account=OTHER_PID)
    ok = limits.begin(account=PID, network=STRANGER, device=None, now=at)
    limits.passed(ok)  # a success does not count
    third = fail(limits, at=at, account=None)  # not even a valid number
    assert (third.wait_seconds, third.scope) == (500, "network")
    assert [(t.scope, t.stage) for t in third.throttles] == [("network", "held")]
    assert wait(limits, at=at, account="any") == (500, "network")
    assert wait(limits, at=at, network=CITIZEN) == (0, "")
    assert wait(limits, at=at, device="known") == (0, "")  # a known device is counted on its own
    assert wait(limits, at=T0 + timedelta(seconds=600)) == (0, "")  # the next window


def test_an_ipv6_subscriber_is_one_network():
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2:bbbb::7") == "2001:db8:1:2::/64"
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:192.0.2.10") == "192.0.2.10"
    assert network_of("fe80::1%eth0") == "fe80::/64"
    assert network_of(None) == network_of("not an address") == "unknown"


def test_codes_sent_per_network_window(limits):
    limits.config = dataclasses.replace(CONFIG, ip_codes_sent=2)
    assert limits.code_send_wait(account=PID, network=CITIZEN, now=T0) == (0, "")
    limits.code_sent(account=PID, network=CITIZEN, now=T0)
    # Asking counts nothing: only codes sent do.
    for _ in range(5):
        assert limits.code_send_wait(account=PID, network=CITIZEN, now=T0) == (0, "")
    limits.code_sent(account=PID, network=CITIZEN, now=T0 + timedelta(seconds=100))
    assert limits.code_send_wait(account=PID, network=CITIZEN, now=T0 + timedelta(seconds=100)) == (500, "network")
    assert limits.code_send_wait(account=OTHER_PID, network=CITIZEN, now=T0 + timedelta(seconds=100))[1] == "network"
    assert limits.code_send_wait(account=PID, network=STRANGER, now=T0) == (0, "")
    assert limits.code_send_wait(account=PID, network=CITIZEN, now=T0 + timedelta(seconds=600)) == (0, "")


def test_codes_sent_per_account_on_all_networks(limits):
    limits.config = dataclasses.replace(CONFIG, account_codes_sent=2)
    limits.code_sent(account=PID, network=CITIZEN, now=T0)
    limits.code_sent(account=PID, network=STRANGER, now=T0)
    assert limits.code_send_wait(account=PID, network="192.0.2.99", now=T0) == (600, "account")
    assert limits.code_send_wait(account=OTHER_PID, network=CITIZEN, now=T0) == (0, "")


def test_the_store_never_holds_the_number_or_the_address(app, limits):
    at = T0
    for _ in range(5):
        at += timedelta(seconds=fail(limits, at=at, network=CITIZEN).wait_seconds)
    limits.code_sent(account=PID, network=CITIZEN, now=at)
    store = app.extensions["idp.store"]
    if isinstance(store, RedisStore):
        client = store._client
        written = [(key.decode(), client.dump(key) or b"") for key in client.scan_iter(store._prefix + "limit_*")]
    else:
        rows = db.session.execute(sa.select(ShortLivedState.namespace, ShortLivedState.key, ShortLivedState.value))
        written = [(f"{ns}:{key}", repr(value).encode()) for ns, key, value in rows if ns.startswith("limit_")]
    assert len(written) >= 4
    for key, value in written:
        for secret in (PID, CITIZEN, PID[:6]):
            assert secret not in key and secret.encode() not in value
