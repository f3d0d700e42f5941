"""Passkeys (WebAuthn): registering in Min profil, a second factor, the whole login; and hostile answers.

A software authenticator (tests/mfa/authenticator.py) answers as a browser would; the
provider verifies with py_webauthn. Each test runs on SQLite, then PostgreSQL + Redis.
"""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
import sqlalchemy as sa
from webauthn.helpers import bytes_to_base64url

from idp.extensions import db
from idp.mfa.enrolment import enrol, enrolment
from idp.models import AuditEvent, CitizenStatus, Passkey
from tests.conftest import add_citizen, make_config
from tests.mfa.authenticator import SoftAuthenticator
from tests.mfa.flows import (
    authorize,
    choose,
    finish,
    hidden,
    id_token_claims,
    password_step,
    submit_password,
    tx_of,
)

ORIGIN = "http://127.0.0.1:5000"  # the tests' issuer


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(
        tmp_path,
        **env,
        **backend.env,
        IDP_WEBAUTHN_PASSWORDLESS="true",
        # Redis counters outlive a test run's key prefix no longer than the run; this is not about per-IP limits.
        IDP_LIMITS_IP_FAILURES="1000000",
        IDP_LIMITS_IP_CODES_SENT="1000000",
    )


def _options(page_html: str) -> dict:
    return json.loads(html_lib.unescape(re.search(r'data-options="([^"]*)"', page_html).group(1)))


def _profile(client, citizen, outbox) -> str:
    """Log in to Min profil with password + SMS; the profile page's HTML."""
    login = client.get("/profile/login")
    response = submit_password(client, login.location, pid=citizen.pid)
    tx = tx_of(response.location)
    page = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    if "Code by SMS" in page and 'name="code"' not in page:
        choose(client, tx, "sms")
        page = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    done = client.post(
        f"/login/step?tx={tx}", data={"csrf_token": hidden(page, "csrf_token"), "tx": tx, "code": outbox.last_code()}
    )
    assert done.status_code == 303 and done.location.endswith("/profile"), done.location
    return client.get("/profile").get_data(as_text=True)


def _register(client, authenticator: SoftAuthenticator, nickname: str = "Telefonen min", **tamper) -> object:
    """Name a passkey in Min profil, have the authenticator make it, send it; the final page's response."""
    profile = client.get("/profile").get_data(as_text=True)
    named = client.post("/profile/passkeys", data={"csrf_token": hidden(profile, "csrf_token"), "nickname": nickname})
    assert named.status_code == 303 and named.location.endswith("/profile/passkeys/new"), named.location
    page = client.get("/profile/passkeys/new").get_data(as_text=True)
    answer = authenticator.create(_options(page), **tamper)
    return client.post(
        "/profile/passkeys/new",
        data={"csrf_token": hidden(page, "csrf_token"), "credential": answer},
        follow_redirects=True,
    )


@pytest.fixture
def enrolled(app, citizen, rp, outbox):
    """A citizen with SMS and one device-bound passkey, and the browser (test client) that set it up."""
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    _profile(client, citizen, outbox)
    authenticator = SoftAuthenticator(ORIGIN)
    done = _register(client, authenticator)
    assert done.status_code == 200
    assert "The passkey “Telefonen min” is set up." in done.get_data(as_text=True)
    return client, authenticator


def _factor_page(app, citizen) -> tuple[object, str, str]:
    """In a browser of its own: the password, then the passkey chosen as second factor; the browser, the login's id
    and the passkey page."""
    client = app.test_client()
    tx = tx_of(password_step(client, citizen).location)
    choose(client, tx, "webauthn")
    page = client.get(f"/login/step?tx={tx}")
    assert page.status_code == 200
    return client, tx, page.get_data(as_text=True)


def _answer(client, tx: str, page: str, answer: str):
    return client.post(
        f"/login/step?tx={tx}", data={"csrf_token": hidden(page, "csrf_token"), "tx": tx, "credential": answer}
    )


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).filter_by(event=name).order_by(AuditEvent.id)))


def test_registered_passkey_is_kept_and_listed(app, citizen, enrolled):
    client, authenticator = enrolled
    key = db.session.scalar(sa.select(Passkey).filter_by(citizen_id=citizen.id))
    assert key.credential_id == authenticator.credentials[0].credential_id
    assert key.nickname == "Telefonen min" and key.transports == ["internal"]
    assert key.aaguid == "01020304-0506-0708-0910-111213141516"
    assert not key.backup_eligible and key.sign_count == 0
    # The user handle is random, never the national identity number.
    assert len(key.user_handle) == 32 and citizen.pid.encode() not in key.user_handle
    assert enrolment(citizen, "webauthn") is not None
    profile = client.get("/profile").get_data(as_text=True)
    assert "Telefonen min" in profile and "Only on one device or security key" in profile
    assert [e.outcome for e in _events("profile.passkey_added")] == ["success"]


def test_second_factor_device_bound(app, citizen, enrolled):
    client, authenticator = enrolled
    client, tx, page = _factor_page(app, citizen)
    assert 'data-webauthn="get"' in page and "webauthn.js" in page
    options = _options(page)
    assert options["rpId"] == "127.0.0.1"
    assert options["allowCredentials"] == [
        {
            "id": bytes_to_base64url(authenticator.credentials[0].credential_id),
            "type": "public-key",
            "transports": ["internal"],
        }
    ]
    done = _answer(client, tx, page, authenticator.get(options))
    claims = id_token_claims(client, finish(client, done)["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
    key = db.session.scalar(sa.select(Passkey))
    db.session.refresh(key)
    assert key.sign_count == 1 and key.last_used_at is not None


def test_second_factor_synced_without_user_verification(app, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    _profile(client, citizen, outbox)
    synced = SoftAuthenticator(ORIGIN, synced=True, counts=False)
    assert _register(client, synced, nickname="iCloud").status_code == 200
    assert db.session.scalar(sa.select(Passkey)).backup_eligible
    client, tx, page = _factor_page(app, citizen)
    done = _answer(client, tx, page, synced.get(_options(page), user_verified=False))
    claims = id_token_claims(client, finish(client, done)["code"])
    assert claims["amr"] == ["pwd", "swk", "mfa"]


def test_passwordless_login(app, citizen, enrolled):
    client, authenticator = enrolled
    client = app.test_client()  # another browser: the profile's session would log in without asking
    start = authorize(client)
    page = client.get(start.location).get_data(as_text=True)
    assert "Log in with a passkey" in page
    options = _options(page)
    assert options["userVerification"] == "required" and not options.get("allowCredentials")
    posted = client.post(
        "/login/passkey",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "tx": tx_of(start.location),
            "credential": authenticator.get(options),
        },
    )
    claims = id_token_claims(client, finish(client, posted)["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert [e.outcome for e in _events("login.passkey")] == ["success"]


def _passwordless(client, answer_of, **params):
    """The first login page, and the POST of the passkey answer ``answer_of(options)`` makes; the page after."""
    start = authorize(client, **params)
    page = client.get(start.location).get_data(as_text=True)
    tx = tx_of(start.location)
    posted = client.post(
        "/login/passkey",
        data={"csrf_token": hidden(page, "csrf_token"), "tx": tx, "credential": answer_of(_options(page))},
    )
    return posted, tx


def test_passwordless_refusals(app, citizen, enrolled):
    _client, authenticator = enrolled
    client = app.test_client()
    # Without user verification, a passkey is not a whole login.
    posted, tx = _passwordless(client, lambda o: authenticator.get(o, user_verified=False))
    assert posted.status_code == 303 and posted.location.startswith("/login?")
    assert "That passkey was not accepted" in client.get(posted.location).get_data(as_text=True)
    # A user handle that is not the one stored with the credential.
    posted, _tx = _passwordless(client, lambda o: authenticator.get(o, user_handle=b"someone else"))
    assert posted.location.startswith("/login?")
    # A service asking for more than the passkey alone reaches: the password and a second factor.
    assert [e.outcome for e in _events("login.passkey")] == ["wrong", "wrong"]


@pytest.fixture
def alone_low(env):
    env["IDP_WEBAUTHN_PASSWORDLESS_LEVEL"] = "idporten-loa-low"


def test_passkey_alone_below_the_request(alone_low, app, citizen, enrolled):
    """A service asking for more than a passkey alone reaches: the password and a second factor instead."""
    _client, authenticator = enrolled
    client = app.test_client()
    posted, tx = _passwordless(client, authenticator.get, acr_values="idporten-loa-substantial")
    assert posted.location.startswith("/login?")
    assert "A passkey alone is not enough" in client.get(posted.location).get_data(as_text=True)
    # Without a requirement the same passkey logs in, at the configured level.
    posted, tx = _passwordless(client, authenticator.get)
    claims = id_token_claims(client, finish(client, posted)["code"])
    assert claims["acr"] == "idporten-loa-low" and claims["amr"] == ["hwk", "user", "mfa"]


def test_a_step_up_after_a_passkey_alone_asks_for_the_whole_login(alone_low, app, citizen, enrolled):
    """A session of a passkey alone had no password: a step-up is the whole login, not the passkey once more
    on top of a password never given (which would reach the factor's level and claim "pwd")."""
    _client, authenticator = enrolled
    client = app.test_client()
    posted, _tx = _passwordless(client, authenticator.get)
    assert id_token_claims(client, finish(client, posted)["code"])["acr"] == "idporten-loa-low"
    page = client.get(authorize(client, acr_values="idporten-loa-substantial").location)
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)


def test_passwordless_options_answered_once(app, citizen, enrolled):
    _client, authenticator = enrolled
    client = app.test_client()
    start = authorize(client)
    page = client.get(start.location).get_data(as_text=True)
    answer = authenticator.get(_options(page))
    data = {"csrf_token": hidden(page, "csrf_token"), "tx": tx_of(start.location), "credential": answer}
    first = client.post("/login/passkey", data=data)
    assert first.location.startswith("/authorize/resume")
    other = app.test_client()  # the same answer replayed from elsewhere, on the same login
    again = other.post("/login/passkey", data=data)
    assert again.status_code in (302, 303, 400)
    assert not (again.location or "").startswith("/authorize/resume")


def _valid_json(authenticator: SoftAuthenticator) -> dict:
    return json.loads(authenticator.get({"challenge": "AAAA"}))


HOSTILE = [
    "",
    "not json",
    "null",
    "[]",
    "1e999",
    '{"id": 1, "rawId": {}, "response": []}',
    json.dumps({"id": "\u0000", "rawId": "\u0000", "type": "public-key", "response": {}}),
    json.dumps({"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "%%%"}}),
    "ÆØÅ" * 100,
    "{" * 5000,  # deep nesting: the JSON parser's recursion limit
    "x" * 20_000,  # larger than any answer
]


def test_hostile_answers_to_the_factor(app, citizen, enrolled):
    """Each answer checked by the factor itself (the pages' throttle would stop most of them before it)."""
    _client, authenticator = enrolled
    factor = app.extensions["idp.chain"].factors["webauthn"]
    valid = _valid_json(authenticator)
    broken = [
        {**valid, "rawId": valid["rawId"] + "x"},  # id and rawId differ
        {**valid, "response": {**valid["response"], "signature": "AAAA"}},
        {**valid, "response": {**valid["response"], "authenticatorData": "AAAA"}},
        {**valid, "response": {**valid["response"], "clientDataJSON": "bm90IGpzb24"}},
        {**valid, "type": "other"},
    ]
    with app.test_request_context():
        for answer in HOSTILE + [json.dumps(b) for b in broken]:
            state: dict = {}
            factor.start(citizen, state, service="x")
            outcome = factor.verify(citizen, state, {"credential": answer})
            assert not outcome.ok and outcome.reason == "wrong" and outcome.restart, answer[:60]
        db.session.rollback()


def test_a_hostile_answer_on_the_page(app, citizen, enrolled):
    _client, _authenticator = enrolled
    client, tx, page = _factor_page(app, citizen)
    for answer in ("not json", "x" * 20_000):
        response = _answer(client, tx, page, answer)
        assert response.status_code == 303
        page = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
        assert "That passkey was not accepted" in page or "No passkey was used" in page


def test_another_citizens_passkey_is_wrong(app, citizen, enrolled, outbox):
    client, authenticator = enrolled
    other = add_citizen(app, given_name="Ola")
    enrol(other, "sms", phone="+4798765432")
    db.session.commit()
    other_client = app.test_client()
    _profile(other_client, other, outbox)
    their = SoftAuthenticator(ORIGIN)
    assert _register(other_client, their).status_code == 200
    # The first citizen's login answered with the other's passkey (signed over this login's challenge).
    client, tx, page = _factor_page(app, citizen)
    response = _answer(client, tx, page, their.get(_options(page)))
    assert response.status_code == 303 and response.location.startswith("/login/step")
    assert "That passkey was not accepted" in client.get(response.location).get_data(as_text=True)
    assert _events("login.factor")[-1].outcome == "wrong"


def test_wrong_origin_and_rp_id(app, citizen, enrolled):
    client, authenticator = enrolled
    for tamper in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"origin": "http://localhost:5000"}):
        client, tx, page = _factor_page(app, citizen)
        response = _answer(client, tx, page, authenticator.get(_options(page), **tamper))
        assert "That passkey was not accepted" in client.get(response.location).get_data(as_text=True), tamper


def test_replayed_challenge(app, citizen, enrolled):
    client, authenticator = enrolled
    client, tx, page = _factor_page(app, citizen)
    answer = authenticator.get(_options(page))
    wrong = _answer(client, tx, page, '{"garbage": true}')  # spends the challenge
    assert wrong.status_code == 303
    again = _answer(client, tx, page, answer)  # the old page's answer, for a challenge already answered
    assert "The page had been open too long" in client.get(again.location).get_data(as_text=True)


def test_expired_challenge(app, citizen, enrolled, clock):
    client, authenticator = enrolled
    client, tx, page = _factor_page(app, citizen)
    clock.advance(seconds=301)
    response = _answer(client, tx, page, authenticator.get(_options(page)))
    assert "The page had been open too long" in client.get(response.location).get_data(as_text=True)
    assert _events("login.factor")[-1].outcome == "expired"


def test_sign_count_going_backwards_is_refused_and_audited(app, citizen, enrolled):
    client, authenticator = enrolled
    client, tx, page = _factor_page(app, citizen)
    finish(client, _answer(client, tx, page, authenticator.get(_options(page), counter=7)))
    client, tx, page = _factor_page(app, citizen)
    response = _answer(client, tx, page, authenticator.get(_options(page), counter=5))  # a copy, behind
    assert "may have been copied" in client.get(response.location).get_data(as_text=True)
    event = _events("webauthn.sign_count")[-1]
    assert event.outcome == "refused" and event.detail["stored"] == 7 and event.detail["given"] == 5
    assert db.session.scalar(sa.select(Passkey.sign_count)) == 7


def test_registration_refusals(app, citizen, enrolled):
    client, authenticator = enrolled
    # Another origin, and a replay of a registration page's answer once it was used.
    page = _register(client, SoftAuthenticator(ORIGIN), origin="https://evil.example")
    assert page.status_code == 400 and "That passkey was not accepted" in page.get_data(as_text=True)
    profile = client.get("/profile").get_data(as_text=True)
    client.post("/profile/passkeys", data={"csrf_token": hidden(profile, "csrf_token"), "nickname": "Nøkkel"})
    new = client.get("/profile/passkeys/new").get_data(as_text=True)
    answer = SoftAuthenticator(ORIGIN).create(_options(new))
    data = {"csrf_token": hidden(new, "csrf_token"), "credential": answer}
    assert client.post("/profile/passkeys/new", data=data).status_code == 303
    replay = client.post("/profile/passkeys/new", data=data, follow_redirects=True)
    assert "The page had been open too long" in replay.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 2
    # A name of nothing but control characters, or none.
    for name in ("\u0001\u0002\u200b", "", "n" * 65):
        answered = client.post(
            "/profile/passkeys", data={"csrf_token": hidden(profile, "csrf_token"), "nickname": name}
        )
        assert answered.status_code == 303 and answered.location.endswith("#passkeys"), name
    # A NUL never gets past the app's gate (idp/untrusted.py): a clear 400, no 5xx.
    nul = client.post("/profile/passkeys", data={"csrf_token": hidden(profile, "csrf_token"), "nickname": "a\u0000b"})
    assert nul.status_code == 400
    outcomes = [e.outcome for e in _events("profile.passkey_added")]
    assert outcomes == ["success", "wrong", "success"]


def test_rename_and_remove(app, citizen, enrolled):
    client, authenticator = enrolled
    key_id = db.session.scalar(sa.select(Passkey.id))
    page = client.get(f"/profile/passkeys/{key_id}").get_data(as_text=True)
    assert 'value="Telefonen min"' in page
    renamed = client.post(
        f"/profile/passkeys/{key_id}",
        data={"csrf_token": hidden(page, "csrf_token"), "nickname": " Jobb\u0007telefon\n"},
        follow_redirects=True,
    )
    assert "The passkey is now called “Jobbtelefon”." in renamed.get_data(as_text=True)
    # Ids that are not the citizen's (or not ids at all) go back to the profile, never a 5xx.
    for path in ("/profile/passkeys/999999", f"/profile/passkeys/{10**30}", "/profile/passkeys/0/remove"):
        assert client.get(path).status_code == 302, path
    confirm = client.get(f"/profile/passkeys/{key_id}/remove").get_data(as_text=True)
    assert "Remove the passkey “Jobbtelefon”?" in confirm
    # Without the confirmation's value: the confirmation page again, nothing removed.
    kept = client.post(f"/profile/passkeys/{key_id}/remove", data={"csrf_token": hidden(confirm, "csrf_token")})
    assert kept.location.endswith(f"/profile/passkeys/{key_id}/remove")
    removed = client.post(
        f"/profile/passkeys/{key_id}/remove",
        data={"csrf_token": hidden(confirm, "csrf_token"), "confirm": "yes"},
        follow_redirects=True,
    )
    assert "The passkey “Jobbtelefon” was removed." in removed.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
    db.session.expire_all()
    assert enrolment(citizen, "webauthn") is None
    assert [e.event for e in _events("profile.passkey_removed")] == ["profile.passkey_removed"]


def test_another_citizens_passkey_cannot_be_renamed_or_removed(app, citizen, enrolled, outbox):
    client, _authenticator = enrolled
    key_id = db.session.scalar(sa.select(Passkey.id))
    other = add_citizen(app, given_name="Ola")
    enrol(other, "sms", phone="+4798765432")
    db.session.commit()
    other_client = app.test_client()
    profile = _profile(other_client, other, outbox)
    token = hidden(profile, "csrf_token")
    assert (
        other_client.post(f"/profile/passkeys/{key_id}", data={"csrf_token": token, "nickname": "x"}).status_code == 302
    )
    gone = other_client.post(f"/profile/passkeys/{key_id}/remove", data={"csrf_token": token, "confirm": "yes"})
    assert gone.status_code == 302
    assert db.session.scalar(sa.select(Passkey.nickname)) == "Telefonen min"


def test_removing_the_factor_takes_every_passkey_along(app, citizen, enrolled):
    """Min profil's "Remove" on the factor, or support's `idp factors remove`: no passkey of it logs in any more."""
    client, authenticator = enrolled
    page = client.get("/profile/remove?factor=webauthn").get_data(as_text=True)
    removed = client.post(
        "/profile/remove", data={"csrf_token": hidden(page, "csrf_token"), "factor": "webauthn", "confirm": "yes"}
    )
    assert removed.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
    posted, _tx = _passwordless(app.test_client(), authenticator.get)
    assert posted.location.startswith("/login?")


def test_support_removal_through_the_cli(app, citizen, enrolled):
    from click.testing import CliRunner

    from idp.cli import main

    _client, authenticator = enrolled
    config = app.config["IDP"]
    env = {"IDP_CONFIG": str(config.base_dir / "absent.toml")}
    env.update({"IDP_DATABASE_URL": config.database.url, "IDP_REDIS_URL": config.redis.url})
    env.update({"IDP_REDIS_KEY_PREFIX": config.redis.key_prefix, "IDP_CITIZENS_ALLOW_SYNTHETIC_PIDS": "true"})
    env.update({"IDP_SERVER_DATA_DIR": str(config.data_dir), "IDP_KEYS_DIR": str(config.keys_dir)})
    db.session.commit()
    result = CliRunner().invoke(main, ["factors", "remove", citizen.pid, "webauthn"], env=env)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
    posted, _tx = _passwordless(app.test_client(), authenticator.get)
    assert posted.location.startswith("/login?")


def test_hostile_answers_to_the_passwordless_login(app, citizen, enrolled):
    """Answers that name no passkey count against the network only (no account is known), and never get a 5xx."""
    _client, authenticator = enrolled
    valid = _valid_json(authenticator)
    answers = HOSTILE + [
        json.dumps({**valid, "response": {k: v for k, v in valid["response"].items() if k != "userHandle"}}),
        json.dumps({**valid, "response": {**valid["response"], "userHandle": "!!"}}),
        json.dumps({**valid, "response": {**valid["response"], "userHandle": 7}}),
    ]
    client = app.test_client()
    for answer in answers:
        posted, _tx = _passwordless(client, lambda _options, answer=answer: answer)
        assert posted.status_code == 303 and posted.location.startswith("/login?"), answer[:60]
        page = client.get(posted.location).get_data(as_text=True)
        assert "That passkey was not accepted" in page or "No passkey was used" in page, answer[:60]
    # Audited without an account: the answer named none.
    assert {(e.outcome, e.citizen_id) for e in _events("login.passkey")} == {("wrong", None)}


def test_relying_party_from_the_issuer_and_settings_checked():
    from idp.config import ConfigError, WebauthnConfig
    from idp.mfa.webauthn import WebauthnFactor

    factor = WebauthnFactor(WebauthnConfig(), issuer="https://login.example.no:8443/idp", rp_name="ID")
    assert (factor.rp_id, factor.origin) == ("login.example.no", "https://login.example.no:8443")
    with pytest.raises(ConfigError, match="webauthn.user_verification"):
        WebauthnFactor(WebauthnConfig(user_verification="always"), issuer="https://id.example", rp_name="ID")
    with pytest.raises(ConfigError, match="webauthn.attestation"):
        WebauthnFactor(WebauthnConfig(attestation="direct"), issuer="https://id.example", rp_name="ID")


def test_a_locked_account_is_told_only_after_a_right_passkey(app, citizen, enrolled):
    _client, authenticator = enrolled
    citizen.status = CitizenStatus.locked
    db.session.commit()
    client = app.test_client()
    wrong, _tx = _passwordless(client, lambda o: authenticator.get(o, user_verified=False))
    assert client.get(wrong.location).status_code == 400  # as any refused passkey: nothing about the lock
    right, _tx = _passwordless(client, authenticator.get)
    assert client.get(right.location).status_code == 403
    assert [e.outcome for e in _events("login.passkey")] == ["wrong", "locked"]
