"""Fixtures for the production tests: every app fixture here runs on each backend.

``config`` is overridden so the shared ``app`` fixture (tests/conftest.py) runs
once on SQLite and once on PostgreSQL + Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.config import Config
from tests.conftest import FakeClock, make_config
from tests.production.backends import Backend, backend  # noqa: F401 - a fixture, registered by importing it


@pytest.fixture
def config(tmp_path, backend: Backend) -> Config:  # noqa: F811 - the backend fixture
    return make_config(tmp_path, **backend.env)


@pytest.fixture
def clock() -> FakeClock:
    # tests/conftest.py's clock starts before build_app creates the keys, so at the
    # clock's "now" the new keys are still pending and nothing can be signed.
    # Starting a second later puts the keys in force.
    return FakeClock(datetime.now(UTC) + timedelta(seconds=1))
