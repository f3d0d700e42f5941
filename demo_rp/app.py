"""The demo relying party: what a service does to log citizens in with idp, as code to copy.

Authlib's Flask client does the relying party's protocol work (state, nonce,
PKCE S256, token exchange, ID token signature and claims, refresh, the
RP-initiated logout URL and its state); joserfc verifies back-channel logout
tokens. The page offers a login, a step-up to substantial, ``prompt=login``,
refresh and logout, and lists the back-channel logouts it has received.

Tokens stay on the server (:class:`Logins`): Flask's session cookie is signed,
not secret, so it carries only a random key. This demo keeps them in memory,
for one process; a real service keeps them where its other session data is.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, redirect, render_template, request, session, url_for
from flask_wtf import CSRFProtect
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from demo_rp.texts import LANGUAGES, TEXTS

SUBSTANTIAL = "idporten-loa-substantial"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Login:
    """One citizen's login here: the tokens and what was verified from them."""

    token: dict
    claims: dict
    userinfo: dict
    refreshed: bool = False

    def pretty(self) -> str:
        return json.dumps({"id_token": self.claims, "userinfo": self.userinfo}, indent=2, ensure_ascii=False)


@dataclass
class Logins:
    """Logins by a random key, and the back-channel logouts received (the newest ten)."""

    by_key: dict[str, Login] = field(default_factory=dict)
    notices: deque = field(default_factory=lambda: deque(maxlen=10))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, login: Login) -> str:
        key = secrets.token_urlsafe(24)
        with self.lock:
            self.by_key[key] = login
        return key

    def get(self, key: str | None) -> Login | None:
        with self.lock:
            return self.by_key.get(key) if key else None

    def pop(self, key: str | None) -> Login | None:
        with self.lock:
            return self.by_key.pop(key, None) if key else None

    def end_session(self, sid: str) -> int:
        """Forget every login from the provider's session ``sid``; note the notice."""
        with self.lock:
            ended = [key for key, login in self.by_key.items() if login.claims.get("sid") == sid]
            for key in ended:
                del self.by_key[key]
            self.notices.appendleft({"at": datetime.now(UTC).strftime("%H:%M:%S"), "sid": sid[:8], "ended": len(ended)})
        return len(ended)


def create_rp(*, issuer: str, client_id: str, client_secret: str, scope: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_NAME"] = "demo_rp"
    csrf = CSRFProtect(app)
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )
    logins = Logins()

    def language() -> str:
        chosen = session.get("lang")
        return chosen if chosen in LANGUAGES else request.accept_languages.best_match(LANGUAGES) or "nb"

    def page(**values) -> str:
        lang = language()
        return render_template(
            "rp_index.html", lang=lang, t=TEXTS[lang], languages=LANGUAGES, notices=list(logins.notices), **values
        )

    @app.get("/")
    def index():
        notice = None
        if "state" in request.args:  # back from RP-initiated logout: the state must be the one we sent
            try:
                oauth.idp.validate_logout_response()
                notice = "logged_out"
            except OAuthError:
                pass
        login = logins.get(session.get("login"))
        if login is None and session.pop("login", None):
            notice = "ended_elsewhere"  # a back-channel logout ended it
        return page(login=login, notice=notice, problem=session.pop("problem", None))

    @app.get("/language/<lang>")
    def choose_language(lang: str):
        if lang in LANGUAGES:
            session["lang"] = lang
        return redirect(url_for("index"))

    @app.get("/login")
    def login():
        """A login; ``acr`` asks for substantial (a step-up when logged in lower), ``prompt=login`` a new one."""
        extra = {"ui_locales": language()}
        if request.args.get("acr") == SUBSTANTIAL:
            extra["acr_values"] = SUBSTANTIAL
        if request.args.get("prompt") == "login":
            extra["prompt"] = "login"
        if request.args.get("for") == "ward":  # representation (RFC 9396): the provider asks who the citizen acts for
            extra["authorization_details"] = json.dumps([{"type": "idporten:fullmakt", "permission_roles": ["helse"]}])
        return oauth.idp.authorize_redirect(url_for("callback", _external=True), **extra)

    @app.get("/callback")
    def callback():
        try:
            # Checks state, exchanges the code with the PKCE verifier, verifies the ID token and nonce.
            token = oauth.idp.authorize_access_token()
            userinfo = oauth.idp.userinfo(token=token)
        except OAuthError as error:  # access_denied, unmet_authentication_requirements, a wrong state...
            session["problem"] = ("login_failed", f"{error.error}: {error.description or ''}".strip(": "))
            return redirect(url_for("index"))
        logins.pop(session.get("login"))
        session["login"] = logins.add(Login(token=token, claims=dict(token["userinfo"]), userinfo=dict(userinfo)))
        return redirect(url_for("index"))

    @app.post("/refresh")
    def refresh():
        login = logins.get(session.get("login"))
        if login is None:
            return redirect(url_for("index"))
        try:
            token = oauth.idp.fetch_access_token(grant_type="refresh_token", refresh_token=login.token["refresh_token"])
            claims = dict(oauth.idp.parse_id_token(token, nonce=None))
        except (OAuthError, JoseError) as error:  # invalid_grant: expired, revoked (a logout), or replayed
            session["problem"] = ("refresh_failed", str(error))
            return redirect(url_for("index"))
        # OIDC Core §12.2: a refreshed ID token is about the same login.
        if any(claims.get(name) != login.claims.get(name) for name in ("iss", "sub", "aud", "auth_time")):
            session["problem"] = ("refresh_failed", "the refreshed ID token is about another login")
            return redirect(url_for("index"))
        login.token, login.claims, login.refreshed = token, claims, True
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout():
        """End our session, then the provider's (RP-Initiated Logout): it sends the browser back to /."""
        login = logins.pop(session.pop("login", None))
        if login is None:
            return redirect(url_for("index"))
        return oauth.idp.logout_redirect(
            url_for("index", _external=True), id_token_hint=login.token["id_token"], ui_locales=language()
        )

    @app.post("/backchannel-logout")
    @csrf.exempt  # the provider POSTs here, server to server; the signed logout token is the proof
    def backchannel_logout():
        try:
            claims = verify_logout_token(request.form.get("logout_token", ""))
        except (JoseError, ValueError):
            return Response('{"error": "invalid_request"}', 400, mimetype="application/json")
        logins.end_session(claims["sid"])
        return Response("", 200, headers={"Cache-Control": "no-store"})

    def verify_logout_token(value: str) -> dict:
        """Back-Channel Logout 1.0 §2.6: signed by the provider, for us, fresh, the logout event, no nonce.

        A replayed token can only end a session that is already ended, so its jti is not remembered here.
        """
        metadata = oauth.idp.load_server_metadata()
        algorithms = metadata["id_token_signing_alg_values_supported"]
        try:
            token = jwt.decode(value, KeySet.import_key_set(oauth.idp.fetch_jwk_set()), algorithms=algorithms)
        except InvalidKeyIdError:  # a key rotated in since we fetched the JWKS: fetch it once more
            token = jwt.decode(value, KeySet.import_key_set(oauth.idp.fetch_jwk_set(force=True)), algorithms=algorithms)
        if token.header.get("typ") != "logout+jwt":
            raise ValueError("not a logout token")
        required = {"essential": True}
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": client_id},
            iat=required,
            exp=required,
            jti=required,
            sid=required,
        ).validate(token.claims)
        events = token.claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events or "nonce" in token.claims:
            raise ValueError("not a back-channel logout event")
        if not isinstance(token.claims["sid"], str):
            raise ValueError("sid is not a string")
        return token.claims

    return app
