"""Throttling every check of a secret: per account and network, per known device, per network.

Every page or factor that checks a secret (password, one-time code, PIN code, activation
code; later device signatures and passkeys) asks before checking and reports after::

    attempt = limits.begin(account=pid, network=ip, device=nonce, now=now)
    if not attempt.allowed:        # refused: check nothing, show attempt.wait_seconds
        ...
    limits.failed(attempt, now)    # or limits.passed(attempt)
    limits.completed(account=pid, network=ip, device=nonce)   # once the whole login is done

What an attempt counts toward (the numbers, and why, are in config.toml ``[limits]``):

* without a known device: the account on this network (a stranger's failures slow down
  that stranger's network only); the account over all networks, whose waits begin only after
  failures from networks not yet slowed on their own (a higher threshold: what many networks,
  a botnet, meet) and whose every failure counts toward ``max_failures``; and the network
  over all accounts (password spraying);
* from a known device (a browser that completed a login on this account): that device
  alone, so strangers' failures never hold the citizen back there (OWASP's device cookies).

Failures never lock an account. Each one past a scope's free ones costs a growing wait,
capped; a scope that reaches ``max_failures`` (NIST SP 800-63B 5.2.2: at most 100
consecutive failures per account) refuses attempts until its failures are forgotten. The
permanent lock is support's decision, the citizen's ``locked`` status (``idp users lock``).

Accounts and networks are named by HMACs under the app's secret: a number nobody has is
throttled exactly like one somebody has, and the store never holds a national identity
number or an address. Decisions read the app's clock; the store's expiry only cleans up.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from idp.config import LimitsConfig
from idp.store import Store

SCOPES = "limit_scope"  # a scope's failures: {"failures", "weighed", "since" (the first), "until" (no attempt before)}
CLAIMS = "limit_claim"  # the one attempt of a scope being checked right now
NETWORK_FAILURES = "limit_network"  # a network's failures on all accounts, per window
NETWORK_HOLDS = "limit_network_hold"  # a network over its window's limit: {"until"}
CODES_SENT = "limit_codes_sent"  # one-time codes sent per account and per network, per window
CODE_HOLDS = "limit_codes_hold"  # an account or network that sent its window's codes: {"until"}
ORDERS = "limit_orders"  # orders of an account or a letter without logging in, per network and per account

# Longer than any check of a secret takes (an Argon2 verification under load): a claim that
# a failed request left behind frees its scope after this.
CLAIM_SECONDS = 10  # a claim left by a request that died frees itself after this
CLAIM_WAIT_SECONDS = 2.0  # how long a concurrent attempt on the same scope waits for its turn
CLAIM_POLL_SECONDS = 0.025
CONTENDED = "contended"  # Attempt.scope of one refused because another is being checked


@dataclass(frozen=True)
class Scope:
    kind: str  # "account_network", "account", "device"
    key: str
    free: int  # failures that cost no wait


@dataclass(frozen=True)
class Throttle:
    """A scope that a failure has just made wait: audited, and counted in idp_lockouts_total."""

    scope: str  # "account_network", "account", "device" or "network"
    stage: str  # "delayed": its waits begin; "held": refused until its failures are forgotten
    failures: int
    seconds: int


@dataclass
class Attempt:
    """One check of a secret, from :meth:`Limits.begin` to :meth:`Limits.failed` or :meth:`Limits.passed`."""

    wait_seconds: int = 0  # over 0: refused, and nothing was counted
    scope: str = ""  # the scope that refused it (or, after a failure, that makes the next one wait)
    claimed: list[tuple[Scope, dict]] = field(default_factory=list)
    network: str | None = None  # counted toward the network's limit (attempts without a known device)

    @property
    def allowed(self) -> bool:
        return not self.wait_seconds


@dataclass(frozen=True)
class Failure:
    """What a failure brought: the wait before the next attempt (and whose it is), and throttles begun."""

    wait_seconds: int
    scope: str
    throttles: list[Throttle]


def network_of(ip: str | None) -> str:
    """The network an address stands for: itself for IPv4, its /64 for IPv6 (one subscriber's prefix)."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _seconds(left: timedelta) -> int:
    """Whole seconds still to wait, rounded up so a wait never reads 0 while it lasts."""
    return max(0, math.ceil(left.total_seconds()))


class Limits:
    def __init__(self, config: LimitsConfig, store: Store, *, secret: str):
        self.config = config
        self.store = store
        self._secret = secret.encode()

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def account_key(self, pid: str) -> str:
        """The name an account has in the limits' store and in its device cookies (never the number)."""
        return self._digest("account", pid)

    def _scopes(self, account: str | None, network: str, device: str | None) -> list[Scope]:
        if device is not None:
            return [Scope("device", self._digest("device", device), self.config.free_failures)]
        if account is None:
            return []
        key = self.account_key(account)
        return [
            Scope("account_network", self._digest("account_network", f"{key}:{network}"), self.config.free_failures),
            Scope("account", key, self.config.account_free_failures),
        ]

    # ------------------------------------------------------------ check before, record after
    def begin(self, *, account: str | None, network: str | None, device: str | None, now: datetime) -> Attempt:
        """Check-before: may a secret be checked now, and if not, how long until it may?

        ``account`` is the national identity number typed (None when it is no valid number),
        ``network`` the client's address, ``device`` the nonce of a known-device cookie the
        caller found valid for this account. A refused attempt counts toward nothing. An
        allowed one holds its scopes until :meth:`failed` or :meth:`passed`: a concurrent
        attempt on them waits up to ``CLAIM_WAIT_SECONDS`` for its turn (a password check takes
        a fraction of that), then is refused, so parallel guesses cannot slip past the waits
        and a citizen's double click is answered, not turned away.
        """
        give_up = time.monotonic() + CLAIM_WAIT_SECONDS
        while True:
            attempt = self._begin(account=account, network=network, device=device, now=now)
            if attempt.scope != CONTENDED or time.monotonic() >= give_up:
                return attempt
            time.sleep(CLAIM_POLL_SECONDS)

    def _begin(self, *, account: str | None, network: str | None, device: str | None, now: datetime) -> Attempt:
        net = self._digest("network", network_of(network))
        scopes = self._scopes(account, net, device)
        if device is None and (wait := self._network_wait(net, now)):
            return Attempt(wait_seconds=wait, scope="network")
        states = [self._state(scope, now) for scope in scopes]
        for scope, state in zip(scopes, states, strict=True):
            if wait := self._wait(state, now):
                return Attempt(wait_seconds=wait, scope=scope.kind)
        attempt = Attempt(network=None if device is not None else net)
        for scope, state in zip(scopes, states, strict=True):
            if not self.store.add(CLAIMS, scope.key, {}, ttl=CLAIM_SECONDS):
                self.passed(attempt)
                return Attempt(wait_seconds=1, scope=CONTENDED)
            attempt.claimed.append((scope, state))
        return attempt

    def failed(self, attempt: Attempt, now: datetime) -> Failure:
        """Record-after: the secret was wrong. Counts it in each scope and on the network."""
        config = self.config
        reset = timedelta(seconds=config.failure_reset_seconds)
        throttles: list[Throttle] = []
        wait, waiting = 0, ""
        slowed_on_its_own = False  # this network already waits on this account because of its own failures
        for scope, state in attempt.claimed:
            failures = state.get("failures", 0) + 1
            # Over all networks, failures from networks already slowed by their own count do not make
            # every network wait, unless many networks already do: one stranger's network slows only
            # itself, many networks slow the account. Every failure counts toward max_failures.
            weighed = state.get("weighed", 0)
            if not (scope.kind == "account" and slowed_on_its_own and weighed <= scope.free):
                weighed += 1
            if scope.kind == "account_network":
                slowed_on_its_own = failures > scope.free
            since = datetime.fromisoformat(state["since"]) if state else now
            delay = self._delay(weighed, scope.free)
            left = _seconds(since + reset - now)
            until = now + timedelta(seconds=delay)
            value = {"failures": failures, "weighed": weighed, "since": since.isoformat(), "until": until.isoformat()}
            self.store.put(SCOPES, scope.key, value, ttl=max(1, left))
            self.store.delete(CLAIMS, scope.key)
            if weighed == scope.free + 1 and weighed > state.get("weighed", 0):
                throttles.append(Throttle(scope.kind, "delayed", failures, delay))
            if failures == config.max_failures:
                throttles.append(Throttle(scope.kind, "held", failures, left))
            scope_wait = left if failures >= config.max_failures else delay
            if scope_wait > wait:
                wait, waiting = scope_wait, scope.kind
        attempt.claimed = []
        if attempt.network is not None:
            held, began = self._network_failure(attempt.network, now)
            if began:
                throttles.append(Throttle("network", "held", self.config.ip_failures, held))
            if held > wait:
                wait, waiting = held, "network"
        return Failure(wait_seconds=wait, scope=waiting, throttles=throttles)

    def passed(self, attempt: Attempt) -> None:
        """Record-after: the secret was right (or nothing was decided). The counts stand until the login completes."""
        for scope, _state in attempt.claimed:
            self.store.delete(CLAIMS, scope.key)
        attempt.claimed = []

    def completed(self, *, account: str, network: str | None, device: str | None) -> None:
        """A complete login: the account's failures over all networks, on this network and on this device are forgotten.

        Other networks' counts stand: a stranger's network stays as slow as it made itself.
        """
        net = self._digest("network", network_of(network))
        for scope in self._scopes(account, net, None) + (self._scopes(account, net, device) if device else []):
            self.store.delete(SCOPES, scope.key)

    def forget(self, account: str) -> None:
        """Support's reset: the account's failures over all networks are forgotten (each network's stand)."""
        self.store.delete(SCOPES, self.account_key(account))

    # ------------------------------------------------------------ scopes
    def _state(self, scope: Scope, now: datetime) -> dict:
        state = self.store.get(SCOPES, scope.key)
        if state is None:
            return {}
        if now >= datetime.fromisoformat(state["since"]) + timedelta(seconds=self.config.failure_reset_seconds):
            return {}  # forgotten: the store's expiry runs on its own clock, the decision on the app's
        return state

    def _wait(self, state: dict, now: datetime) -> int:
        if not state:
            return 0
        if state["failures"] >= self.config.max_failures:
            forgotten = datetime.fromisoformat(state["since"]) + timedelta(seconds=self.config.failure_reset_seconds)
            return _seconds(forgotten - now)
        return _seconds(datetime.fromisoformat(state["until"]) - now)

    def _delay(self, failures: int, free: int) -> int:
        # Keycloak's scheme: each failure past the free ones adds one step, up to the cap.
        if failures <= free:
            return 0
        return min(self.config.delay_step_seconds * (failures - free), self.config.max_delay_seconds)

    # ------------------------------------------------------------ networks
    def _window(self, now: datetime) -> tuple[int, datetime]:
        """This window's number and its end, on the app's clock."""
        size = self.config.window_seconds
        index = int(now.timestamp()) // size
        return index, datetime.fromtimestamp((index + 1) * size, UTC)

    def _network_wait(self, net: str, now: datetime) -> int:
        hold = self.store.get(NETWORK_HOLDS, net)
        return _seconds(datetime.fromisoformat(hold["until"]) - now) if hold else 0

    def _network_failure(self, net: str, now: datetime) -> tuple[int, bool]:
        """Count a failure from this network: (seconds it is now held, whether this failure began the hold)."""
        index, end = self._window(now)
        count = self.store.incr(NETWORK_FAILURES, f"{net}:{index}", ttl=self.config.window_seconds)
        if count < self.config.ip_failures:
            return 0, False
        seconds = max(1, _seconds(end - now))
        self.store.put(NETWORK_HOLDS, net, {"until": end.isoformat()}, ttl=seconds)
        # Only the failure that reached the limit begins the hold; ones in flight beside it renew it.
        return seconds, count == self.config.ip_failures

    # ------------------------------------------------------------ one-time codes sent
    def _code_scopes(self, account: str, network: str | None) -> list[tuple[str, str, int]]:
        return [
            ("account", "account:" + self.account_key(account), self.config.account_codes_sent),
            ("network", "network:" + self._digest("network", network_of(network)), self.config.ip_codes_sent),
        ]

    def code_send_wait(self, *, account: str, network: str | None, now: datetime) -> tuple[int, str]:
        """Seconds before a code may be sent for ``account`` to a request from ``network`` (0: now), and whose limit.

        Asking counts nothing: only codes really sent count (:meth:`code_sent`), so a citizen
        pressing "send a new code" too early, or a refused click, does not use up the limit.
        """
        for kind, key, _limit in self._code_scopes(account, network):
            hold = self.store.get(CODE_HOLDS, key)
            if hold and (left := _seconds(datetime.fromisoformat(hold["until"]) - now)):
                return left, kind
        return 0, ""

    def code_sent(self, *, account: str, network: str | None, now: datetime) -> None:
        """Count a code sent, per account and per network; one that reaches its limit waits out its window.

        Two sends racing past :meth:`code_send_wait` both count: the limit is passed by at most
        the requests in flight, and the factor's own resend throttle bounds those per login.
        """
        index, end = self._window(now)
        for _kind, key, limit in self._code_scopes(account, network):
            count = self.store.incr(CODES_SENT, f"{key}:{index}", ttl=self.config.window_seconds)
            if count >= limit:
                self.store.put(CODE_HOLDS, key, {"until": end.isoformat()}, ttl=max(1, _seconds(end - now)))

    def may_order(self, *, account: str, ip: str | None, now: datetime) -> bool:
        """Count one order (an account, a letter) for this number from this network; False once over either limit.

        Counted before anything is known about the number, so a number with an account and one
        without meet the same limits.
        """
        index, _end = self._window(now)
        net = self._digest("network", network_of(ip))
        if self.store.incr(ORDERS, f"{net}:{index}", ttl=self.config.window_seconds) > self.config.ip_orders:
            return False
        period = self.config.account_orders_seconds
        key = f"{self.account_key(account)}:{int(now.timestamp()) // period}"
        return self.store.incr(ORDERS, key, ttl=period) <= self.config.account_orders
