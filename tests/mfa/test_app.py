"""The app factor: enrolment with an activation code, logins approved, denied, mistaken or run out, and the
device API under attack; every API answer checked against the served OpenAPI document. SQLite, then
PostgreSQL + Redis."""

from __future__ import annotations

import base64
import json
import re
import secrets

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey, OctKey
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder

from idp.extensions import db
from idp.mfa import activation
from idp.mfa import app as app_factor
from idp.mfa.enrolment import enrol, enrolment
from idp.models import AppActivation, AppDevice, AuditEvent
from tests.conftest import add_citizen, make_config
from tests.mfa.flows import (
    finish,
    hidden,
    id_token_claims,
    password_step,
    submit_code,
    submit_password,
    tx_of,
)

ISSUER = "http://127.0.0.1:5000"


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(
        tmp_path,
        **env,
        **backend.env,
        IDP_APP_PUSH_OUTBOX=str(tmp_path / "push.jsonl"),
        # Counters on a shared Redis outlive one test; this file is not about the per-network limits.
        IDP_LIMITS_IP_FAILURES="1000000",
        IDP_LIMITS_IP_CODES_SENT="1000000",
    )


class Phone:
    """A device as the API sees it: its own P-256 key, signing each request for a moment the test's clock gives."""

    def __init__(self, app, clock, name: str = "Karis telefon"):
        self.http = app.test_client()
        self.clock = clock
        self.name = name
        self.key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
        served = self.http.get("/app/v1/openapi.json", base_url=ISSUER)
        assert served.status_code == 200
        self.spec = OpenAPI.from_dict(served.get_json())

    @property
    def kid(self) -> str:
        return self.key.thumbprint()

    def token(self, method: str, path: str, *, enrolling=False, header=None, claims=None, key=None, **values) -> str:
        protected = {"alg": "ES256", **({"jwk": self.key.as_dict(private=False)} if enrolling else {"kid": self.kid})}
        body = {
            "htm": method,
            "htu": "/app/v1" + path,
            "iat": int(self.clock().timestamp()),
            "jti": secrets.token_urlsafe(16),
            **values,
        }
        return jws.serialize_compact(
            {**protected, **(header or {})}, json.dumps({**body, **(claims or {})}).encode(), key or self.key
        )

    def __call__(self, method: str, path: str, *, token: str | None = None, raw_path: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token is None:
            token = self.token(method, path, **kw.pop("sign", {}))
        if token:
            headers["Authorization"] = f"Device {token}"
        request = dict(path=raw_path or f"/app/v1{path}", method=method, headers=headers, base_url=ISSUER, **kw)
        answer = self.http.open(**request)
        assert answer.status_code < 500, answer.data
        assert answer.headers.get("Cache-Control") == "no-store" or answer.status_code == 204
        if raw_path is None:
            sent = EnvironBuilder(**request).get_request()
            self.spec.validate_response(WerkzeugOpenAPIRequest(sent), WerkzeugOpenAPIResponse(answer))
        return answer

    def enrol(self, citizen, code: str, **values):
        values = {"pid": citizen.pid, "code": code, "name": self.name, **values}
        return self("POST", "/devices", sign={"enrolling": True, **values})

    def waiting(self) -> list[dict]:
        answer = self("GET", "/approvals")
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["approvals"]

    def approve(self, approval: str, number, *, user_verified=True):
        values = {"approval": approval, "decision": "approve", "number": number, "user_verified": user_verified}
        return self("POST", f"/approvals/{approval}/approve", sign=values)

    def deny(self, approval: str):
        return self("POST", f"/approvals/{approval}/deny", sign={"approval": approval, "decision": "deny"})


def _unsigned(header: object) -> str:
    """A token no library would make: any header, a payload, a made-up signature."""

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'htm': 'GET'})}.{part('signature')}"


def _code(citizen) -> str:
    code, _expires = app_factor.new_activation_code(citizen)
    db.session.commit()
    return code


def _enrolled(app, clock, citizen, name="Karis telefon") -> Phone:
    phone = Phone(app, clock, name)
    answer = phone.enrol(citizen, _code(citizen))
    assert answer.status_code == 201, answer.get_json()
    return phone


def _waiting_page(client, citizen) -> tuple[str, int, str]:
    """Password, then the app's page: the login's tx, the number shown, the page's HTML."""
    tx = tx_of(password_step(client, citizen).location)
    page = client.get(f"/login/step?tx={tx}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    return tx, int(re.search(r'class="app-number" id="app-number">(\d\d)<', html).group(1)), html


def _collect(client, tx: str):
    """The page's form ("I have approved", or the script): POST it, then the page it redirects to (or the service)."""
    html = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    posted = client.post(f"/login/step?tx={tx}", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    if posted.location.startswith("/login/step"):
        return client.get(posted.location)
    return posted


def _events(event: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).filter_by(event=event).order_by(AuditEvent.id)))


def test_enrol_and_log_in_by_approving_the_number_shown(app, clock, citizen, rp, outbox, tmp_path):
    citizen.phone_verified = True
    db.session.commit()
    phone = _enrolled(app, clock, citizen)
    assert enrolment(citizen, "app") is not None
    # The app's requests name no language: the SMS is in the default one (bokmål).
    assert "Karis telefon kan nå logge inn som deg" in outbox.messages()[-1]["text"]
    assert _events("app.enrol")[-1].outcome == "success"

    client = app.test_client()
    tx, number, html = _waiting_page(client, citizen)
    assert 'aria-live="polite"' in html and "app_wait.js" in html
    assert json.loads(client.get(f"/login/app/status?tx={tx}").data) == {"status": "pending"}
    # The push names the login, never the number: that is only on the screen.
    pushed = [json.loads(line) for line in (tmp_path / "push.jsonl").read_text().splitlines()]
    assert pushed[-1]["device"] == phone.kid and "number" not in pushed[-1]["message"]
    (waiting,) = phone.waiting()
    assert waiting["service"] == "Testtjenesten" and number in waiting["choices"] and len(set(waiting["choices"])) == 3
    assert waiting["id"] == pushed[-1]["message"]["approval"]

    answer = phone.approve(waiting["id"], number)
    assert answer.get_json() == {"approval": waiting["id"], "status": "approved"}
    assert json.loads(client.get(f"/login/app/status?tx={tx}").data) == {"status": "decided"}
    claims = id_token_claims(client, finish(client, _collect(client, tx))["code"])
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["amr"] == ["pwd", "swk", "user", "mfa"]
    assert db.session.scalar(sa.select(AppDevice)).last_used_at is not None
    assert phone.waiting() == []


def test_without_the_phones_own_check_no_user_in_amr(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, number, _html = _waiting_page(client, citizen)
    phone.approve(phone.waiting()[0]["id"], number, user_verified=False)
    claims = id_token_claims(client, finish(client, _collect(client, tx))["code"])
    assert claims["amr"] == ["pwd", "swk", "mfa"]


def test_the_idporten_profile_names_minid_app(app, clock, citizen, rp, config, tmp_path):
    from tests.conftest import build_app, replace

    phone = _enrolled(app, clock, citizen)
    other = build_app(replace(config, "assurance", amr_profile="idporten"), clock)
    other.test_client_class = app.test_client_class
    with other.app_context():
        client = other.test_client()
        tx, number, _html = _waiting_page(client, citizen)
        phone.http = other.test_client()
        phone.approve(phone.waiting()[0]["id"], number)
        assert id_token_claims(client, finish(client, _collect(client, tx))["code"])["amr"] == ["Minid-APP"]


def test_waiting_counts_nothing_and_says_so(app, clock, citizen, rp):
    _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, _number, _html = _waiting_page(client, citizen)
    page = _collect(client, tx)
    assert page.status_code == 400
    assert "The app has not answered yet." in page.get_data(as_text=True)
    assert not [e for e in _events("login.factor") if e.detail.get("factor") == "app"]


def test_the_wrong_number_stops_the_login(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, number, _html = _waiting_page(client, citizen)
    (waiting,) = phone.waiting()
    wrong = next(choice for choice in waiting["choices"] if choice != number)
    assert phone.approve(waiting["id"], wrong).get_json()["status"] == "wrong_number"
    # The app cannot try again with another number.
    assert phone.approve(waiting["id"], number).get_json()["error"] == "already_decided"
    page = _collect(client, tx)
    assert "The wrong number was chosen in the app" in page.get_data(as_text=True)
    assert _events("login.factor")[-1].outcome == "wrong_number"
    assert _events("app.decision")[-1].outcome == "wrong_number"


def test_a_denial_can_be_reported_as_not_me(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, _number, _html = _waiting_page(client, citizen)
    assert phone.deny(phone.waiting()[0]["id"]).get_json()["status"] == "denied"
    html = _collect(client, tx).get_data(as_text=True)
    assert "The login was denied in the app." in html and "This was not me" in html
    reported = client.post("/login/app/not-me", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert reported.status_code == 303
    html = client.get(reported.location).get_data(as_text=True)
    assert "We have recorded that this was not you" in html and "This was not me" not in html
    assert [e.outcome for e in _events("login.app_not_me")] == ["reported"]
    # Said twice, recorded once.
    client.post("/login/app/not-me", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert len(_events("login.app_not_me")) == 1


def test_not_me_without_a_denial_records_nothing(app, clock, citizen, rp):
    _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, _number, html = _waiting_page(client, citizen)
    client.post("/login/app/not-me", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    assert _events("login.app_not_me") == []


def test_an_approval_runs_out(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, number, _html = _waiting_page(client, citizen)
    (waiting,) = phone.waiting()
    clock.advance(seconds=121)
    assert phone.waiting() == []
    assert phone.approve(waiting["id"], number).status_code == 410
    assert json.loads(client.get(f"/login/app/status?tx={tx}").data) == {"status": "decided"}
    page = _collect(client, tx)
    assert "The request to the app has expired." in page.get_data(as_text=True)
    assert _events("login.factor")[-1].outcome == "expired"


def test_a_device_removed_after_approving_does_not_log_in(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    other = _enrolled(app, clock, citizen, name="Nettbrett")
    client = app.test_client()
    tx, number, _html = _waiting_page(client, citizen)
    phone.approve(phone.waiting()[0]["id"], number)
    assert other("DELETE", f"/devices/{phone.kid}").status_code == 204
    page = _collect(client, tx)
    assert "has been removed from your profile" in page.get_data(as_text=True)
    assert phone("GET", "/approvals").get_json()["error"] == "unknown_device"
    listed = other("GET", "/devices").get_json()["devices"]
    assert [(d["name"], d["this_device"]) for d in listed] == [("Nettbrett", True)]


def test_a_new_request_replaces_the_old_one(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    tx, _number, html = _waiting_page(client, citizen)
    (first,) = phone.waiting()
    clock.advance(seconds=31)
    client.post("/login/resend", data={"csrf_token": hidden(html, "csrf_token"), "tx": tx})
    (second,) = phone.waiting()
    assert second["id"] != first["id"]
    assert phone.approve(first["id"], first["choices"][0]).status_code == 404


def test_another_citizens_approval_is_not_found(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    stranger = add_citizen(app, given_name="Per")
    strangers_phone = _enrolled(app, clock, stranger, name="Pers telefon")
    client = app.test_client()
    _tx, number, _html = _waiting_page(client, citizen)
    (waiting,) = phone.waiting()
    assert strangers_phone.waiting() == []
    answer = strangers_phone.approve(waiting["id"], number)
    assert answer.status_code == 404 and answer.get_json()["error"] == "not_found"
    assert strangers_phone("DELETE", f"/devices/{phone.kid}").status_code == 404


def test_hostile_requests_get_clear_errors(app, clock, citizen, rp):
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    _tx, number, _html = _waiting_page(client, citizen)
    (waiting,) = phone.waiting()
    approve = f"/approvals/{waiting['id']}/approve"
    good = {"approval": waiting["id"], "decision": "approve", "number": number, "user_verified": True}

    def error(answer) -> tuple[int, str]:
        return answer.status_code, answer.get_json()["error"]

    assert error(phone("GET", "/approvals", token="")) == (401, "invalid_signature")
    # Paths and methods the API does not have: JSON too, not a citizen's page.
    assert error(client.get("/app/v1/no-such-thing")) == (404, "not_found")
    assert error(client.put("/app/v1/approvals")) == (405, "invalid_request")
    assert error(phone("GET", "/approvals", token="not.a.jws")) == (401, "invalid_signature")
    assert error(phone("GET", "/approvals", token="ünïcode\u2028.x.y")) == (401, "invalid_signature")
    assert error(phone("GET", "/approvals", token="a" * 9000)) == (401, "invalid_signature")
    # Another algorithm, or no signature at all.
    hmac_key = OctKey.generate_key(256)
    forged = jws.serialize_compact({"alg": "HS256", "kid": phone.kid}, b'{"htm":"GET"}', hmac_key)
    assert error(phone("GET", "/approvals", token=forged)) == (401, "invalid_signature")
    unsigned = phone.token("GET", "/approvals").rsplit(".", 1)[0] + "."
    assert error(phone("GET", "/approvals", token=unsigned)) == (401, "invalid_signature")
    # This device's kid, signed by another key.
    thief = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    assert error(phone("POST", approve, sign={"key": thief, **good})) == (401, "invalid_signature")
    assert error(phone("GET", "/approvals", sign={"header": {"kid": "x" * 200}})) == (401, "unknown_device")
    assert error(phone("GET", "/approvals", token=_unsigned({"alg": "ES256", "kid": ["list"]}))) == (
        401,
        "unknown_device",
    )
    assert error(phone("GET", "/approvals", token=_unsigned(["not", "an", "object"]))) == (401, "invalid_signature")
    for odd in ({"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}, {"alg": "none"}, {"alg": "ES512"}):
        header = {"alg": "ES256", "kid": phone.kid, **odd}
        assert error(phone("GET", "/approvals", token=_unsigned(header))) == (401, "invalid_signature"), odd
    # Signed for another request, too old, from the future, no jti.
    assert error(phone("GET", "/devices", token=phone.token("GET", "/approvals"))) == (401, "invalid_signature")
    assert error(phone("GET", "/approvals", sign={"claims": {"iat": 0}})) == (401, "stale_request")
    assert error(phone("GET", "/approvals", sign={"claims": {"iat": "now"}})) == (401, "stale_request")
    assert error(phone("GET", "/approvals", sign={"claims": {"iat": 10**20}})) == (401, "stale_request")
    assert error(phone("GET", "/approvals", sign={"claims": {"iat": float("nan")}})) == (401, "stale_request")
    assert error(phone("GET", "/approvals", sign={"claims": {"iat": 10**400}})) == (401, "stale_request")  # no float
    assert error(phone("GET", "/approvals", sign={"claims": {"jti": None}})) == (400, "invalid_request")
    assert error(phone("GET", "/approvals", sign={"claims": {"jti": "\x00" * 20}})) == (400, "invalid_request")
    assert error(phone("GET", "/approvals", token=_unsigned({"alg": "ES256", "kid": "a\x00b"}))) == (
        401,
        "unknown_device",
    )
    # Replayed: the very same signed request again.
    token = phone.token("GET", "/approvals")
    assert phone("GET", "/approvals", token=token).status_code == 200
    assert error(phone("GET", "/approvals", token=token)) == (401, "replayed")
    # Wrong types and values for the decision.
    for bad in ({"number": str(number)}, {"number": True}, {"number": 100}, {"number": None}, {"user_verified": "yes"},
                {"decision": "deny"}, {"approval": "another"}, {"approval": ["x"]}):  # fmt: skip
        assert error(phone("POST", approve, sign={**good, **bad})) == (400, "invalid_request"), bad
    # A NUL in the path, a huge body: JSON errors, not pages.
    nul = phone("GET", "", raw_path="/app/v1/approvals/a%00b/approve")
    assert nul.status_code in (400, 405)
    huge = phone("POST", approve, sign=good, data="x" * (300 * 1024), content_type="application/x-www-form-urlencoded")
    assert huge.status_code == 413 and huge.get_json()["error"] == "invalid_request"
    # After all that, the real answer still works once.
    assert phone.approve(waiting["id"], number).get_json()["status"] == "approved"
    assert error(phone.approve(waiting["id"], number)) == (409, "already_decided")


def test_enrolment_refuses_bad_keys_codes_and_names(app, clock, citizen, outbox):
    code = _code(citizen)
    phone = Phone(app, clock)

    def enrol(**values):
        answer = phone.enrol(citizen, values.pop("code", code), **values)
        return answer.status_code, answer.get_json().get("error")

    private = phone.key.as_dict(private=True)
    token = phone.token("POST", "/devices", enrolling=True, header={"jwk": private}, pid=citizen.pid, code=code)
    assert phone("POST", "/devices", token=token).get_json()["error"] == "invalid_key"
    rsa_like = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    token = phone.token("POST", "/devices", enrolling=True, header={"jwk": rsa_like}, pid=citizen.pid, code=code)
    assert phone("POST", "/devices", token=token).get_json()["error"] == "invalid_key"
    off_curve = {**phone.key.as_dict(private=False), "y": phone.key.as_dict(private=False)["x"]}
    token = phone.token("POST", "/devices", enrolling=True, header={"jwk": off_curve}, pid=citizen.pid, code=code)
    assert phone("POST", "/devices", token=token).get_json()["error"] == "invalid_key"
    assert enrol(name="") == (400, "invalid_request")
    assert enrol(name="a\x00b") == (400, "invalid_request")
    assert enrol(name="x" * 65) == (400, "invalid_request")
    assert enrol(name=["list"]) == (400, "invalid_request")
    assert enrol(pid=12345678901) == (400, "invalid_request")
    assert enrol(push_subscription={"endpoint": "http://10.0.0.1/"}) == (400, "invalid_request")
    assert enrol(push_subscription="yes") == (400, "invalid_request")
    nul = {"endpoint": "https://push.example/\x00", "keys": {"p256dh": "BAAA", "auth": "AAAA"}}
    assert enrol(push_subscription=nul) == (400, "invalid_request")
    for endpoint in ("https://[::1/x", "https://10.0.0.1/send", "https://push.example:port/", "https://a..b/"):
        odd = {"endpoint": endpoint, "keys": {"p256dh": "BAAA", "auth": "AAAA"}}
        assert enrol(push_subscription=odd) == (400, "invalid_request"), endpoint
    assert enrol(pid="\x00" * 11, code="\x00") == (400, "invalid_activation")
    assert enrol(code="0000-0000-0000") == (400, "invalid_activation")
    assert enrol(pid="01010112345") == (400, "invalid_activation")
    assert db.session.scalar(sa.select(AppActivation.attempts)) == 1
    assert enrol() == (201, None)
    # Single use: the same code again, by another phone.
    assert Phone(app, clock).enrol(citizen, code).get_json()["error"] == "invalid_activation"
    # The same key cannot be enrolled twice.
    assert enrol(code=_code(citizen)) == (409, "key_in_use")


def test_an_activation_code_dies_after_its_tries_and_its_time(request, env, clock, backend):
    # The account's own waits after wrong tries are tested in tests/policy: here, the code's tries alone.
    env.update(IDP_LIMITS_FREE_FAILURES="100", IDP_LIMITS_ACCOUNT_FREE_FAILURES="100")
    app, citizen = request.getfixturevalue("app"), request.getfixturevalue("citizen")
    code = _code(citizen)
    phone = Phone(app, clock)
    for _ in range(5):
        assert phone.enrol(citizen, "1111-1111-1111").get_json()["error"] == "invalid_activation"
    assert db.session.scalar(sa.select(AppActivation.attempts)) == 5
    assert phone.enrol(citizen, code).get_json()["error"] == "invalid_activation"
    later = _code(citizen)
    clock.advance(seconds=901)
    assert phone.enrol(citizen, later).get_json()["error"] == "invalid_activation"


def test_an_activation_letter_enrols_a_device_too(app, clock, citizen):
    sent = {}

    def body(code, _until):
        sent["code"] = code
        return code

    citizen.activated = False  # an ordered account: the letter went to the registered address
    activation.send_letter(citizen, body=body)
    db.session.commit()
    assert Phone(app, clock).enrol(citizen, sent["code"].replace("-", " ")).status_code == 201
    db.session.refresh(citizen)
    assert citizen.activated  # as at /order/activate: the letter proves the address


def test_requests_are_limited_per_device(request, env, clock, backend):
    env["IDP_APP_DEVICE_REQUESTS_PER_MINUTE"] = "3"
    app, citizen = request.getfixturevalue("app"), request.getfixturevalue("citizen")
    phone = _enrolled(app, clock, citizen)
    answers = [phone("GET", "/approvals") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].get_json()["error"] == "rate_limited" and int(answers[-1].headers["Retry-After"]) >= 1
    clock.advance(minutes=1)
    assert phone("GET", "/approvals").status_code == 200


def test_push_key_is_null_without_web_push(app, clock):
    assert Phone(app, clock)("GET", "/push-key", token="").get_json() == {"vapid_public_key": None}


def test_min_profil_lists_adds_and_removes_phones(app, clock, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    phone = _enrolled(app, clock, citizen)
    client = app.test_client()
    start = client.get("/profile/login")
    response = submit_password(client, start.location, pid=citizen.pid)
    tx = tx_of(response.location)
    # Two factors: SMS is chosen for the profile's login.
    page = client.get(f"/login/step?tx={tx}").get_data(as_text=True)
    client.post("/login/choose", data={"csrf_token": hidden(page, "csrf_token"), "tx": tx, "factor": "sms"})
    client.get(f"/login/step?tx={tx}")
    assert submit_code(client, tx, outbox.last_code()).location.endswith("/profile")
    assert "Add or remove phones with the app" in client.get("/profile").get_data(as_text=True)

    html = client.get("/profile/app").get_data(as_text=True)
    assert "Karis telefon" in html and "Not yet" in html and "Activation code:" not in html
    shown = client.post("/profile/app/code", data={"csrf_token": hidden(html, "csrf_token")}, follow_redirects=True)
    html = shown.get_data(as_text=True)
    code = re.search(r'<code class="secret">([\d-]+)</code>', html).group(1)
    assert 'src="data:image/svg+xml' in html
    second = Phone(app, clock, name="Nettbrett")
    assert second.enrol(citizen, code).status_code == 201

    confirm = client.get(f"/profile/app/remove?device={phone.kid}")
    assert confirm.status_code == 200 and "Remove Karis telefon?" in confirm.get_data(as_text=True)
    done = client.post(
        "/profile/app/remove",
        data={
            "csrf_token": hidden(confirm.get_data(as_text=True), "csrf_token"),
            "device": phone.kid,
            "confirm": "yes",
        },
        follow_redirects=True,
    )
    assert "Karis telefon can no longer log in as you." in done.get_data(as_text=True)
    assert [d.name for d in app_factor.devices_of(citizen)] == ["Nettbrett"]
    # Another citizen's device is not theirs to remove.
    stranger = add_citizen(app, given_name="Per")
    strangers_phone = _enrolled(app, clock, stranger)
    client.post(
        "/profile/app/remove",
        data={"csrf_token": hidden(html, "csrf_token"), "device": strangers_phone.kid, "confirm": "yes"},
    )
    assert app_factor.find_device(strangers_phone.kid) is not None
    # The last device gone: the app is no longer one of the citizen's factors.
    app_factor.remove_device(citizen, app_factor.find_device(second.kid))
    db.session.commit()
    assert enrolment(citizen, "app") is None


def test_push_outbox_for_every_device(app, clock, citizen, rp, tmp_path):
    _enrolled(app, clock, citizen)
    _enrolled(app, clock, citizen, name="Nettbrett")
    _waiting_page(app.test_client(), citizen)
    lines = (tmp_path / "push.jsonl").read_text().splitlines()
    assert len({json.loads(line)["device"] for line in lines}) == 2


class _Response:
    def __init__(self, status: int):
        self.status_code = status
        self.text = ""
        self.headers = {}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_web_push_is_encrypted_for_the_subscription_and_signed_with_vapid(tmp_path, monkeypatch):
    import http_ece

    from idp.mfa.gateways import push

    vapid = ec.generate_private_key(ec.SECP256R1())
    pem = vapid.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "vapid.pem").write_bytes(pem)
    # The browser's side of the subscription: its own key pair and auth secret.
    receiver = ec.generate_private_key(ec.SECP256R1())
    auth_secret = secrets.token_bytes(16)
    point = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    subscription = {
        "endpoint": "https://push.example/send/abc",
        "keys": {"p256dh": _b64(point), "auth": _b64(auth_secret)},
    }
    sent = {}

    class Fetcher:  # what the push service received, through the one fetcher every outbound request uses
        def post(self, url, *, body, headers):
            sent.update(url=url, data=body, headers={k.lower(): v for k, v in headers.items()})
            return 201, b""

    gateway = push.WebPushGateway(tmp_path / "vapid.pem", "mailto:drift@example.no", fetcher=Fetcher())
    message = {"type": "approval", "approval": "a1", "service": "Skatt"}
    gateway.notify(device="kid", subscription=subscription, message=message)

    assert sent["url"] == subscription["endpoint"] and sent["headers"]["content-encoding"] == "aes128gcm"
    clear = http_ece.decrypt(sent["data"], private_key=receiver, auth_secret=auth_secret, version="aes128gcm")
    assert json.loads(clear) == message
    # RFC 8292: a JWT for the push service's origin, signed with our VAPID key, and that key.
    vapid_token = re.search(r"t=([^,\s]+)", sent["headers"]["authorization"]).group(1)
    assert re.search(r"k=([^,\s]+)", sent["headers"]["authorization"]).group(1) == gateway.public_key
    claims = json.loads(jws.deserialize_compact(vapid_token, ECKey.import_key(vapid.public_key())).payload)
    assert claims["aud"] == "https://push.example" and claims["sub"] == "mailto:drift@example.no"


def test_web_push_never_aims_at_our_own_network(tmp_path, monkeypatch):
    """The endpoint came from a device: the fetcher refuses internal addresses before connecting, and connects
    to the addresses it checked (no second lookup a rebinding DNS could answer otherwise), following no redirect."""
    import socket

    from idp.fetch import Fetcher
    from idp.mfa.gateways import push

    vapid = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "vapid.pem").write_bytes(
        vapid.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("an internal address was contacted"))
    gateway = push.WebPushGateway(
        tmp_path / "vapid.pem", "mailto:drift@example.no", fetcher=Fetcher(deadline_seconds=3, max_bytes=4096)
    )
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    for endpoint in (
        "https://127.0.0.1/send",
        "https://[::1]:8443/send",
        "https://169.254.169.254/latest",
        "https://[::1/x",
    ):
        subscription = {"endpoint": endpoint, "keys": {"p256dh": _b64(point), "auth": _b64(secrets.token_bytes(16))}}
        with pytest.raises(push.PushError, match="web push failed"):
            gateway.notify(device="kid", subscription=subscription, message={})
    gateway.notify(device="kid", subscription=None, message={})  # no subscription: the app polls


def test_push_gateway_config(config, tmp_path, monkeypatch):
    import requests

    from idp.config import ConfigError
    from idp.mfa.gateways import push
    from tests.conftest import replace

    with pytest.raises(ConfigError, match="push_http_url"):
        push.make_push_gateway(replace(config, "app", push_gateway="http"))
    with pytest.raises(ConfigError, match="vapid_private_key"):
        push.make_push_gateway(replace(config, "app", push_gateway="webpush"))
    with pytest.raises(ConfigError, match="console, file, http or webpush"):
        push.make_push_gateway(replace(config, "app", push_gateway="pigeon"))
    calls = []
    monkeypatch.setattr(requests, "post", lambda *a, **k: calls.append(k) or _Response(503 if len(calls) < 2 else 202))
    gateway = push.make_push_gateway(replace(config, "app", push_gateway="http", push_http_url="https://relay.example"))
    gateway.notify(device="kid", subscription=None, message={"approval": "a1"})
    assert len(calls) == 2 and calls[0]["json"] == {"device": "kid", "message": {"approval": "a1"}}
    monkeypatch.setattr(requests, "post", lambda *a, **k: _Response(400))
    with pytest.raises(push.PushError, match="refused"):
        gateway.notify(device="kid", subscription=None, message={})
