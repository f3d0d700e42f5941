"""Security issue 9: a stranger cannot lock a citizen out, and the pages do not tell which numbers have an account.

On each backend. The stranger and the citizen are two test clients with their own
addresses (REMOTE_ADDR) and cookies.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent, CitizenStatus
from idp.pid import generate_pid
from tests.conftest import make_config
from tests.mfa.flows import authorize, finish, hidden, password_step, submit_code, submit_password, tx_of

STRANGER, CITIZEN = "198.51.100.66", "192.0.2.10"


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(tmp_path, **env, **backend.env)


@pytest.fixture
def citizen(citizen):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    return citizen


def _client(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _log_in(client, citizen, outbox, **params):
    """Password, then the SMS code; asserts the login completes."""
    response = password_step(client, citizen, **params)
    assert response.status_code == 302, response.get_data(as_text=True)
    tx = tx_of(response.location)
    client.get(f"/login/step?tx={tx}")
    return finish(client, submit_code(client, tx, outbox.last_code()))


def _guess(stranger, citizen, clock, times: int) -> list[int]:
    """The stranger's wrong passwords, each tried as soon as the last one's wait (at most 15 minutes) is over."""
    statuses = []
    for n in range(times):
        clock.advance(minutes=15 if n else 0)
        statuses.append(password_step(stranger, citizen, password="wrong-password").status_code)
    return statuses


def test_a_strangers_failures_from_one_network_do_not_hold_the_citizen_back_on_another(app, citizen, rp, clock, outbox):
    stranger = _client(app, STRANGER)
    assert _guess(stranger, citizen, clock, 35) == [400] * 3 + [429] * 32
    assert password_step(stranger, citizen).status_code == 429  # the stranger's network waits
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.active
    _log_in(_client(app, CITIZEN), citizen, outbox)  # at once
    assert not db.session.scalars(sa.select(AuditEvent).filter_by(event="account.locked")).all()


def test_a_known_device_gets_in_at_once_even_from_the_strangers_network(app, citizen, rp, clock, outbox):
    phone = _client(app, STRANGER)  # the citizen behind the stranger's address (a shared NAT)
    _log_in(phone, citizen, outbox)
    cookie = next(c for c in phone._cookies.values() if c.key.startswith("idp_device_"))
    assert cookie.http_only and cookie.same_site == "Strict"
    stranger = _client(app, STRANGER)
    _guess(stranger, citizen, clock, 35)
    assert password_step(stranger, citizen).status_code == 429
    assert password_step(_client(app, STRANGER), citizen).status_code == 429  # the same network without the cookie
    _log_in(phone, citizen, outbox, prompt="login")


def test_many_networks_make_the_account_wait_but_not_a_known_device(app, citizen, rp, clock, outbox):
    phone = _client(app, CITIZEN)
    _log_in(phone, citizen, outbox)
    for n in range(11):  # a botnet: eleven addresses, one failure each
        password_step(_client(app, f"203.0.113.{n}"), citizen, password="wrong-password")
    waiting = password_step(_client(app, "192.0.2.99"), citizen)
    assert waiting.status_code == 429
    page = waiting.get_data(as_text=True)
    assert "wait 1 minute" in page and "On a device where you have logged in before" in page
    _log_in(phone, citizen, outbox, prompt="login")
    # The complete login forgot the account's count over all networks.
    assert password_step(_client(app, "192.0.2.99"), citizen).status_code == 302
    events = db.session.scalars(sa.select(AuditEvent).filter_by(event="limits.throttled")).all()
    assert [(e.outcome, e.detail["scope"], e.detail["failures"]) for e in events] == [("delayed", "account", 11)]


def test_at_max_failures_only_known_devices_get_in_until_the_failures_are_forgotten(app, citizen, rp, clock, outbox):
    limits = app.extensions["idp.limits"]
    limits.config = dataclasses.replace(limits.config, max_failures=5)
    phone = _client(app, CITIZEN)
    _log_in(phone, citizen, outbox)
    for n in range(5):
        password_step(_client(app, f"203.0.113.{n}"), citizen, password="wrong-password")
    held = password_step(_client(app, "192.0.2.99"), citizen)
    assert held.status_code == 429 and "wait 24 hours" in held.get_data(as_text=True)
    db.session.refresh(citizen)
    assert citizen.status == CitizenStatus.active
    _log_in(phone, citizen, outbox, prompt="login")
    events = db.session.scalars(sa.select(AuditEvent).filter_by(event="limits.throttled", outcome="held")).all()
    assert [e.detail["scope"] for e in events] == ["account"]


def test_a_device_cookie_helps_only_its_own_account_and_only_unaltered(app, citizen, rp, clock, outbox):
    from tests.conftest import add_citizen

    other = add_citizen(app, given_name="Ola")
    phone = _client(app, STRANGER)
    _log_in(phone, citizen, outbox)
    name, value = next((c.key, c.value) for c in phone._cookies.values() if c.key.startswith("idp_device_"))
    stranger = _client(app, STRANGER)
    for account in (citizen, other):
        for _ in range(4):  # the stranger's network now waits on both accounts
            password_step(stranger, account, password="wrong-password")
    assert password_step(phone, other, prompt="login").status_code == 429  # the cookie is not for this account
    forged = _client(app, STRANGER)
    forged.set_cookie(name, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert password_step(forged, citizen).status_code == 429  # an altered cookie is no known device
    assert password_step(phone, citizen, prompt="login").status_code == 302


def test_a_device_cookie_is_secure_when_cookies_are(app, citizen, rp, outbox, monkeypatch):
    config = app.config["IDP"]
    monkeypatch.setitem(
        app.config, "IDP", dataclasses.replace(config, server=dataclasses.replace(config.server, secure_cookies=True))
    )
    client = _client(app, CITIZEN)
    response = password_step(client, citizen)
    tx = tx_of(response.location)
    client.get(f"/login/step?tx={tx}")
    done = submit_code(client, tx, outbox.last_code())
    [header] = [h for h in done.headers.getlist("Set-Cookie") if h.startswith("idp_device_")]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header
    assert re.search(r"Max-Age=34560000\b", header)  # 400 days


# ---------------------------------------------------------------- no account enumeration
def _normalised(response, pid: str) -> tuple[int, str]:
    body = response.get_data(as_text=True).replace(pid, "PID")
    body = re.sub(r'name="(csrf_token|tx)"[^>]*value="[^"]*"', r'name="\1"', body)
    body = re.sub(r"tx=[A-Za-z0-9_-]+", "tx=TX", body)
    return response.status_code, body


class Verifications:
    """Argon2 verifications, by the parameters of the hash verified."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        real = PasswordHasher.verify

        def verify(hasher, hash, password):
            self.calls.append(hash.rsplit("$", 2)[0])
            return real(hasher, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


def _login_sequence(app, clock, pid: str, verifications) -> list[tuple]:
    client = _client(app, STRANGER)
    steps = []
    for wait in (0, 0, 0, 0, 0, 30, 31, 120):
        clock.advance(seconds=wait)
        response = submit_password(client, authorize(client).location, pid=pid, password="wrong-password")
        steps.append((*_normalised(response, pid), verifications.take()))
    return steps


def test_an_unknown_number_is_answered_like_a_known_one(app, citizen, rp, clock, monkeypatch):
    unknown = generate_pid(birth_date=date(1985, 3, 9), synthetic=True)
    verifications = Verifications(monkeypatch)
    known_steps = _login_sequence(app, clock, citizen.pid, verifications)
    unknown_steps = _login_sequence(app, clock, unknown, verifications)
    assert [status for status, _body, _calls in known_steps] == [400, 400, 400, 429, 429, 429, 429, 429]
    assert known_steps == unknown_steps
    # Each checked attempt verified one hash with the configured parameters, the unknown number's too;
    # the wait page answered without hashing.
    configured = "$argon2id$v=19$m=1024,t=1,p=1"
    assert [calls for _s, _b, calls in unknown_steps] == [[configured]] * 4 + [[], [], [configured], [configured]]


def _activation_sequence(app, clock, pid: str, verifications) -> list[tuple]:
    client = _client(app, STRANGER)
    steps = []
    for path, data in [("/profile/activation", {})] * 2 + [("/profile/activate", {"code": "1234-5678-9012"})] * 3:
        token = hidden(client.get(path).get_data(as_text=True), "csrf_token")
        response = client.post(path, data={"csrf_token": token, "pid": pid, "password": "wrong-password", **data})
        steps.append((*_normalised(response, pid), verifications.take()))
    clock.advance(minutes=2)
    return steps


def test_the_activation_pages_answer_an_unknown_number_like_a_known_one(app, citizen, rp, clock, monkeypatch):
    unknown = generate_pid(birth_date=date(1985, 3, 9), synthetic=True)
    verifications = Verifications(monkeypatch)
    known_steps = _activation_sequence(app, clock, citizen.pid, verifications)
    unknown_steps = _activation_sequence(app, clock, unknown, verifications)
    assert [status for status, _body, _calls in known_steps] == [400, 400, 400, 429, 429]
    assert known_steps == unknown_steps
    assert [len(calls) for _s, _b, calls in unknown_steps] == [1, 1, 1, 1, 0]


def test_a_locked_account_is_answered_like_an_unknown_number_until_the_right_password(
    app, citizen, rp, clock, monkeypatch
):
    citizen.status = CitizenStatus.locked
    db.session.commit()
    unknown = generate_pid(birth_date=date(1985, 3, 9), synthetic=True)
    verifications = Verifications(monkeypatch)
    for sequence in (_login_sequence, _activation_sequence):
        clock.advance(days=1)  # each sequence from a clean slate
        assert sequence(app, clock, citizen.pid, verifications) == sequence(app, clock, unknown, verifications)
