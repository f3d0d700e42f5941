"""Migration 0003 (protocol metadata) on SQLite and PostgreSQL: up, down and up again, and the columns work."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from idp.app import create_app
from idp.extensions import db
from idp.models import Client
from idp.oidc import keys as signing_keys
from tests.conftest import make_config
from tests.services import postgres_schema, postgres_url


def _exercise(app) -> None:
    with app.app_context():
        upgrade()
        downgrade(revision="0001")
        upgrade()
        db.session.add(
            Client(
                client_id="m",
                name="M",
                redirect_uris=["https://rp.example/cb"],
                backchannel_logout_uri="https://rp.example/bc",
                request_uris=["https://rp.example/r"],
                require_pushed_authorization_requests=True,
                extra_metadata={"logo_uri": "x"},
            )
        )
        db.session.commit()
        db.session.expire_all()
        client = db.session.scalar(sa.select(Client).filter_by(client_id="m"))
        assert client.require_pushed_authorization_requests is True
        assert client.request_uris == ["https://rp.example/r"]
        assert client.frontchannel_logout_session_required is False
        assert client.extra_metadata == {"logo_uri": "x"}
        db.session.remove()
        db.engine.dispose()


def _app(tmp_path, **env):
    config = make_config(tmp_path, **env)
    signing_keys.init(config.keys_dir, kinds=config.keys.kinds, now=datetime.now(UTC))
    return create_app(config)


def test_migration_on_sqlite(tmp_path):
    _exercise(_app(tmp_path))


def test_migration_on_postgresql(tmp_path):
    with postgres_schema() as schema:
        url = f"{postgres_url()}?options={quote('-csearch_path=' + schema.schema)}"
        _exercise(_app(tmp_path, IDP_DATABASE_URL=url))
