"""Find the external services tests need, and give each run its own space on them.

Environment:

* ``IDP_TEST_DATABASE_URL`` -- PostgreSQL URL
  (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
* ``IDP_TEST_REDIS_URL`` -- Redis URL (default ``redis://127.0.0.1:6379/0``).
* ``IDP_REQUIRE_SERVICES=1`` -- an unreachable service fails the test instead of
  skipping it, so CI cannot pass by silently skipping.

Helpers (plain functions; wrap them in fixtures where needed):

* ``service_unavailable(service, reason)`` -- skip, or fail when services are required.
* ``postgres_url()`` / ``redis_url()`` -- the configured URLs.
* ``unique_name(prefix)`` -- a name no parallel run will pick (schemas, key prefixes).
* ``postgres_schema(url=None)`` -- context manager: creates a uniquely named schema,
  yields a :class:`PostgresSchema` (URL, schema name, ``connect_args`` that put it on
  the ``search_path``, and ``flask_config()`` for Flask-SQLAlchemy), drops it on exit.
  Dispose of your engines before the block ends, or the drop may wait on them.
* ``redis_client(url=None)`` -- a client known to answer PING.
* ``redis_prefix(client)`` -- context manager: yields a unique key prefix and
  deletes every key under it on exit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
import redis
import sqlalchemy as sa

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def services_required() -> bool:
    return os.environ.get("IDP_REQUIRE_SERVICES") == "1"


def service_unavailable(service: str, reason: object) -> NoReturn:
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(f"{message} (IDP_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def postgres_url() -> str:
    return os.environ.get("IDP_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL


def redis_url() -> str:
    return os.environ.get("IDP_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def unique_name(prefix: str) -> str:
    # Lower-case letters, digits and underscores only: valid unquoted in SQL
    # and in Redis keys.
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class PostgresSchema:
    url: str
    schema: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def flask_config(self) -> dict[str, Any]:
        return {
            "SQLALCHEMY_DATABASE_URI": self.url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": self.connect_args},
        }


@contextmanager
def postgres_schema(url: str | None = None) -> Iterator[PostgresSchema]:
    url = url or postgres_url()
    schema = unique_name("test")
    admin = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_unavailable("PostgreSQL", exc.orig)
    try:
        yield PostgresSchema(url, schema, {"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def redis_client(url: str | None = None) -> redis.Redis:
    client = redis.Redis.from_url(url or redis_url(), socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        client.close()
        service_unavailable("Redis", exc)
    return client


@contextmanager
def redis_prefix(client: redis.Redis) -> Iterator[str]:
    prefix = unique_name("test") + ":"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
