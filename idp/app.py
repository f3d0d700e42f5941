"""The application factory."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from idp import ops
from idp.clock import Clock, system_clock
from idp.config import Config, ConfigError, load_config, load_secrets
from idp.documents import DocumentRoutes
from idp.errors import bad_request, error_page, for_machine, machine_error
from idp.extensions import babel, csrf, db, migrate
from idp.fetch import Fetcher
from idp.hosts import TrustedHosts
from idp.locales import select_locale
from idp.mfa.chain import Chain, load_factors
from idp.mfa.gateways.email import make_email_gateway
from idp.mfa.gateways.letter import make_letter_gateway
from idp.mfa.password import make_hasher
from idp.oidc.client_cache import ClientCache, forget_on_commit
from idp.oidc.discovery import JwksDocument, discovery_document, provider_metadata
from idp.oidc.keys import KeyRing
from idp.oidc.lean.routes import lean_routes
from idp.oidc.server import make_server
from idp.policy.assurance import AssurancePolicy
from idp.policy.levels import Levels
from idp.policy.limits import Limits
from idp.population import EmbeddedRegister
from idp.store import make_store
from idp.untrusted import JsonProvider, refuse_nul

PACKAGE = Path(__file__).resolve().parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# No pool_pre_ping: it costs every request one more database round trip. A connection
# that died (database restart, failover) fails the one request that meets it, which gets
# the 503 page, and SQLAlchemy then replaces every connection the pool held. Recycling
# old connections keeps ones idle past a firewall's or proxy's timeout from being met.
POOL_RECYCLE_SECONDS = 300


def create_app(config: Config | None = None, *, clock: Clock = system_clock, load_keys: bool = True) -> Flask:
    """Build the provider. ``load_keys=False`` serves CLI commands that run before keys exist."""
    config = config or load_config()
    check_database_writable(config.database_url)
    app = Flask(
        __name__,
        template_folder=str(PACKAGE / "templates"),
        static_folder=str(PACKAGE / "static"),
        instance_path=str(config.data_dir),
    )
    # Werkzeug would answer a "//" in a path with a redirect of its own: an absolute URL built from
    # the Host header, with the whole query string in it. No URL of ours has one: a 404 instead.
    app.url_map.merge_slashes = False
    secrets = load_secrets(config)
    app.config.update(
        IDP=config,
        SECRET_KEY=secrets["secret_key"],
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": POOL_RECYCLE_SECONDS},
        SESSION_COOKIE_NAME="idp_csrf",
        SESSION_COOKIE_SECURE=config.server.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=config.session.login_transaction_seconds,
        WTF_CSRF_SSL_STRICT=config.server.issuer.startswith("https://"),
        # Our pages word their own errors through Flask-Babel. With WTForms' i18n on, every form
        # loaded WTForms' catalog anew (0.2-0.5 ms, four times a login) to translate a label
        # no page shows.
        WTF_I18N_ENABLED=False,
        BABEL_DEFAULT_LOCALE=config.i18n.default_locale,
        BABEL_DEFAULT_TIMEZONE=config.i18n.time_zone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.session_interface = _SessionCookies()
    app.json = JsonProvider(app)
    app.before_request(refuse_nul)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    levels = Levels(tuple(config.assurance.levels))
    policy = AssurancePolicy(config, levels)
    app.extensions["idp.clock"] = clock
    app.extensions["idp.secrets"] = secrets
    app.extensions["idp.levels"] = levels
    app.extensions["idp.hasher"] = make_hasher(config.passwords)
    metadata = provider_metadata(config, acr_values=policy.reachable(clock()))
    app.extensions["idp.discovery_document"] = discovery_document(metadata)
    with app.app_context():
        app.extensions["idp.store"] = make_store(
            redis_url=config.redis.url or None, db=db, redis_prefix=config.redis.key_prefix, clock=clock
        )
    app.extensions["idp.policy"] = policy
    app.extensions["idp.chain"] = Chain(load_factors(config), policy)
    app.extensions["idp.limits"] = Limits(config.limits, app.extensions["idp.store"], secret=secrets["secret_key"])
    app.extensions["idp.letters"] = make_letter_gateway(config)
    app.extensions["idp.population"] = EmbeddedRegister()
    app.extensions["idp.email"] = make_email_gateway(config)
    app.extensions["idp.fetcher"] = Fetcher.from_config(config)
    if load_keys:
        app.extensions["idp.keys"] = KeyRing.load(config.keys_dir)
        # Reads the ring at each request: the key reload check swaps in a new one.
        app.extensions["idp.jwks_document"] = JwksDocument(lambda: app.extensions["idp.keys"], clock)
    app.extensions["idp.clients"] = ClientCache(config.clients.cache_seconds)
    forget_on_commit(app.extensions["idp.clients"])
    app.extensions["idp.server"] = make_server(app)

    from idp.api.admin import bp as admin_api_bp
    from idp.api.app_device import bp as app_api_bp
    from idp.oidc.endpoints import bp as oidc_bp
    from idp.oidc.logout import bp as logout_bp
    from idp.oidc.registration import bp as registration_bp
    from idp.web.forgot import bp as forgot_bp
    from idp.web.info import bp as info_bp
    from idp.web.info import check_branding
    from idp.web.login import bp as login_bp
    from idp.web.operating import bp as operating_bp
    from idp.web.order import bp as order_bp
    from idp.web.outcome import forget_on_post
    from idp.web.pages import bp as pages_bp
    from idp.web.profile import bp as profile_bp
    from idp.web.representation import bp as representation_bp

    app.register_blueprint(oidc_bp)
    app.register_blueprint(logout_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(login_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(info_bp)
    check_branding(config)
    app.register_blueprint(profile_bp)
    app.register_blueprint(operating_bp)
    app.register_blueprint(order_bp)
    app.register_blueprint(forgot_bp)
    app.before_request(forget_on_post)
    app.register_blueprint(admin_api_bp)
    app.register_blueprint(app_api_bp)
    app.register_blueprint(representation_bp)
    ops.init_app(app, config)
    app.jinja_env.globals["get_locale"] = get_locale
    app.register_error_handler(404, _not_found)
    app.register_error_handler(400, bad_request)
    # No framework page in any case: what a citizen's browser can meet gets our own, in the page's language.
    app.register_error_handler(405, _method_not_allowed)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(500, _server_error)
    _wrap(app, config)
    return app


def check_database_writable(url: str) -> None:
    """A SQLite file we could not write would fail the first login, not start-up: stop now, saying so.

    Asked with access(2), never by opening the file: closing any descriptor of a SQLite file drops
    every POSIX lock this process holds on it, and another process would then delete the WAL a
    running server still writes to (`idp serve --dev` lost its writes that way).
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    # Where SQLite writes: the file, and its folder (the journal); a missing folder is made in the nearest one.
    folder = path.parent if path.exists() else next(p for p in path.parents if p.exists())
    if (
        (path.exists() and not os.access(path, os.R_OK | os.W_OK))
        or not folder.is_dir()
        or not os.access(folder, os.W_OK | os.X_OK)
    ):
        raise ConfigError(f"database.url: cannot write {path}: give this user write access, or set IDP_DATABASE_URL")


def check_schema(app: Flask) -> None:
    """Serving before ``idp db upgrade`` would fail at the first request: stop at start-up, saying what to do."""
    wanted = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                found = set(MigrationContext.configure(connection).get_current_heads())
        except sa.exc.OperationalError:
            found = set()
    if found != wanted:
        at, needed = ", ".join(sorted(found)) or "empty", ", ".join(sorted(wanted))
        raise ConfigError(
            f"the database is not migrated (it is at {at}, this version needs {needed}): run `idp db upgrade`"
        )


def _not_found(_error: HTTPException):
    if for_machine():
        return machine_error("not_found", "There is no such resource.", 404)
    return error_page(_("Page not found"), _("Check the address."), status=404)


def _method_not_allowed(error: HTTPException):
    """A form's address opened as a page (a bookmark, a reload of an old page): nothing was sent."""
    allow = {"Allow": ", ".join(error.valid_methods)} if error.valid_methods else {}
    if for_machine():
        body, status = machine_error("invalid_request", "This method is not allowed here.", 405)
        return body, status, allow
    body, status = error_page(
        _("This page cannot be opened on its own"),
        _("Nothing was sent. Go back to the page you came from and try again."),
        status=405,
    )
    return body, status, allow


def _too_large(_error: HTTPException):
    # Nothing of a body this large is read, not even for the page's language (cookie, query or browser then).
    request.form = ImmutableMultiDict()
    request.files = ImmutableMultiDict()
    return error_page(_("Something in the request was wrong"), _("Go back and try again."), status=413)


def _server_error(_error: HTTPException):
    """An error of ours: the citizen gets a page in their language (the log has the details); machines get JSON."""
    db.session.rollback()
    if for_machine():
        response = jsonify(error="server_error", error_description="An unexpected error occurred.")
        response.headers["Cache-Control"] = "no-store"
        return response, 500
    return error_page(
        _("Something went wrong on our side"),
        _("Nothing was lost. Wait a minute, then go back to the service and start the login again."),
        status=500,
    )


def _wrap(app: Flask, config: Config) -> None:
    """The WSGI layers around Flask, innermost first."""
    discovery = app.extensions["idp.discovery_document"]
    documents = {
        "/healthz": lambda: ops.HEALTHZ,
        "/.well-known/openid-configuration": lambda: discovery,
        "/.well-known/oauth-authorization-server": lambda: discovery,
    }
    if "idp.jwks_document" in app.extensions:  # not in CLI commands that run before keys exist
        documents["/jwks"] = app.extensions["idp.jwks_document"]
    app.wsgi_app = TrustedHosts(DocumentRoutes(lean_routes(app), documents), config.server.hosts)
    ops.wrap(app, config, headers=security_headers(config))
    if config.server.trust_proxy_headers:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost: the request id, logs and routes see the client's address and scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session (it holds the CSRF token), with its serializer made once.

    Flask builds a new serializer, probing it with a JSON round trip, on every request
    that has a request context, cookie or not: about 9 µs each time.
    """

    _made: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        made = self._made
        if made is None or made[0] != keys:
            self._made = made = (keys, super().get_signing_serializer(app))
        return made[1]


def security_headers(config: Config) -> list[tuple[str, str]]:
    """Strict headers for every response; one that sets its own (a page with its own CSP) keeps it."""
    headers = [
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self' *; base-uri 'none'; object-src 'none'",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if config.server.issuer.startswith("https://"):
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers
