"""The storage backends a test can run on: SQLite alone, or PostgreSQL + Redis.

``backend`` is a parametrised fixture: a test (or the app fixture, through
``config``) that asks for it runs once per backend. ``IDP_TEST_BACKEND``
chooses: ``all`` (default), ``sqlite`` or ``postgres``. The PostgreSQL run
gets its own schema and the Redis run its own key prefix, both removed
afterwards; an unreachable service skips the run, or fails it under
``IDP_REQUIRE_SERVICES=1`` (see tests/services.py).

Each backend is a set of ``IDP_*`` settings (``Backend.env``), so the same
values configure an in-process app (``make_config(tmp_path, **backend.env)``)
and a server process (``base_env(tmp, **backend.env)``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from tests.services import postgres_schema, redis_client, redis_prefix, redis_url

NAMES = ("sqlite", "postgres")


@dataclass(frozen=True)
class Backend:
    name: str
    env: dict[str, str] = field(default_factory=dict)  # empty: the SQLite defaults of make_config/base_env


def selected() -> list[str]:
    choice = os.environ.get("IDP_TEST_BACKEND", "all")
    if choice == "all":
        return list(NAMES)
    if choice not in NAMES:
        raise pytest.UsageError(f"IDP_TEST_BACKEND must be all, sqlite or postgres, not {choice!r}")
    return [choice]


@contextmanager
def postgres_redis() -> Iterator[Backend]:
    """A private PostgreSQL schema and Redis key prefix, as IDP_* settings; cleaned up on exit."""
    with postgres_schema() as pg:
        # The schema goes on every connection's search_path through the URL, so
        # the app and `idp` commands need no test-only engine options; the
        # application_name lets cleanup find connections a test left open.
        url = sa.engine.make_url(pg.url).update_query_dict(
            {"options": f"-csearch_path={pg.schema}", "application_name": pg.schema}
        )
        client = redis_client()
        try:
            with redis_prefix(client) as prefix:
                yield Backend(
                    "postgres",
                    {
                        "IDP_DATABASE_URL": url.render_as_string(hide_password=False),
                        "IDP_REDIS_URL": redis_url(),
                        "IDP_REDIS_KEY_PREFIX": prefix,
                    },
                )
        finally:
            client.close()
            _close_leftover_connections(pg.url, pg.schema)


def _close_leftover_connections(url: str, application_name: str) -> None:
    # Pooled connections of apps the test dropped would otherwise stay open
    # until garbage collection and pile up across the run.
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": application_name},
            )
    finally:
        admin.dispose()


@pytest.fixture(params=selected())
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite")
        return
    with postgres_redis() as chosen:
        yield chosen
