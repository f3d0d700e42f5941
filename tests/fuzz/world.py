"""The provider the fuzz suite attacks: clients of every kind, citizens with SMS and TOTP, live sessions.

One ``World`` per test (per backend): it registers a confidential, a public
and a ``private_key_jwt`` client and a dynamically registered one, signs two
citizens in through the real login (password and SMS code), and makes the
values a request needs to get past its first check: a fresh login
transaction, a CSRF token, a live authorization code or token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import Counter
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.extensions import db
from idp.mfa import enrolment
from idp.models import Client
from tests.conftest import PASSWORD, add_citizen, add_client
from tests.flows import hidden, query
from tests.fuzz import strategies as fz
from tests.mfa.flows import SmsOutbox

ISSUER = "http://127.0.0.1:5000"
ISSUER_HOST = "127.0.0.1"
REDIRECT_URI = "https://rp.example/callback"
PUBLIC_REDIRECT_URI = "https://app.example/cb"
LOGOUT_URI = "https://rp.example/logged-out"
REQUEST_URI = "https://rp.example/request.jwt"
INITIAL_ACCESS_TOKEN = "fuzz-initial-access-token"
ALL_SCOPES = ["openid", "profile", "email", "phone", "address", "pid", "offline_access"]
LEVELS = ["idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high"]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def fuzz_env(tmp_path) -> dict[str, str]:
    """The settings the fuzzed provider runs with (besides the backend's)."""
    return {
        # Every login needs the SMS code, as in MinID: the fuzz reaches the second-factor pages.
        "IDP_ASSURANCE_PASSWORD_ONLY": "false",
        "IDP_SMS_OUTBOX": str(tmp_path / "sms.jsonl"),
        "IDP_LETTERS_OUTBOX": str(tmp_path / "letters"),
        "IDP_REGISTRATION_ENABLED": "true",
        "IDP_REGISTRATION_INITIAL_ACCESS_TOKEN": INITIAL_ACCESS_TOKEN,
        # Thousands of requests from one address and against two accounts: the limits are
        # tested elsewhere, here they would only stop the fuzz at the first page.
        "IDP_LIMITS_IP_FAILURES": "100000000",
        "IDP_LIMITS_IP_CODES_SENT": "100000000",
        "IDP_LIMITS_ACCOUNT_CODES_SENT": "100000000",
        "IDP_LIMITS_FREE_FAILURES": "100000000",
        "IDP_LIMITS_ACCOUNT_FREE_FAILURES": "100000000",
        "IDP_LIMITS_MAX_FAILURES": "200000000",
        "IDP_SMS_MAX_SENDS": "100000000",
        "IDP_SMS_RESEND_SECONDS": "1",
    }


class IssuerClient(FlaskClient):
    """A test client that calls the provider at its issuer's address, as relying parties and browsers do."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", ISSUER)
        return super().open(*args, **kwargs)


class World:
    def __init__(self, app: Flask, tmp_path) -> None:
        app.test_client_class = IssuerClient
        self.app = app
        self.csrf: dict[int, str] = {}
        # (path, method, status) of every fuzzed request: how deep the fuzz got (pytest -rP shows it).
        self.seen: Counter[tuple[str, str, int]] = Counter()
        self.outbox = SmsOutbox(tmp_path / "sms.jsonl")
        self.secrets = {"rp1": "rp1-secret"}
        self.jwt_key = RSAKey.generate_key(2048, parameters={"kid": "fuzz-1"}, private=True)
        add_client(
            client_id="rp1",
            redirect_uris=(REDIRECT_URI,),
            post_logout_redirect_uris=[LOGOUT_URI],
            request_uris=[REQUEST_URI],
            frontchannel_logout_uri="https://rp.example/frontchannel",
        )
        add_client(
            client_id="public-app",
            secret=None,
            auth_method="none",
            redirect_uris=(PUBLIC_REDIRECT_URI,),
            scope="openid profile",
        )
        add_client(
            client_id="jwt-rp",
            secret=None,
            auth_method="private_key_jwt",
            redirect_uris=("https://jwt.example/cb",),
            jwks={"keys": [self.jwt_key.as_dict(private=False)]},
            scope="openid profile email",
        )
        self.client_ids = ["rp1", "public-app", "jwt-rp"]
        self.kari = add_citizen(app)
        self.ola = add_citizen(app, given_name="Ola")
        totp = app.extensions["idp.chain"].factors["totp"]
        self.totp_secret = totp.new_secret()
        for citizen in (self.kari, self.ola):
            enrolment.enrol(citizen, "sms", phone="+4791234567")
            totp.enrol(citizen, self.totp_secret)  # the login offers a choice; SMS stays preferred
            enrolment.set_preferred(citizen, "sms")
        db.session.commit()
        self.verifier = secrets.token_urlsafe(48)
        self.challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        # A browser with the SSO session (codes without the login pages), one signed in for
        # Min profil, and one that fills in login forms.
        self.sso = self._browser()
        self.sign_in(self.sso, self.kari)
        self.profile = self._browser()
        self.sign_in(self.profile, self.ola, profile=True)
        self.forms = self._browser()
        self.anonymous = app.test_client(use_cookies=False)
        tokens = self.tokens()
        self.id_token = tokens["id_token"]
        self.registered_id, self.registration_token = self._register()

    # ------------------------------------------------------------ set-up

    def _browser(self) -> FlaskClient:
        browser = self.app.test_client()
        browser.set_cookie("lang", "en", domain=ISSUER_HOST)
        return browser

    def sign_in(self, browser: FlaskClient, citizen, *, profile: bool = False) -> None:
        """The real login, password then SMS code, leaving the session cookie in ``browser``."""
        start = browser.get("/profile/login") if profile else browser.get("/authorize", query_string=self.authorize())
        assert start.status_code in (302, 303) and start.location.startswith("/login"), start.get_data(as_text=True)
        tx = query(start.location)["tx"]
        self.to_sms_step(browser, tx, citizen.pid)
        done = browser.post(
            "/login/step",
            data={"csrf_token": self.csrf_token(browser), "tx": tx, "code": self.outbox.last_code()},
        )
        assert done.status_code in (302, 303), done.get_data(as_text=True)
        back = browser.get(done.location)  # the relying party's redirect, or the profile page
        assert back.status_code == (200 if profile else 302), back.get_data(as_text=True)

    def to_sms_step(self, browser: FlaskClient, tx: str, pid: str) -> None:
        """Password, then the choice of SMS (the citizens also have TOTP): the code is sent."""
        step = self.password(browser, tx, pid)
        assert step.status_code in (302, 303) and step.location.startswith("/login/step"), step.get_data(as_text=True)
        chosen = browser.post("/login/choose", data={"csrf_token": self.csrf_token(browser), "tx": tx, "factor": "sms"})
        assert chosen.status_code in (302, 303), chosen.get_data(as_text=True)
        page = browser.get(chosen.location)
        assert page.status_code == 200, page.get_data(as_text=True)

    def password(self, browser: FlaskClient, tx: str, pid: str):
        return browser.post(
            "/login", data={"csrf_token": self.csrf_token(browser), "tx": tx, "pid": pid, "password": PASSWORD}
        )

    def _register(self) -> tuple[str, str]:
        response = self.anonymous.post(
            "/register",
            json={"redirect_uris": ["https://dyn.example/cb"], "client_name": "Dynamisk"},
            headers={"Authorization": f"Bearer {INITIAL_ACCESS_TOKEN}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        body = response.get_json()
        return body["client_id"], body["registration_access_token"]

    # ------------------------------------------------------------ fresh values

    def authorize(self, **overrides: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": "rp1",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile offline_access",
            "state": "s",
            "nonce": "n",
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        return {**params, **overrides}

    def csrf_token(self, browser: FlaskClient) -> str:
        """A CSRF token for ``browser``'s Flask session, from a page that has a form."""
        key = id(browser)
        if key not in self.csrf:
            page = browser.get("/profile/activation")
            self.csrf[key] = hidden(page.get_data(as_text=True), "csrf_token")
        return self.csrf[key]

    def tx(self) -> str:
        """A login transaction waiting for the password."""
        start = self.anonymous.get("/authorize", query_string=self.authorize())
        return query(start.location)["tx"]

    def choice_tx(self) -> str:
        """A login transaction past the password, at the choice of a second factor."""
        tx = self.tx()
        self.password(self.forms, tx, self.kari.pid)
        return tx

    def step_tx(self) -> str:
        """A login transaction past the password, SMS chosen and its code sent."""
        tx = self.tx()
        self.to_sms_step(self.forms, tx, self.kari.pid)
        return tx

    def code(self) -> str:
        """A live authorization code for rp1 (from the SSO session; PKCE with ``self.verifier``)."""
        back = self.sso.get("/authorize", query_string=self.authorize())
        if "code" not in query(back.location or ""):
            self.sign_in(self.sso, self.kari)  # a fuzzed request ended the session
            back = self.sso.get("/authorize", query_string=self.authorize())
        return query(back.location)["code"]

    def tokens(self) -> dict:
        response = self.anonymous.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": self.code(),
                "redirect_uri": REDIRECT_URI,
                "code_verifier": self.verifier,
            },
            headers={"Authorization": fz.basic_credentials("rp1", "rp1-secret")},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def grant(self) -> str:
        """An activation grant, as a used activation letter leaves it (see idp/web/profile.py)."""
        grant = secrets.token_urlsafe(24)
        self.app.extensions["idp.store"].put("activation_grant", grant, {"citizen_id": self.ola.id}, ttl=900)
        db.session.commit()
        return grant

    def assertion(self, claims: dict) -> str:
        """A client assertion signed with jwt-rp's key, with the claims given (over sensible defaults)."""
        moment = int(time.time())
        body = {
            "iss": "jwt-rp",
            "sub": "jwt-rp",
            "aud": ISSUER + "/token",
            "jti": secrets.token_urlsafe(8),
            "iat": moment,
            "exp": moment + 60,
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": "fuzz-1"}, body, self.jwt_key)

    def make(self, value, browser: FlaskClient | None):
        """Replace a :class:`Fresh` placeholder (also inside lists and dicts) by a live value."""
        if isinstance(value, dict):
            return {k: self.make(v, browser) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.make(v, browser) for v in value)
        if not isinstance(value, fz.Fresh):
            return value
        match value.kind:
            case "csrf":
                return self.csrf_token(browser or self.forms)
            case "tx":
                return self.tx()
            case "step_tx":
                return self.step_tx()
            case "choice_tx":
                return self.choice_tx()
            case "code":
                return self.code()
            case "access_token" | "refresh_token":
                return self.tokens()[value.kind]
            case "totp_code":
                return pyotp.TOTP(self.totp_secret).at(self.app.extensions["idp.clock"]())
            case "sms_code":
                return self.outbox.last_code() if self.outbox.messages() else "00000"
            case "grant":
                return self.grant()
            case "assertion":
                return self.assertion({})
            case "sso_cookie":
                cookie = self.sso.get_cookie("idp_session", domain=ISSUER_HOST)
                return f"idp_session={cookie.value if cookie else ''}; lang=en"
            case "bearer":
                return "Bearer " + self.tokens()["access_token"]
        raise AssertionError(f"no fresh value of kind {value.kind}")

    def summary(self) -> str:
        seen: Counter[tuple[str, str, int]] = Counter()
        for (path, method, status), count in self.seen.items():
            seen[(path if len(path) < 60 else path[:57] + "...", method, status)] += count
        return "\n".join(
            f"{count:5} {method:7} {status} {path}" for (path, method, status), count in sorted(seen.items())
        )

    # ------------------------------------------------------------ what may be redirected to

    def registered_uris(self) -> set[str]:
        uris: set[str] = set()
        for redirect_uris, logout_uris in db.session.execute(
            sa.select(Client.redirect_uris, Client.post_logout_redirect_uris)
        ):
            uris.update(redirect_uris or [])
            uris.update(logout_uris or [])
        return uris

    # ------------------------------------------------------------ parameter values

    def plausible(self, name: str) -> st.SearchStrategy:
        """Values a relying party or a browser might really send for parameter ``name``."""
        one = st.sampled_from
        values: dict[str, st.SearchStrategy] = {
            "response_type": one(["code", "token", "id_token", "code id_token", "none"]),
            "client_id": one([*self.client_ids, self.registered_id, "nobody"]),
            "redirect_uri": one(
                [REDIRECT_URI, PUBLIC_REDIRECT_URI, REDIRECT_URI + "?x=1", "https://evil.example/callback"]
            ),
            "scope": fz.scopes([*ALL_SCOPES, "unknown"]),
            "state": fz.ascii_text(),
            "nonce": fz.ascii_text(),
            "code_challenge": one([self.challenge, "short"]),
            "code_challenge_method": one(["S256", "plain"]),
            "code_verifier": one([self.verifier, "x" * 43]),
            "max_age": one(["0", "1", "600", "86400"]),
            "prompt": one(["none", "login", "consent", "select_account", "none login"]),
            "acr_values": st.lists(one(LEVELS), max_size=2).map(" ".join),
            "claims": st.one_of(
                one(
                    [
                        json.dumps({"id_token": {"pid": None, "email": {"essential": True}}}),
                        json.dumps({"id_token": {"acr": {"essential": True, "value": LEVELS[2]}}}),
                        json.dumps({"userinfo": {"address": None}}),
                    ]
                ),
                fz.json_text(),
            ),
            "ui_locales": one(["nb", "en", "en-GB nb", "de"]),
            "login_hint": one([self.kari.pid, "01010112345", "12345"]),
            "id_token_hint": one([self.id_token, self.id_token[:-4] + "AAAA", "a.b.c"]),
            "request": st.builds(
                _unsigned_request, st.dictionaries(one(["client_id", "scope", "max_age"]), fz.ascii_text())
            ),
            "request_uri": one(["urn:ietf:params:oauth:request_uri:unknown", REQUEST_URI]),
            "response_mode": one(["query", "form_post", "fragment", "jwt"]),
            "grant_type": one(["authorization_code", "refresh_token", "client_credentials", "password"]),
            "code": st.one_of(
                one([fz.Fresh("code"), fz.Fresh("sms_code"), fz.Fresh("totp_code"), "12345"]), fz.ascii_text()
            ),
            "refresh_token": one([fz.Fresh("refresh_token"), "unknown"]),
            "client_secret": one(["rp1-secret", "wrong"]),
            "client_assertion": st.one_of(
                one([fz.Fresh("assertion"), "a.b.c"]),
                st.builds(self.assertion, st.fixed_dictionaries({}, optional=_assertion_claims())),
            ),
            "client_assertion_type": one([JWT_BEARER, "other"]),
            "token": one([fz.Fresh("access_token"), fz.Fresh("refresh_token"), "unknown"]),
            "token_type_hint": one(["access_token", "refresh_token", "id_token"]),
            "access_token": one([fz.Fresh("access_token"), "unknown"]),
            "post_logout_redirect_uri": one([LOGOUT_URI, REDIRECT_URI, "https://evil.example/"]),
            "tx": one([fz.Fresh("tx"), fz.Fresh("step_tx"), fz.Fresh("choice_tx"), "unknown"]),
            "csrf_token": one([fz.Fresh("csrf"), "wrong"]),
            "pid": one([self.kari.pid, self.ola.pid, "01010112345", "1234567890"]),
            "password": one([PASSWORD, "wrong-password"]),
            "factor": one(["sms", "totp", "pin", "password"]),
            "confirm": one(["yes", "no"]),
            "phone": one(["+4791234567", "91234567", "004791234567", "123"]),
            "current": one([PASSWORD, "wrong-password"]),
            "new": one(["nytt-passord-42", "kort"]),
            "repeat": one(["nytt-passord-42", "annet"]),
            "next": one(["/", "/profile", "//evil.example", "/\t/evil.example", "/\\evil.example", "/" + "a" * 9000]),
            "grant": one([fz.Fresh("grant"), "unknown"]),
            "acr": one(LEVELS),
            "lang": one(["nb", "en"]),
        }
        return values.get(name, fz.ascii_text())

    def parameters(self, base: tuple[str, ...]) -> st.SearchStrategy[dict]:
        """A request's parameters: ``base`` with plausible values, a few replaced by hostile ones, a few added."""
        names = sorted(PARAMETER_NAMES)

        @st.composite
        def build(draw):
            params = {name: draw(self.plausible(name)) for name in base}
            for name in draw(st.sets(st.sampled_from(base), max_size=2)) if base else ():
                del params[name]
            for name in draw(st.lists(st.sampled_from(names), max_size=3)):
                params[name] = draw(fz.mixed(self.plausible(name)))
            return params

        return build()

    def metadata(self) -> st.SearchStrategy[dict]:
        """Client metadata for registration (RFC 7591 §2): plausible, with hostile members."""
        uris = st.lists(fz.mixed(st.sampled_from(["https://dyn.example/cb", "http://localhost/cb"])), max_size=3)
        plausible = {
            "client_name": fz.mixed(st.just("Tjenesten")),
            "token_endpoint_auth_method": st.sampled_from(["client_secret_basic", "none", "private_key_jwt", "x"]),
            "grant_types": st.lists(st.sampled_from(["authorization_code", "refresh_token", "implicit"]), max_size=2),
            "response_types": st.lists(st.sampled_from(["code", "token"]), max_size=2),
            "scope": fz.mixed(fz.scopes(ALL_SCOPES)),
            "jwks": st.just({"keys": [self.jwt_key.as_dict(private=False)]}),
            "jwks_uri": fz.mixed(st.just("https://dyn.example/jwks")),
            "sector_identifier_uri": fz.mixed(st.just("https://dyn.example/sector.json")),
            "post_logout_redirect_uris": uris,
            "default_max_age": st.one_of(st.integers(), fz.hostile()),
            "default_acr_values": st.lists(fz.mixed(st.sampled_from(LEVELS)), max_size=2),
            "logo_uri": fz.mixed(st.just("https://dyn.example/logo.png")),
            "contacts": st.lists(fz.hostile(), max_size=2),
            "subject_type": st.sampled_from(["pairwise", "public", "x"]),
            "id_token_signed_response_alg": st.sampled_from(["RS256", "ES256", "none", "HS256"]),
            "backchannel_logout_uri": fz.mixed(st.just("https://dyn.example/bc")),
            "require_pushed_authorization_requests": st.one_of(st.booleans(), fz.hostile()),
        }
        json_values = st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), fz.hostile()),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(fz.ascii_text(), inner, max_size=3),
            max_leaves=8,
        )
        return st.builds(
            lambda chosen, extra: {**chosen, **extra},
            st.fixed_dictionaries({"redirect_uris": uris}, optional=plausible),
            st.dictionaries(st.sampled_from(sorted(plausible)), json_values, max_size=2),
        )


# Every parameter name the strategies know; a request may carry any of them anywhere.
PARAMETER_NAMES = frozenset(
    {
        *("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge"),
        *("code_challenge_method", "code_verifier", "max_age", "prompt", "acr_values", "claims", "ui_locales"),
        *("login_hint", "id_token_hint", "request", "request_uri", "response_mode", "grant_type", "code"),
        *("refresh_token", "client_secret", "client_assertion", "client_assertion_type", "token"),
        *("token_type_hint", "access_token", "post_logout_redirect_uri", "tx", "csrf_token", "pid"),
        *("password", "factor", "confirm", "phone", "current", "new", "repeat", "next", "grant", "acr", "lang"),
    }
)


def _unsigned_request(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def _assertion_claims() -> dict[str, st.SearchStrategy]:
    """Client assertion claims, sensible and not: a year ahead, in the past, of the wrong type."""
    moment = int(time.time())
    times = st.one_of(
        st.sampled_from([moment + 30, moment + 3600, moment + 365 * 86400, moment - 3600, 2**63]),
        st.integers(),
        st.just("soon"),
    )
    return {
        "exp": times,
        "iat": times,
        "nbf": times,
        "aud": st.sampled_from([ISSUER, ISSUER + "/token", "https://other.example"]),
        "jti": fz.mixed(st.just("j")),
        "sub": st.sampled_from(["jwt-rp", "rp1"]),
    }


def allowed_location(world: World, location: str) -> bool:
    """Our own paths, our issuer, or exactly a registered redirect or post-logout URI (plus a query)."""
    if any(c in location for c in "\r\n\t\x00"):
        return False
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        # Browsers read "/\host" as "//host": a local path starts with one slash and no backslash.
        return location.startswith("/") and location[1:2] not in ("/", "\\")
    if f"{parts.scheme}://{parts.netloc}" == ISSUER:
        return True
    return location.split("?", 1)[0] in world.registered_uris()
