"""Each factor and gateway alone, without the login pages."""

from __future__ import annotations

import pyotp
import pytest
import requests
import sqlalchemy as sa

from idp.config import ConfigError
from idp.extensions import db
from idp.mfa.enrolment import enrol
from idp.mfa.factor import TryLater
from idp.mfa.gateways.letter import FileLetterGateway, NoAddress
from idp.mfa.gateways.sms import ConsoleGateway, GatewayError, HttpGateway, make_sms_gateway
from idp.mfa.sms import normalise_phone
from tests.conftest import replace


@pytest.fixture(autouse=True)
def request_context(app):
    """Messages are worded in the citizen's language, which comes from the request."""
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        yield


def test_sms_start_and_verify(app, citizen, outbox):
    sms = app.extensions["idp.chain"].factors["sms"]
    assert not sms.enrolled(citizen)
    enrol(citizen, "sms", phone="+4791234567")
    assert sms.enrolled(citizen)
    state: dict = {}
    challenge = sms.start(citizen, state, service="Skatteetaten")
    assert challenge.values == {"phone": "•••••••••67"}
    assert "Skatteetaten" in outbox.messages()[0]["text"]
    assert sms.verify(citizen, state, {"code": outbox.last_code()}).ok
    assert sms.verify(citizen, state, {"code": outbox.last_code()}).reason == "expired"  # single use


def test_sms_send_limits(app, citizen, outbox, clock):
    sms = app.extensions["idp.chain"].factors["sms"]
    enrol(citizen, "sms", phone="+4791234567")
    state: dict = {}
    sms.start(citizen, state, service="x")
    with pytest.raises(TryLater) as wait:
        sms.start(citizen, state, service="x")
    assert 0 < wait.value.seconds <= 30
    for _ in range(2):
        clock.advance(seconds=31)
        sms.start(citizen, state, service="x")
    clock.advance(seconds=31)
    with pytest.raises(TryLater):  # max_sends = 3 per login
        sms.start(citizen, state, service="x")
    assert len(outbox.messages()) == 3


def test_phone_numbers():
    assert normalise_phone("912 34 567") == "+4791234567"
    assert normalise_phone("0046701234567") == "+46701234567"
    with pytest.raises(ValueError):
        normalise_phone("12")
    with pytest.raises(ValueError):
        normalise_phone("+47 9123 abc")


def test_console_gateway_prints(capsys):
    ConsoleGateway("ID").send(to="+4791234567", text="hello")
    assert capsys.readouterr().err == "SMS from ID to +4791234567: hello\n"


class _Response:
    def __init__(self, status):
        self.status_code = status


def test_http_gateway_retries_server_errors(monkeypatch):
    calls = []

    def post(url, json, headers, timeout):
        calls.append((url, json, headers, timeout))
        if len(calls) == 1:
            raise requests.ConnectionError("down")
        return _Response(503 if len(calls) == 2 else 202)

    monkeypatch.setattr(requests, "post", post)
    HttpGateway("https://sms.example/send", "t0k", "ID", timeout=3, retries=2).send(to="+4791234567", text="hi")
    assert len(calls) == 3
    assert calls[0][1] == {"to": "+4791234567", "text": "hi", "sender": "ID"}
    assert calls[0][2] == {"Authorization": "Bearer t0k"} and calls[0][3] == 3


def test_http_gateway_gives_up(monkeypatch):
    monkeypatch.setattr(requests, "post", lambda *a, **k: _Response(500))
    with pytest.raises(GatewayError, match="unavailable"):
        HttpGateway("https://sms.example/send", "", "ID", timeout=1, retries=1).send(to="+47", text="x")
    monkeypatch.setattr(requests, "post", lambda *a, **k: _Response(400))
    with pytest.raises(GatewayError, match="refused"):
        HttpGateway("https://sms.example/send", "", "ID", timeout=1, retries=3).send(to="+47", text="x")


def test_gateway_config(config):
    with pytest.raises(ConfigError, match="http_url"):
        make_sms_gateway(replace(config, "sms", gateway="http"))
    with pytest.raises(ConfigError, match="console, file or http"):
        make_sms_gateway(replace(config, "sms", gateway="pigeon"))


def test_totp_window_and_replay(app, citizen, clock):
    totp = app.extensions["idp.chain"].factors["totp"]
    secret = totp.new_secret()
    row = totp.enrol(citizen, secret)
    generator = pyotp.TOTP(secret)
    assert totp.verify(citizen, {}, {"code": generator.at(clock(), counter_offset=-1)}).ok
    assert totp.verify(citizen, {}, {"code": generator.at(clock(), counter_offset=-1)}).reason == "replay"
    assert totp.verify(citizen, {}, {"code": generator.at(clock(), counter_offset=0)}).ok
    # An older step than the last accepted one is a replay too, even if never used.
    assert totp.verify(citizen, {}, {"code": generator.at(clock(), counter_offset=-1)}).reason == "replay"
    assert totp.verify(citizen, {}, {"code": generator.at(clock(), counter_offset=2)}).reason == "wrong"
    assert row.last_timecode == generator.timecode(clock())
    assert secret not in row.secret and totp.secret_of(row) == secret  # sealed at rest
    assert "issuer=ID" in totp.provisioning_uri(citizen, secret)
    assert citizen.pid not in totp.provisioning_uri(citizen, secret)


@pytest.mark.parametrize("code", ["\u0661\u0662\u0663\u0664\u0665\u0666", "12345\u00e9", "\u200b123456"])
def test_a_totp_code_beyond_ascii_is_wrong(app, citizen, code):
    # compare_digest refused the str with a TypeError: a 500 on the login and profile pages.
    totp = app.extensions["idp.chain"].factors["totp"]
    totp.enrol(citizen, totp.new_secret())
    assert totp.verify(citizen, {}, {"code": code}).reason == "wrong"


def test_pin_letter(app, citizen):
    pin = app.extensions["idp.chain"].factors["pin"]
    row, codes = pin.issue_letter(citizen)
    db.session.commit()
    assert len(codes) == 25 and [n for n, _ in codes] == list(range(1, 26))
    assert all(len(code) == 5 and code.isdigit() for _, code in codes)
    assert all(stored.code_hash != code for stored, (_, code) in zip(row.pin_codes, codes, strict=True))
    state: dict = {}
    number = pin.start(citizen, state, service="x").values["number"]
    code = dict(codes)[number]
    assert pin.verify(citizen, state, {"code": "x" + code}).reason == "wrong"
    assert pin.verify(citizen, state, {"code": code}).ok
    assert pin.verify(citizen, {"number": number}, {"code": code}).reason == "replay"
    # A new letter replaces the old: its codes stop working.
    pin.issue_letter(citizen)
    db.session.commit()
    other = next(n for n, _ in codes if n != number)
    assert pin.verify(citizen, {"number": other}, {"code": dict(codes)[other]}).ok is False


def test_letter_needs_an_address(app, citizen, tmp_path):
    gateway = FileLetterGateway(tmp_path / "letters")
    path = gateway.send(citizen=citizen, kind="pin", body="codes")
    text = path.read_text()
    assert "Storgata 1" in text and "0155 Oslo" in text and text.endswith("codes\n")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    citizen.street_address = None
    with pytest.raises(NoAddress):
        gateway.send(citizen=citizen, kind="pin", body="codes")


def test_a_code_raced_by_another_worker_is_a_replay(app, citizen, clock):
    """Another worker used the code between this one's read and its write: the write must notice."""
    from idp.models import EnrolledFactor, PinCode

    totp = app.extensions["idp.chain"].factors["totp"]
    secret = totp.new_secret()
    row = totp.enrol(citizen, secret)
    db.session.commit()
    generator = pyotp.TOTP(secret)
    assert row.last_timecode is None  # this worker reads the row...
    elsewhere = sa.update(EnrolledFactor).values(last_timecode=generator.timecode(clock()))
    db.session.execute(elsewhere.execution_options(synchronize_session=False))  # ...another one uses the code
    assert totp.accept(row, generator.at(clock())).reason == "replay"

    pin = app.extensions["idp.chain"].factors["pin"]
    _row, codes = pin.issue_letter(citizen)
    db.session.commit()
    state: dict = {}
    number = pin.start(citizen, state, service="x").values["number"]
    burn = sa.update(PinCode).where(PinCode.number == number).values(used_at=clock())
    db.session.execute(burn.execution_options(synchronize_session=False))
    assert pin.verify(citizen, state, {"code": dict(codes)[number]}).reason == "replay"


def test_enrolments_are_read_once_per_request_and_follow_changes(app, citizen, clock):
    """The chain asks about a citizen's factors many times per step: one query, kept in step with changes."""
    from idp.mfa import enrolment as rows
    from idp.policy.requirement import Requirement

    chain = app.extensions["idp.chain"]
    enrol(citizen, "sms", phone="+4791234567")
    totp = chain.factors["totp"]
    totp.enrol(citizen, totp.new_secret())
    db.session.commit()
    substantial = Requirement(min_acr="idporten-loa-substantial")
    queries: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        queries.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        for _ in range(3):
            assert [f.name for f in chain.options(citizen, substantial, clock())] == ["sms", "totp"]
        rows.set_preferred(citizen, "totp")
        assert [f.name for f in chain.options(citizen, substantial, clock())] == ["totp", "sms"]
        assert rows.remove(citizen, "sms")
        assert rows.enrolment(citizen, "sms") is None and chain.enrolled(citizen) == ["totp"]
        enrol(citizen, "sms", phone="+4799999999")
        assert rows.enrolment(citizen, "sms").phone == "+4799999999" and rows.enrolment(citizen, "sms").id
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert sum("FROM enrolled_factor" in query for query in queries) <= 1
