"""Attempt limits: per-account lockout with growing delays, per-IP rate limits.

Counters live in the short-lived store so every worker sees them; waits are
kept as an absolute time read against the app's clock. The permanent lock is
the citizen's ``locked`` status, which survives the store and is lifted only
by ``idp users unlock``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from idp.config import LimitsConfig
from idp.store import Store

FAILURES = "auth_failures"
WAIT = "auth_wait"
IP = "ip_limit"


class Limits:
    def __init__(self, config: LimitsConfig, store: Store):
        self.config = config
        self.store = store

    def wait_seconds(self, citizen_id: int, now: datetime) -> int:
        """Seconds the citizen must wait before the next attempt (0: may try now)."""
        entry = self.store.get(WAIT, str(citizen_id))
        if not entry:
            return 0
        left = datetime.fromisoformat(entry["until"]) - now
        return max(0, int(left.total_seconds() + 0.999))

    def failure(self, citizen_id: int, now: datetime) -> tuple[int, bool]:
        """Count one failed attempt; returns (seconds to wait now, whether the account must be locked)."""
        config = self.config
        count = self.store.incr(FAILURES, str(citizen_id), ttl=config.failure_reset_seconds)
        if count >= config.lock_after:
            return 0, True
        if count <= config.free_failures:
            return 0, False
        # Keycloak's scheme: each failure past the free ones adds one step, up to the cap.
        wait = min(config.delay_step_seconds * (count - config.free_failures), config.max_delay_seconds)
        until = now + timedelta(seconds=wait)
        self.store.put(WAIT, str(citizen_id), {"until": until.isoformat()}, ttl=wait)
        return wait, False

    def reset(self, citizen_id: int) -> None:
        """A success (or an unlock) forgets the failures: the count is of consecutive ones."""
        self.store.delete(FAILURES, str(citizen_id))
        self.store.delete(WAIT, str(citizen_id))

    def ip_allows(self, kind: str, ip: str | None) -> bool:
        """Count one event of ``kind`` ("login", "code") from this IP; False once over the window's limit."""
        limit = {"login": self.config.ip_logins, "code": self.config.ip_codes_sent}[kind]
        count = self.store.incr(IP, f"{kind}:{ip or 'unknown'}", ttl=self.config.window_seconds)
        return count <= limit
