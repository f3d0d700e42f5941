"""The demo relying party: a real OIDC code flow with PKCE, ID token verified against the JWKS.

Authlib's Flask client does the relying party's work (state, nonce, PKCE
S256, token exchange, ID token signature and claims validation), so what
this page shows is what any certified client library would accept.
"""

from __future__ import annotations

import json
import secrets

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, session, url_for


def create_rp(*, issuer: str, client_id: str, client_secret: str, scope: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_NAME"] = "demo_rp"
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )

    @app.route("/")
    def index():
        return render_template("rp_index.html", result=session.get("result"))

    @app.route("/login/<level>")
    def login(level: str):
        extra = {"acr_values": level} if level != "any" else {}
        return oauth.idp.authorize_redirect(url_for("callback", _external=True), **extra)

    @app.route("/callback")
    def callback():
        from flask import request

        if "error" in request.args:
            session["result"] = {
                "error": request.args.get("error"),
                "description": request.args.get("error_description"),
            }
            return redirect(url_for("index"))
        token = oauth.idp.authorize_access_token()
        userinfo = oauth.idp.userinfo(token=token)
        session["result"] = {
            "id_token_claims": dict(token["userinfo"]),
            "userinfo": dict(userinfo),
            "pretty": json.dumps(
                {"id_token": dict(token["userinfo"]), "userinfo": dict(userinfo)}, indent=2, ensure_ascii=False
            ),
        }
        return redirect(url_for("index"))

    @app.route("/logout")
    def logout():
        session.clear()
        return redirect(url_for("index"))

    return app
