"""Hostile input the fuzz suite (tests/fuzz) found or security issue #9 listed, one test each.

Each gets the spec's error (``invalid_request``, ``invalid_client``...) or a
4xx page, never a 5xx, never a redirect it should not make, and never the
loss of a login the citizen completed.
"""

from __future__ import annotations

import base64
import json
import math
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp import transactions
from idp.extensions import db
from tests.conftest import PASSWORD, add_client, build_app, make_config
from tests.flows import REDIRECT_URI, authorize_params, basic, login_for_code, query, submit_password
from tests.oidc.test_code_flow import exchange

ISSUER = "http://127.0.0.1:5000"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
INITIAL_ACCESS_TOKEN = "initial-token-for-hostile-tests"


def _is_error_page(response) -> bool:
    return response.status_code == 400 and response.location is None and response.mimetype == "text/html"


# ---------------------------------------------------------------- NUL, which PostgreSQL cannot store


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/authorize?client_id=rp1%00&response_type=code", None),
        ("get", "/login?tx=abc%00", None),
        ("get", "/logout?client_id=rp1%00", None),
    ],
)
def test_nul_in_a_page_request_gets_a_400_page(app, method, path, data):
    # PostgreSQL refuses NUL in text: the lookup failed with a 500.
    response = getattr(app.test_client(), method)(path, data=data)
    assert _is_error_page(response)


@pytest.mark.parametrize(
    ("path", "data", "headers"),
    [
        ("/token", {"grant_type": "authorization_code", "code": "x", "client_id": "rp1\x00", "client_secret": "s"}, {}),
        ("/revoke", {"token": "t\x00"}, basic("rp1", "rp1-secret")),
        ("/par", {"client_id": "rp1", "client_secret": "x", "nonce": "\x00"}, {}),
    ],
    ids=["token-form", "revoke", "par"],
)
def test_nul_at_a_machine_endpoint_gets_json_invalid_request(app, rp, path, data, headers):
    response = app.test_client().post(path, data=data, headers=headers)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("invalid_request", "invalid_client")


# ---------------------------------------------------------------- JSON nested too deeply


def test_a_claims_parameter_nested_too_deeply_is_invalid_request(app, rp):
    response = app.test_client().get("/authorize", query_string=authorize_params(claims="[" * 5000 + "]" * 5000))
    assert response.status_code == 302
    assert query(response.location)["error"] == "invalid_request"


def test_an_unsigned_request_object_nested_too_deeply_is_refused(app, rp):
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header, payload = part(b'{"alg": "none"}'), part(b"[" * 5000)
    response = app.test_client().get("/authorize", query_string=authorize_params(request=f"{header}.{payload}."))
    assert response.status_code == 302
    assert query(response.location)["error"] == "invalid_request_object"


# ---------------------------------------------------------------- the authorization request


@pytest.mark.parametrize(
    "value", ["code\x01", "c\U000fe2ea", "codé", "\u202ecode"], ids=["control", "private", "accent", "rtl"]
)
def test_response_type_outside_printable_ascii_is_invalid_request(app, rp, value):
    # Authlib put the value into its error description, then refused the description's characters: a 500.
    response = app.test_client().get("/authorize", query_string=authorize_params(response_type=value, state="st"))
    assert response.status_code == 302
    back = query(response.location)
    assert response.location.startswith(REDIRECT_URI)
    assert back["error"] == "invalid_request"
    assert back["state"] == "st"


@pytest.mark.parametrize("value", [REDIRECT_URI + "\x1b", REDIRECT_URI + "é", "https://rp.example/\ncallback"])
def test_redirect_uri_outside_printable_ascii_gets_a_page_never_a_redirect(app, rp, value):
    response = app.test_client().get("/authorize", query_string=authorize_params(redirect_uri=value))
    assert _is_error_page(response)
    assert "invalid_request" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "9" * 5000, "9" * 20, "-1", "1.5"])
def test_max_age_must_be_ascii_digits_of_reasonable_size(app, rp, value):
    # "²" passed isdigit() and failed int(); 5000 digits failed int(); 20 digits overflowed timedelta.
    response = app.test_client().get("/authorize", query_string=authorize_params(max_age=value))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert query(response.location)["error"] == "invalid_request"


def test_an_oversized_state_is_refused_without_being_echoed(app, rp):
    # POSTed, as a browser can: the 100 KB state went back in the Location header.
    response = app.test_client().post("/authorize", data=authorize_params(state="A" * 100_000))
    assert response.status_code == 302
    assert len(response.location) < 2000
    back = query(response.location)
    assert back["error"] == "invalid_request"
    assert "state" not in back


def test_a_state_at_the_limit_still_fits_in_a_redirect(app, rp):
    state = "\"'<>&%" * (1024 // 6)  # every character percent-encoded: three bytes each
    response = app.test_client().get("/authorize", query_string=authorize_params(state=state, prompt="none"))
    assert response.status_code == 302
    assert query(response.location)["state"] == state
    assert len(response.headers["Location"]) < 8 * 1024


def test_a_pretty_printed_claims_request_is_honoured(app, citizen, rp):
    claims = json.dumps({"id_token": {"email": None}}, indent=2)
    back = login_for_code(app.test_client(), pid=citizen.pid, password=PASSWORD, scope="openid email", claims=claims)
    assert "code" in back


# ---------------------------------------------------------------- values longer than their columns


@pytest.mark.parametrize(
    "params",
    [{"nonce": "n" * 513}, {"scope": "openid " + "profile " * 150}, {"code_challenge": "c" * 129}],
    ids=["nonce", "scope", "code_challenge"],
)
def test_values_longer_than_their_columns_are_refused_before_the_login(app, citizen, rp, params):
    # On PostgreSQL the code's INSERT failed after the citizen had logged in: the login was lost.
    response = app.test_client().get("/authorize", query_string=authorize_params(**params))
    assert response.status_code == 302
    assert response.location.startswith(REDIRECT_URI), response.location
    assert query(response.location)["error"] == "invalid_request"


def test_values_at_their_column_lengths_complete_the_login(app, citizen, rp):
    back = login_for_code(
        app.test_client(), pid=citizen.pid, password=PASSWORD, nonce="n" * 512, scope="openid profile"
    )
    assert "code" in back


# ---------------------------------------------------------------- client authentication


@pytest.mark.parametrize("endpoint", ["/token", "/revoke", "/introspect", "/par"])
def test_basic_credentials_that_are_not_utf8_are_invalid_client(app, rp, endpoint):
    header = "Basic " + base64.b64encode(b"\xff\xfe:\xc3(").decode()
    response = app.test_client().post(
        endpoint, data={"token": "x", "grant_type": "x"}, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("header", ["Basic \u00ff\u00fe==", "Basic ", "basic  "], ids=["latin-1", "empty", "spaces"])
def test_basic_credentials_that_are_not_ascii_base64_are_invalid_client(app, rp, header):
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": "x"}, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_nul_in_basic_credentials_is_invalid_client(app, rp):
    # Authlib looked the client up by whatever the credentials held: on PostgreSQL, a 500.
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": "x"}, headers=basic("rp1\x00", "rp1-secret")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_plain_http_request_for_another_host_gets_json_not_a_500(tmp_path):
    # Authlib refuses OAuth over http except to localhost, outside its own error handling. The host
    # must be one we answer (server.trusted_hosts), or the request is refused before Authlib sees it.
    app = build_app(make_config(tmp_path, IDP_SERVER_TRUSTED_HOSTS="idp.example,127.0.0.1,localhost"))
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": "x"}, base_url="http://idp.example"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "insecure_transport"


def test_a_request_for_a_host_we_do_not_answer_is_refused_before_authlib(app, rp):
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": "x"}, base_url="http://idp.example"
    )
    assert response.status_code == 400
    assert response.mimetype == "text/plain"


# ---------------------------------------------------------------- logout


def test_an_oversized_logout_state_is_refused_without_logging_out(app):
    # The reason is the developers' English text: an English page shows it.
    response = app.test_client().get("/logout", query_string={"state": "A" * 5000}, headers={"Accept-Language": "en"})
    assert _is_error_page(response)
    assert "state: malformed or too long" in response.get_data(as_text=True)


# ---------------------------------------------------------------- client assertions (private_key_jwt)


@pytest.fixture
def jwt_client(app):
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    add_client(
        client_id="jwt-rp", secret=None, auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
    )
    return key


def _assertion(key, **claims) -> str:
    moment = int(time.time())
    body = {"iss": "jwt-rp", "sub": "jwt-rp", "aud": ISSUER + "/token", "jti": f"j{time.monotonic_ns()}", "iat": moment}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {"exp": moment + 60, **body, **claims}, key)


def _exchange_with(app, citizen, assertion: str):
    http = app.test_client()
    back = login_for_code(http, pid=citizen.pid, password=PASSWORD, client_id="jwt-rp", redirect_uri=REDIRECT_URI)
    return exchange(http, back["code"], auth=None, client_assertion=assertion, client_assertion_type=JWT_BEARER)


@pytest.mark.parametrize(
    "exp",
    [int(time.time()) + 365 * 86400, int(time.time()) + 3600, 2**62, math.nan],
    ids=["year", "hour", "far", "nan"],
)
def test_a_client_assertion_that_lives_too_long_is_refused(app, citizen, jwt_client, exp):
    # Its jti is remembered for ten minutes: an assertion valid for a year could be replayed after that.
    response = _exchange_with(app, citizen, _assertion(jwt_client, exp=exp))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_client"


def test_a_client_assertion_five_minutes_ahead_is_accepted(app, citizen, jwt_client):
    response = _exchange_with(app, citizen, _assertion(jwt_client, exp=int(time.time()) + 300))
    assert response.status_code == 200, response.get_json()


def test_a_client_assertion_payload_nested_too_deeply_is_invalid_client(app, jwt_client):
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    response = app.test_client().post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": f"{header}.{payload}.c2ln",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("jti", ["j" * 300, 42], ids=["long", "number"])
def test_any_jti_is_remembered_on_a_database_store(store_in_database, jti):
    """A jti is a key in the short-lived store; on PostgreSQL without Redis its column holds 255 characters."""
    app, key = store_in_database
    http = app.test_client()
    form = {"grant_type": "refresh_token", "refresh_token": "unknown", "client_assertion_type": JWT_BEARER}
    first = http.post("/token", data={**form, "client_assertion": _assertion(key, jti=jti)})
    assert first.status_code == 400
    assert first.get_json()["error"] == ("invalid_grant" if isinstance(jti, str) else "invalid_client")


@pytest.fixture
def store_in_database(tmp_path, backend):
    """The app on the backend's database with the store in that database too (no Redis)."""
    env = {name: value for name, value in backend.env.items() if not name.startswith("IDP_REDIS")}
    app = build_app(make_config(tmp_path, **env))
    with app.app_context():
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        add_client(
            client_id="jwt-rp", secret=None, auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}
        )
        yield app, key
        db.session.remove()


# ---------------------------------------------------------------- registration


@pytest.fixture
def registering_app(tmp_path, backend):
    env = {
        **backend.env,
        "IDP_REGISTRATION_ENABLED": "true",
        "IDP_REGISTRATION_INITIAL_ACCESS_TOKEN": INITIAL_ACCESS_TOKEN,
    }
    app = build_app(make_config(tmp_path, **env))
    with app.app_context():
        yield app
        db.session.remove()


def _register(app, body: bytes | dict):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.test_client().post(
        "/register",
        data=data,
        content_type="application/json",
        headers={"Authorization": f"Bearer {INITIAL_ACCESS_TOKEN}"},
    )


def test_an_initial_access_token_beyond_ascii_is_refused(registering_app):
    response = registering_app.test_client().post(
        "/register", json={"redirect_uris": ["https://rp.example/cb"]}, headers={"Authorization": "Bearer \u00f8"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_registration_json_nested_too_deeply_is_invalid_metadata(registering_app):
    response = _register(registering_app, b'{"redirect_uris": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example/cb\r\nX-Injected: 1",
        "https://rp.example/c b",
        "https://rp.example;script-src 'unsafe-inline'/cb",
        "https://rp.example:99999/cb",
        "https://user:secret@rp.example/cb",
        "https://rp.example/" + "a" * 1000,
        "https://rp.example/cb\x00",
        "https://\u0440\u0440.example/cb",
    ],
    ids=["crlf", "space", "csp", "port", "userinfo", "long", "nul", "idn"],
)
def test_registration_refuses_malformed_redirect_uris(registering_app, uri):
    response = _register(registering_app, {"redirect_uris": [uri]})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "metadata",
    [
        {"client_name": "Tjeneste\x00"},
        {"client_name": "\u202eenesteJ"},
        {"default_max_age": 10**20},
        {"jwks": {"keys": [{}]}, "token_endpoint_auth_method": "private_key_jwt"},
        {"frontchannel_logout_uri": "https://rp.example;frame-src */x"},
    ],
    ids=["nul-name", "rtl-name", "huge-max-age", "bad-jwks", "csp-logout-uri"],
)
def test_registration_refuses_metadata_that_would_fail_later(registering_app, metadata):
    response = _register(registering_app, {"redirect_uris": ["https://rp.example/cb"], **metadata})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_client_metadata"


# ---------------------------------------------------------------- cookies


def test_a_session_cookie_that_is_not_ascii_names_no_session(app, rp):
    http = app.test_client()
    http.set_cookie("idp_session", "ø-not-ours")
    response = http.get("/authorize", query_string=authorize_params())
    assert response.status_code == 302
    assert response.location.startswith("/login")
    assert http.get("/profile").location == "/profile/login"


# ---------------------------------------------------------------- what the login transaction keeps


def test_login_hint_fills_in_the_form_once_and_is_not_kept(app, citizen, rp):
    http = app.test_client()
    start = http.get("/authorize", query_string=authorize_params(login_hint=citizen.pid))
    tx_id = query(start.location)["tx"]
    assert transactions.load(tx_id).params["login_hint"] == citizen.pid
    page = http.get(start.location)
    assert f'value="{citizen.pid}"' in page.get_data(as_text=True)
    assert "login_hint" not in transactions.load(tx_id).params
    assert citizen.pid not in json.dumps(transactions.load(tx_id).to_json())
    response = submit_password(http, start.location, pid=citizen.pid, password=PASSWORD)
    assert response.status_code == 302
    assert query(http.get(response.location).location)["code"]


# ---------------------------------------------------------------- the Host header and the path


@pytest.mark.parametrize("path", ["/static//idp.css", "/profile//login", "/login//step"])
def test_a_path_with_a_double_slash_is_not_found_rather_than_redirected(app, path):
    # Werkzeug redirected to the merged path: an absolute URL from the Host header, with the query.
    # (A foreign Host is refused before routing: tests/unit/test_trusted_hosts.py.)
    response = app.test_client().get(path + "?state=" + "A" * 9000, headers={"Host": "localhost"})
    assert response.status_code == 404
    assert response.location is None


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..example", "a" * 300])
def test_a_host_header_that_is_no_host_name_gets_a_400(app, host):
    # Werkzeug refuses it while routing; the 400 page then could not build its links: a 500.
    response = app.test_client().get("/", headers={"Host": host})
    assert response.status_code == 400
    assert response.headers["X-Frame-Options"] == "DENY"
