"""The factor tables' migration on PostgreSQL, and a password + SMS login with PostgreSQL and Redis."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from idp.extensions import db
from idp.mfa.enrolment import enrol
from tests.conftest import add_citizen, add_client, build_app, make_config
from tests.mfa.flows import EnglishClient, SmsOutbox, finish, id_token_claims, password_step, submit_code, tx_of
from tests.services import postgres_schema, redis_client


@pytest.fixture
def app(tmp_path):
    redis_client()  # skips (or fails when services are required) if Redis is not there
    from tests.services import redis_url

    with postgres_schema() as schema:
        sep = "&" if "?" in schema.url else "?"
        config = make_config(
            tmp_path,
            IDP_DATABASE_URL=f"{schema.url}{sep}options={quote('-csearch_path=' + schema.schema)}",
            IDP_REDIS_URL=redis_url(),
            IDP_SMS_OUTBOX=str(tmp_path / "sms.jsonl"),
            # The Redis counters are shared with other runs: this test is not about per-IP limits.
            IDP_LIMITS_IP_FAILURES="1000000",
            IDP_LIMITS_IP_CODES_SENT="1000000",
        )
        app = build_app(config)
        app.test_client_class = EnglishClient
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


def test_migration_down_and_up(app):
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"enrolled_factor", "pin_code", "activation_letter"} <= tables
    downgrade(revision="0001")
    assert "enrolled_factor" not in sa.inspect(db.engine).get_table_names()
    upgrade()
    assert "enrolled_factor" in sa.inspect(db.engine).get_table_names()


def test_sms_login(app, tmp_path):
    citizen = add_citizen(app)
    add_client()
    enrol(citizen, "sms", phone="+4791234567")
    app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)  # big-int, cascades, unique numbers
    db.session.commit()
    outbox = SmsOutbox(tmp_path / "sms.jsonl")
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    claims = id_token_claims(client, finish(client, submit_code(client, tx, outbox.last_code()))["code"])
    assert claims["acr"] == "idporten-loa-substantial"
