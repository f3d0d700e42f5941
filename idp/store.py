"""Short-lived state with expiry: login transactions, one-time codes and their
attempt counters, rate-limit and lockout counters, pushed authorization request URIs.

One interface (:class:`Store`), two backends:

* :class:`RedisStore` -- preferred when several workers or hosts share state; expiry
  is Redis's own TTL.
* :class:`DatabaseStore` -- no extra service; rows in ``short_lived_state`` on
  PostgreSQL or SQLite. Expired rows are invisible to every read and are deleted by
  :meth:`DatabaseStore.purge_expired`, which runs automatically after every
  ``purge_every`` writes of a store instance and can also be called from a CLI/cron.

Values are JSON-serialisable dicts. Every method raises :class:`StoreUnavailable`
when the backend cannot be reached, except :meth:`Store.ping`, which reports it as
``False`` so readiness probes need no exception handling.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import case, delete, func, literal, null, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from idp.models.state import ShortLivedState

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class StoreUnavailable(RuntimeError):
    """The state backend cannot be reached; pages should say "try again later"."""


class Store(Protocol):
    def put(self, namespace: str, key: str, value: dict, *, ttl: int) -> None:
        """Set or overwrite ``value``, expiring after ``ttl`` seconds."""

    def add(self, namespace: str, key: str, value: dict, *, ttl: int) -> bool:
        """Set ``value`` only if the key is absent or expired; True if it was stored."""

    def get(self, namespace: str, key: str) -> dict | None:
        """The value, or None if missing or expired."""

    def take(self, namespace: str, key: str) -> dict | None:
        """Atomically get and delete: at most one concurrent caller gets the value."""

    def delete(self, namespace: str, key: str) -> None:
        """Remove the key if present."""

    def incr(self, namespace: str, key: str, *, ttl: int) -> int:
        """Atomically add 1 and return the new value.

        ``ttl`` applies only when the counter is created, giving a fixed window:
        later increments do not extend it, and after expiry counting restarts at 1.
        """

    def ttl(self, namespace: str, key: str) -> int | None:
        """Seconds until expiry, or None if missing."""

    def ping(self) -> bool:
        """True if the backend is reachable."""

    def deferred(self) -> AbstractContextManager[None]:
        """Within the block, writes wait for the caller's ``db.session.commit()``.

        A request that writes several entries and rows then commits once, and its
        writes stand or fall together. Only the database backend has anything to
        defer: Redis applies each write at once, as always.
        """


def _check_ttl(ttl: int) -> None:
    # Redis rejects non-positive expiries while the database would silently store
    # an already-expired row; refusing in both keeps the backends interchangeable.
    if ttl < 1:
        raise ValueError(f"ttl must be at least 1 second, got {ttl}")


_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@contextmanager
def _redis_unavailable() -> Iterator[None]:
    try:
        yield
    except _REDIS_DOWN as exc:
        raise StoreUnavailable(f"state store (Redis) unavailable: {exc}") from exc


class RedisStore:
    """Store on Redis; keys are ``prefix + namespace + ":" + key``."""

    def __init__(self, client: redis.Redis, *, prefix: str = "idp:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "idp:", timeout: float = 1.0) -> RedisStore:
        client = redis.Redis.from_url(
            url,
            # Short timeouts so an outage becomes an error page, not a hung worker.
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry replaces a pooled connection the server dropped;
            # the library default (several retries with backoff) only delays the error.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, prefix=prefix)

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}{namespace}:{key}"

    def put(self, namespace: str, key: str, value: dict, *, ttl: int) -> None:
        _check_ttl(ttl)
        with _redis_unavailable():
            self._client.set(self._key(namespace, key), json.dumps(value), ex=ttl)

    def add(self, namespace: str, key: str, value: dict, *, ttl: int) -> bool:
        _check_ttl(ttl)
        with _redis_unavailable():
            return bool(self._client.set(self._key(namespace, key), json.dumps(value), ex=ttl, nx=True))

    def get(self, namespace: str, key: str) -> dict | None:
        with _redis_unavailable():
            raw = self._client.get(self._key(namespace, key))
        return None if raw is None else json.loads(raw)

    def take(self, namespace: str, key: str) -> dict | None:
        with _redis_unavailable():
            raw = self._client.getdel(self._key(namespace, key))
        return None if raw is None else json.loads(raw)

    def delete(self, namespace: str, key: str) -> None:
        with _redis_unavailable():
            self._client.delete(self._key(namespace, key))

    def incr(self, namespace: str, key: str, *, ttl: int) -> int:
        _check_ttl(ttl)
        full_key = self._key(namespace, key)
        with _redis_unavailable():
            # MULTI makes INCR+EXPIRE atomic, so a counter can never be left without
            # an expiry; NX keeps the window fixed instead of sliding on every hit.
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(full_key)
            pipe.expire(full_key, ttl, nx=True)
            count, _ = pipe.execute()
        return int(count)

    def ttl(self, namespace: str, key: str) -> int | None:
        with _redis_unavailable():
            remaining = self._client.ttl(self._key(namespace, key))
        # -2 means missing; -1 (no expiry) cannot arise from this class's writes.
        return remaining if remaining >= 0 else None

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except _REDIS_DOWN:
            return False

    def deferred(self) -> AbstractContextManager[None]:
        return nullcontext()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    # SQLite has no time zone type and returns naive datetimes, written as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_state = ShortLivedState.__table__


class DatabaseStore:
    """Store on the application database (PostgreSQL or SQLite).

    Each method runs on ``db.session`` (so it must be called inside an app
    context). Sharing the request's session is deliberate: on SQLite a second
    connection would wait on the session's own write lock. Reads join the
    caller's transaction; each write commits it, so a store write also commits
    whatever the caller has pending in ``db.session`` -- except inside
    :meth:`deferred`, where the caller commits. A failure rolls the caller's
    transaction back.

    ``clock`` is the only source of "now" (the database's clock is never used),
    so tests can expire entries without sleeping. ``purge_every`` (0 disables)
    sets how many writes of this instance trigger one :meth:`purge_expired`.
    """

    def __init__(self, db: SQLAlchemy, *, clock: Clock = _utcnow, purge_every: int = 1000) -> None:
        self._db = db
        self._clock = clock
        self._purge_every = purge_every
        self._writes = itertools.count(1)
        # Per thread or task: one request's deferred block says nothing about another's.
        self._deferred: ContextVar[bool] = ContextVar(f"store-deferred-{id(self)}", default=False)

    def _now(self) -> datetime:
        # SQLite stores datetimes as zone-less text, so comparisons only hold if
        # every value is in the same zone.
        return self._clock().astimezone(UTC)

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        dialect = self._db.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(_state)
        if dialect == "sqlite":
            return sqlite.insert(_state)
        raise NotImplementedError(f"DatabaseStore supports PostgreSQL and SQLite, not {dialect}")

    @contextmanager
    def deferred(self) -> Iterator[None]:
        token = self._deferred.set(True)
        try:
            yield
        finally:
            self._deferred.reset(token)

    @contextmanager
    def _transaction(self, *, commit: bool = True) -> Iterator[Session]:
        session = self._db.session
        try:
            yield session
            # A read has nothing of its own to commit (ending the transaction would only cost a
            # round trip); inside deferred() the caller commits the writes with its own work.
            if commit and not self._deferred.get():
                session.commit()
        except OperationalError as exc:
            session.rollback()
            raise StoreUnavailable(f"state store (database) unavailable: {exc.orig}") from exc
        except BaseException:
            session.rollback()
            raise

    def _after_write(self) -> None:
        if self._purge_every and next(self._writes) % self._purge_every == 0:
            try:
                self.purge_expired()
            except StoreUnavailable:
                # The caller's write already committed; housekeeping can wait
                # for the next round.
                log.warning("purging expired short-lived state failed", exc_info=True)

    def _live(self, namespace: str, key: str, now: datetime) -> list[ColumnElement[bool]]:
        return [
            _state.c.namespace == namespace,
            _state.c.key == key,
            _state.c.expires_at > now,
        ]

    def _upsert(self, namespace: str, key: str, value: dict, *, ttl: int, only_over=None):
        """INSERT ... ON CONFLICT DO UPDATE of a value row; ``only_over`` limits which rows it may replace."""
        _check_ttl(ttl)
        expires_at = self._now() + timedelta(seconds=ttl)
        stmt = self._insert().values(namespace=namespace, key=key, value=value, counter=None, expires_at=expires_at)
        # The values again rather than ``stmt.excluded``: that alias costs more to build than the statement.
        return stmt.on_conflict_do_update(
            index_elements=[_state.c.namespace, _state.c.key],
            set_={"value": value, "counter": None, "expires_at": expires_at},
            where=only_over,
        )

    def put(self, namespace: str, key: str, value: dict, *, ttl: int) -> None:
        stmt = self._upsert(namespace, key, value, ttl=ttl)
        with self._transaction() as session:
            session.execute(stmt)
        self._after_write()

    def add(self, namespace: str, key: str, value: dict, *, ttl: int) -> bool:
        # An expired row still occupies the primary key, so "absent" must include
        # "expired": the conflict branch overwrites only such rows. RETURNING yields
        # a row exactly when something was written.
        stmt = self._upsert(namespace, key, value, ttl=ttl, only_over=_state.c.expires_at <= self._now()).returning(
            _state.c.key
        )
        with self._transaction() as session:
            stored = session.execute(stmt).first() is not None
        self._after_write()
        return stored

    def get(self, namespace: str, key: str) -> dict | None:
        stmt = select(_state.c.value).where(*self._live(namespace, key, self._now()))
        with self._transaction(commit=False) as session:
            return session.execute(stmt).scalar_one_or_none()

    def take(self, namespace: str, key: str) -> dict | None:
        # A single DELETE ... RETURNING: the row lock (PostgreSQL) or the database
        # write lock (SQLite) lets only one concurrent caller see the row.
        stmt = delete(_state).where(*self._live(namespace, key, self._now())).returning(_state.c.value)
        with self._transaction() as session:
            return session.execute(stmt).scalar_one_or_none()

    def delete(self, namespace: str, key: str) -> None:
        stmt = delete(_state).where(_state.c.namespace == namespace, _state.c.key == key)
        with self._transaction() as session:
            session.execute(stmt)

    def incr(self, namespace: str, key: str, *, ttl: int) -> int:
        _check_ttl(ttl)
        now = self._now()
        expires_at = now + timedelta(seconds=ttl)
        stmt = self._insert().values(namespace=namespace, key=key, value=None, counter=1, expires_at=expires_at)
        # One upsert keeps read-modify-write atomic; an expired row counts as new,
        # which is what starts the next fixed window.
        expired = _state.c.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[_state.c.namespace, _state.c.key],
            set_={
                "counter": case((expired, 1), else_=func.coalesce(_state.c.counter, 0) + 1),
                "expires_at": case((expired, literal(expires_at, _state.c.expires_at.type)), else_=_state.c.expires_at),
                "value": case((expired, null()), else_=_state.c.value),
            },
        ).returning(_state.c.counter)
        with self._transaction() as session:
            count = session.execute(stmt).scalar_one()
        self._after_write()
        return count

    def ttl(self, namespace: str, key: str) -> int | None:
        now = self._now()
        stmt = select(_state.c.expires_at).where(*self._live(namespace, key, now))
        with self._transaction(commit=False) as session:
            expires_at = session.execute(stmt).scalar_one_or_none()
        if expires_at is None:
            return None
        # Round up so a fresh ttl=60 entry reports 60 as on Redis, not 59, and a
        # live entry never reports 0.
        return math.ceil((_as_utc(expires_at) - now).total_seconds())

    def ping(self) -> bool:
        try:
            with self._transaction() as session:
                session.execute(text("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    def purge_expired(self) -> int:
        """Delete expired rows and return how many; safe to run at any time."""
        stmt = delete(_state).where(_state.c.expires_at <= self._now())
        with self._transaction() as session:
            return session.execute(stmt).rowcount


def make_store(*, redis_url: str | None, db: SQLAlchemy, redis_prefix: str = "idp:", clock: Clock = _utcnow) -> Store:
    """Redis when a URL is configured, otherwise the application database (expiring by ``clock``)."""
    if redis_url:
        return RedisStore.from_url(redis_url, prefix=redis_prefix)
    return DatabaseStore(db, clock=clock)
