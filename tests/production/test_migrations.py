"""Migrations from an empty database to head and back to base, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from idp.app import create_app
from idp.extensions import db
from tests.conftest import make_config

TABLES = {"citizen", "client", "authorization_code", "token", "login_session", "audit_event", "short_lived_state"}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_downgrade_to_base_and_up_again(tmp_path, backend):
    app = create_app(make_config(tmp_path, **backend.env), load_keys=False)
    with app.app_context():
        assert _tables() == set()
        upgrade()
        assert _tables() >= TABLES
        # The migrated schema is the one the models describe: no table, column,
        # index or constraint that a new migration would have to add or drop.
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []

        downgrade(revision="base")
        assert _tables() == set()

        upgrade()
        assert _tables() == set(db.metadata.tables)
        db.session.remove()
        db.engine.dispose()
