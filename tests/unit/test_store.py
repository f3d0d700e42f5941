"""One behavioural suite for every Store backend: SQLite file, PostgreSQL, Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models.state import ShortLivedState
from idp.store import DatabaseStore, RedisStore, Store, StoreUnavailable, make_store
from tests.services import postgres_schema, redis_client, redis_prefix

NS = "test"
THREADS = 10


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    store: Store
    app: Flask
    # Makes `seconds` pass as far as the store is concerned: a fake clock for the
    # database, a real sleep for Redis, whose TTLs run on the server's clock.
    advance: Callable[[float], None]


def _database_app(config: dict[str, Any]) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    db.init_app(app)
    with app.app_context():
        db.create_all()
    return app


@contextmanager
def _database_harness(config: dict[str, Any]) -> Iterator[Harness]:
    app = _database_app(config)
    clock = FakeClock()
    try:
        yield Harness(DatabaseStore(db, clock=clock), app, clock.advance)
    finally:
        with app.app_context():
            db.session.remove()
            # Idle pooled connections would make the schema drop wait.
            db.engine.dispose()


@contextmanager
def _sqlite_harness(tmp_path: Path) -> Iterator[Harness]:
    # A file, not :memory:, so each thread's connection sees the same database.
    with _database_harness({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'store.db'}"}) as harness:
        yield harness


@contextmanager
def _postgres_harness(tmp_path: Path) -> Iterator[Harness]:
    with (
        postgres_schema() as schema,
        _database_harness(schema.flask_config()) as harness,
    ):
        yield harness


@contextmanager
def _redis_harness(tmp_path: Path) -> Iterator[Harness]:
    client = redis_client()
    try:
        with redis_prefix(client) as prefix:
            yield Harness(RedisStore(client, prefix=prefix), Flask(__name__), time.sleep)
    finally:
        client.close()


HARNESSES = {
    "sqlite": _sqlite_harness,
    "postgresql": _postgres_harness,
    "redis": _redis_harness,
}


@pytest.fixture(params=list(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as built, built.app.app_context():
        yield built


@pytest.fixture
def store(harness: Harness) -> Store:
    return harness.store


def _in_parallel(harness: Harness, action: Callable[[], Any], copies: int = THREADS) -> list[Any]:
    """Run `action` in `copies` threads released together, each with its own app context
    (and so its own database session and connection)."""
    barrier = threading.Barrier(copies, timeout=10)

    def run() -> Any:
        with harness.app.app_context():
            barrier.wait()
            return action()

    with ThreadPoolExecutor(max_workers=copies) as pool:
        futures = [pool.submit(run) for _ in range(copies)]
        return [future.result() for future in futures]


def test_put_get_overwrite_delete(store: Store) -> None:
    value = {
        "user": "alice",
        "scopes": ["openid", "email"],
        "n": 3,
        "nested": {"ü": None},
    }
    store.put(NS, "k", value, ttl=60)
    assert store.get(NS, "k") == value

    store.put(NS, "k", {"v": 2}, ttl=60)
    assert store.get(NS, "k") == {"v": 2}

    assert store.get(NS, "missing") is None
    assert store.get("other", "k") is None

    store.delete(NS, "k")
    assert store.get(NS, "k") is None
    store.delete(NS, "k")  # deleting a missing key is not an error


def test_expiry(harness: Harness) -> None:
    store = harness.store
    store.put(NS, "get", {"v": 1}, ttl=1)
    store.put(NS, "take", {"v": 1}, ttl=1)
    store.add(NS, "add", {"v": "old"}, ttl=1)
    assert store.incr(NS, "counter", ttl=1) == 1
    assert store.incr(NS, "counter", ttl=1) == 2

    harness.advance(1.1)

    assert store.get(NS, "get") is None
    assert store.ttl(NS, "get") is None
    assert store.take(NS, "take") is None
    assert store.incr(NS, "counter", ttl=60) == 1  # a new window starts
    assert store.add(NS, "add", {"v": "new"}, ttl=60) is True
    assert store.get(NS, "add") == {"v": "new"}


def test_add_if_absent(store: Store) -> None:
    assert store.add(NS, "k", {"v": 1}, ttl=60) is True
    assert store.add(NS, "k", {"v": 2}, ttl=60) is False
    assert store.get(NS, "k") == {"v": 1}

    store.delete(NS, "k")
    assert store.add(NS, "k", {"v": 3}, ttl=60) is True
    assert store.get(NS, "k") == {"v": 3}


def test_take_is_single_use(store: Store) -> None:
    store.put(NS, "code", {"sub": "alice"}, ttl=60)
    assert store.take(NS, "code") == {"sub": "alice"}
    assert store.take(NS, "code") is None
    assert store.get(NS, "code") is None
    assert store.take(NS, "missing") is None


def test_take_under_concurrency(harness: Harness) -> None:
    harness.store.put(NS, "code", {"sub": "alice"}, ttl=60)
    results = _in_parallel(harness, lambda: harness.store.take(NS, "code"))
    assert [r for r in results if r is not None] == [{"sub": "alice"}]


def test_add_under_concurrency(harness: Harness) -> None:
    results = _in_parallel(harness, lambda: harness.store.add(NS, "jti", {"seen": True}, ttl=60))
    assert results.count(True) == 1


def test_incr_counts_with_fixed_window(store: Store) -> None:
    assert [store.incr(NS, "attempts", ttl=60) for _ in range(3)] == [1, 2, 3]
    # A later, longer ttl must not stretch the window that is already running.
    assert store.incr(NS, "attempts", ttl=3600) == 4
    remaining = store.ttl(NS, "attempts")
    assert remaining is not None and 55 <= remaining <= 60

    assert store.incr(NS, "other", ttl=60) == 1


def test_incr_under_concurrency(harness: Harness) -> None:
    per_thread = 5

    def hammer() -> list[int]:
        return [harness.store.incr(NS, "hits", ttl=60) for _ in range(per_thread)]

    counts = [n for batch in _in_parallel(harness, hammer) for n in batch]
    assert sorted(counts) == list(range(1, THREADS * per_thread + 1))


def test_ttl(store: Store) -> None:
    assert store.ttl(NS, "missing") is None
    store.put(NS, "k", {}, ttl=60)
    remaining = store.ttl(NS, "k")
    assert remaining is not None and 59 <= remaining <= 60

    store.put(NS, "k", {}, ttl=300)  # overwriting also resets the expiry
    remaining = store.ttl(NS, "k")
    assert remaining is not None and 299 <= remaining <= 300


def test_rejects_non_positive_ttl(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put(NS, "k", {}, ttl=0)


def test_ping(store: Store) -> None:
    assert store.ping() is True


def test_deferred_writes_stand_once_the_caller_commits(store: Store) -> None:
    with store.deferred():
        store.put(NS, "k", {"v": 1}, ttl=60)
        assert store.incr(NS, "n", ttl=60) == 1
        assert store.get(NS, "k") == {"v": 1}  # the block reads its own writes
        db.session.commit()
    db.session.rollback()
    assert store.get(NS, "k") == {"v": 1}
    assert store.incr(NS, "n", ttl=60) == 2


@pytest.mark.parametrize("harness", ["sqlite", "postgresql"], indirect=True)
def test_database_writes_commit_one_by_one_except_when_deferred(harness: Harness) -> None:
    store = harness.store
    store.put(NS, "before", {}, ttl=60)
    db.session.rollback()
    assert store.get(NS, "before") == {}  # committed by the write itself
    with store.deferred():
        store.put(NS, "k", {"v": 1}, ttl=60)
        store.incr(NS, "n", ttl=60)
        assert store.take(NS, "before") == {}
        db.session.rollback()  # the caller gives up: the block's writes go with its own
    assert store.get(NS, "k") is None and store.ttl(NS, "n") is None and store.get(NS, "before") == {}
    store.put(NS, "after", {}, ttl=60)
    db.session.rollback()
    assert store.get(NS, "after") == {}


@pytest.mark.parametrize("harness", ["sqlite", "postgresql"], indirect=True)
def test_purge_expired(harness: Harness) -> None:
    store = harness.store
    assert isinstance(store, DatabaseStore)
    store.put(NS, "old", {}, ttl=1)
    store.put(NS, "fresh", {}, ttl=60)
    harness.advance(2)

    assert store.purge_expired() == 1
    assert _row_count() == 1
    assert store.get(NS, "fresh") == {}


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_purge_runs_every_n_writes(harness: Harness) -> None:
    clock = FakeClock()
    store = DatabaseStore(db, clock=clock, purge_every=3)
    store.put(NS, "a", {}, ttl=1)
    clock.advance(2)
    store.put(NS, "b", {}, ttl=60)
    assert _row_count() == 2  # the expired row is hidden but still there
    store.incr(NS, "c", ttl=60)  # third write purges
    assert _row_count() == 2


def _row_count() -> int:
    return db.session.execute(select(func.count()).select_from(ShortLivedState)).scalar_one()


def _assert_every_call_unavailable(store: Store) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: store.put(NS, "k", {}, ttl=60),
        lambda: store.add(NS, "k", {}, ttl=60),
        lambda: store.get(NS, "k"),
        lambda: store.take(NS, "k"),
        lambda: store.delete(NS, "k"),
        lambda: store.incr(NS, "k", ttl=60),
        lambda: store.ttl(NS, "k"),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()
    assert store.ping() is False


def test_redis_unreachable_raises_store_unavailable() -> None:
    _assert_every_call_unavailable(RedisStore.from_url("redis://127.0.0.1:1/0"))


def test_database_unreachable_raises_store_unavailable() -> None:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/test",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}},
    )
    db.init_app(app)
    with app.app_context():
        _assert_every_call_unavailable(DatabaseStore(db))


def test_make_store_picks_backend() -> None:
    app = _database_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        assert isinstance(make_store(redis_url=None, db=db), DatabaseStore)
        assert isinstance(make_store(redis_url="redis://127.0.0.1:1/0", db=db), RedisStore)
