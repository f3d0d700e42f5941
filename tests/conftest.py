"""Fixtures shared by the whole suite: an app on a fresh database with fresh keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import g
from flask_migrate import upgrade

from idp.app import create_app
from idp.config import Config, load_config
from idp.extensions import db
from idp.models import Citizen, Client
from idp.models.oauth import digest
from idp.oidc import keys as signing_keys
from idp.pid import generate_pid
from tests.hosts import Host
from tests.production.backends import Backend, backend  # noqa: F401 - fixture: SQLite, then PostgreSQL + Redis

PASSWORD = "riktig-passord-42"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta) -> None:
        self.current += timedelta(**delta)


def make_config(tmp_path, **env: str) -> Config:
    """A config for one test: its own data folder, SQLite file and keys, cheap Argon2."""
    environ = {
        "IDP_SERVER_DATA_DIR": str(tmp_path / "var"),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_CITIZENS_ALLOW_SYNTHETIC_PIDS": "true",
        "IDP_SERVER_SECURE_COOKIES": "false",
        "IDP_PASSWORDS_TIME_COST": "1",
        "IDP_PASSWORDS_MEMORY_COST_KIB": "1024",
        # Protocol tests log in with the password alone; tests of the factor chain set it to false.
        "IDP_ASSURANCE_PASSWORD_ONLY": "true",
        # Flask's test client says "Host: localhost"; the issuer is 127.0.0.1.
        "IDP_SERVER_TRUSTED_HOSTS": "127.0.0.1,localhost",
        # Relying parties' documents and logout receivers are served on 127.0.0.1 in tests.
        "IDP_FETCH_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
        **env,
    }
    return load_config(tmp_path / "absent.toml", environ=environ)


def build_app(config: Config, clock=None):
    # Keys dated long ago, so they are in force wherever a test sets its clock (PIN cutoff tests go back to 2022).
    signing_keys.init(config.keys_dir, kinds=config.keys.kinds, now=datetime(2000, 1, 1, tzinfo=UTC))
    app = create_app(config, **({"clock": clock} if clock else {}))
    app.config["TESTING"] = True
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path, backend: Backend) -> Config:  # noqa: F811 - the imported fixture
    return make_config(tmp_path, **backend.env)


@pytest.fixture
def hosts() -> Iterator[Callable[..., Host]]:
    """Starts relying parties' web servers on 127.0.0.1 (``hosts(answer, drip=..)``), closed after the test."""
    started: list[Host] = []

    def start(*args, **kwargs) -> Host:
        started.append(Host(*args, **kwargs))
        return started[-1]

    yield start
    for host in started:
        host.close()


@pytest.fixture
def app(config, clock):
    app = build_app(config, clock)

    @app.teardown_request
    def _forget_request_state(_exc):
        # The test holds one app context open around all its requests, so Flask's ``g``
        # (the cached login session, Flask-WTF's CSRF token) would carry over to the next
        # request, even another client's. In production every request has its own ``g``.
        for name in list(g):
            g.pop(name)

    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def citizen(app) -> Citizen:
    return add_citizen(app)


def add_citizen(app, *, born: date = date(1990, 5, 17), given_name: str = "Kari") -> Citizen:
    from idp.mfa.password import hash_password

    # About 400 numbers exist for one birth date: two citizens of a test must not draw the same.
    pid = generate_pid(birth_date=born, synthetic=True)
    while db.session.scalar(sa.select(Citizen.id).filter_by(pid=pid)) is not None:
        pid = generate_pid(birth_date=born, synthetic=True)
    person = Citizen(
        pid=pid,
        given_name=given_name,
        family_name="Nordmann",
        email="kari@example.org",
        email_verified=True,
        phone="+4791234567",
        street_address="Storgata 1",
        postal_code="0155",
        locality="Oslo",
        country="NO",
        password_hash=hash_password(app.extensions["idp.hasher"], PASSWORD),
    )
    db.session.add(person)
    db.session.commit()
    return person


def add_client(
    *,
    client_id: str = "rp1",
    secret: str | None = "rp1-secret",
    redirect_uris: tuple[str, ...] = ("https://rp.example/callback",),
    auth_method: str = "client_secret_basic",
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    scope: str = "openid profile email phone address pid offline_access",
    **fields,
) -> Client:
    client = Client(
        client_id=client_id,
        client_secret_hash=digest(secret) if secret else None,
        name="Testtjenesten",
        redirect_uris=list(redirect_uris),
        token_endpoint_auth_method=auth_method,
        grant_types=list(grant_types),
        scope=scope,
        **fields,
    )
    db.session.add(client)
    db.session.commit()
    return client


@pytest.fixture
def rp(app) -> Client:
    return add_client()


def replace(config: Config, section: str, **values) -> Config:
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)})
