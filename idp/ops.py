"""Running the provider as one of several nodes: probes, metrics, request ids, logs, outages.

* ``/healthz`` answers while the process serves requests; ``/readyz`` only when the
  database, Redis (when configured) and the signing keys are usable, so a load
  balancer sends no citizen to a node that would fail them.
* ``/metrics`` in Prometheus text format. Under granian every worker is its own
  process, so ``idp serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and the page sums
  the workers' files (prometheus-client's multiprocess mode).
* Every request gets an id (a sane ``X-Request-ID`` from the load balancer is
  kept, else a new one), returned in the response and put on every log record
  written while handling it; logs are one JSON object per line.
* An unreachable state store or database becomes a 503 page telling the citizen
  to try again, never a stack trace, and the request's pending writes are rolled back.
* Each node notices a key rotation done on another node (a cheap ``stat`` of the
  shared keys folder, at most every ``keys.reload_check_seconds``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_babel import gettext as _
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from idp.clock import now
from idp.config import Config
from idp.documents import ENDPOINT_KEY, Document, WsgiApp
from idp.errors import error_page, for_machine
from idp.extensions import db
from idp.models import AuditEvent
from idp.oidc.keys import KeysError
from idp.store import RedisStore, StoreUnavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("idp.access")

bp = Blueprint("ops", __name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "idp_request_duration_seconds",
    "Time to answer a request, by Flask endpoint.",
    ["endpoint", "method"],
    # Argon2id logins take tenths of a second; metadata a millisecond.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter("idp_responses_total", "Responses by endpoint and status code.", ["endpoint", "status"])
LOGINS = Counter(
    "idp_logins_total",
    "Committed login attempts from the audit log, by factor (password, sms, ...) and result.",
    ["factor", "result"],
)
LOCKOUTS = Counter(
    "idp_lockouts_total",
    "Throttles begun, from the audit log: by scope (account, account_network, device, network) and stage "
    "(delayed: waits begin; held: refused until the failures are forgotten).",
    ["scope", "stage"],
)
CODES_SENT = Counter(
    "idp_codes_sent_total",
    "Committed one-time code sends from the audit log, by factor and result.",
    ["factor", "result"],
)
TOKENS = Counter("idp_tokens_issued_total", "Successful token endpoint responses, by grant type.", ["grant_type"])
UNAVAILABLE = Counter("idp_backend_unavailable_total", "Requests answered 503 because a backend was down.", ["backend"])

_GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# ---------------------------------------------------------------- probes and metrics


# A probe's answer never changes; DocumentRoutes serves it without Flask.
HEALTHZ = Document.json({"status": "alive"}, endpoint="ops.healthz", cache_control="no-store", conditional=False)


@bp.route("/healthz")
def healthz() -> Response:
    return HEALTHZ.response(None)


@bp.route("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"database": _database_ok(), "keys": _keys_ok()}
    store = current_app.extensions["idp.store"]
    if isinstance(store, RedisStore):
        checks["redis"] = store.ping()
    ready = all(checks.values())
    return _no_store(jsonify(status="ready" if ready else "unready", checks=checks)), 200 if ready else 503


def _database_ok() -> bool:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except OperationalError:
        return False
    finally:
        db.session.rollback()
    return True


def _keys_ok() -> bool:
    ring = current_app.extensions.get("idp.keys")
    if ring is None:
        return False
    moment = now()
    try:
        for kind in current_app.config["IDP"].keys.kinds:
            ring.signing_key(kind, now=moment)
    except KeysError:
        return False
    return True


@bp.route("/metrics")
def metrics() -> Response:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return _no_store(Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def prepare_multiprocess_dir(data_dir: Path) -> str:
    """An empty folder for the workers' metric files; stale files would add old counts."""
    path = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "prometheus")
    path.mkdir(parents=True, mode=0o700, exist_ok=True)
    # Only prometheus-client's own files: the folder may be one the operator chose.
    for stale in path.glob("*.db"):
        stale.unlink()
    return str(path)


# ---------------------------------------------------------------- per request

_request_id: ContextVar[str | None] = ContextVar("idp_request_id", default=None)


class RequestMiddleware:
    """WSGI around the whole app: what every response gets, whether Flask or ``DocumentRoutes`` made it.

    A request id, the security headers (those the response did not set itself),
    the key reload check, the latency histogram and response counter by endpoint,
    and one access log line. Done here rather than in Flask hooks because hooks
    only run for requests that get a Flask request context, and cost more.
    """

    def __init__(self, app: WsgiApp, *, headers: Sequence[tuple[str, str]], before: Callable[[], None]) -> None:
        self._app = app
        self._headers = tuple((name.lower(), (name, value)) for name, value in headers)
        self._before = before

    def __call__(self, environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        token = _request_id.set(request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            self._add_headers(headers, request_id)
            _record(environ, int(status[:3]), time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        try:
            self._before()
            return self._app(environ, start)
        finally:
            _request_id.reset(token)

    def _add_headers(self, headers: list[tuple[str, str]], request_id: str) -> None:
        present = {name.lower(): value for name, value in headers}
        headers.extend(header for name, header in self._headers if name not in present)
        # Pages may show a citizen's data: no cache keeps them. JSON sets its own policy.
        if "cache-control" not in present and present.get("content-type", "").startswith("text/html"):
            headers.append(("Cache-Control", "no-store"))
        headers.append(("X-Request-ID", request_id))


def _record(environ: dict, status: int, elapsed: float) -> None:
    endpoint = environ.get(ENDPOINT_KEY, "unmatched")
    method = environ["REQUEST_METHOD"]
    _observe(endpoint, method, status, elapsed)
    # The path only: query strings carry login hints (national identity numbers)
    # and transaction ids, which stay out of the logs.
    if access_log.isEnabledFor(logging.INFO):
        # makeRecord and handle, as Logger.info does, less its stack walk for a caller's file and
        # line, which the JSON lines do not show: a fifth of the line's cost.
        fields = {
            "method": method,
            "path": environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"),
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
        access_log.handle(
            access_log.makeRecord(access_log.name, logging.INFO, "", 0, "request", (), None, extra=fields)
        )


@functools.cache
def _timer(endpoint: str, method: str) -> Histogram:
    return REQUEST_SECONDS.labels(endpoint, method)


@functools.cache
def _counter(endpoint: str, status: int) -> Counter:
    return RESPONSES.labels(endpoint, str(status))


def _observe(endpoint: str, method: str, status: int, elapsed: float) -> None:
    # Label lookups cached: prometheus-client would otherwise lock and hash on every request.
    _timer(endpoint, method).observe(elapsed)
    _counter(endpoint, status).inc()


def _after_request(response: Response) -> Response:
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    request.environ[ENDPOINT_KEY] = endpoint
    if endpoint == "oidc.token" and response.status_code == 200:
        count_token(request.form.get("grant_type", ""))
    return response


def count_token(grant_type: str) -> None:
    """One successful token response, whichever path answered it."""
    TOKENS.labels(grant_type if grant_type in _GRANT_TYPES else "other").inc()


def _backend_down(exc: Exception):
    db.session.rollback()  # nothing half-done may be committed by a later store call
    backend = "state_store" if isinstance(exc, StoreUnavailable) else "database"
    UNAVAILABLE.labels(backend).inc()
    log.warning("answering 503: %s unavailable: %s", backend, exc)
    if for_machine():
        response = jsonify(error="temporarily_unavailable", error_description="Try again shortly.")
        response.status_code = 503
    else:
        body, status = error_page(
            _("The login service is temporarily unavailable"),
            _("Nothing was lost. Wait a minute, then go back to the service and start the login again."),
            status=503,
        )
        response = current_app.make_response((body, status))
    response.headers["Retry-After"] = "30"
    return response


class _KeyReloader:
    """Swaps in a reloaded key ring when the shared keys folder changed, checking rarely."""

    def __init__(self, app: Flask, every: float) -> None:
        self._app = app
        self._every = every
        self._next = time.monotonic() + every
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if time.monotonic() < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = time.monotonic() + self._every
            ring = self._app.extensions.get("idp.keys")
            if ring is not None:
                self._app.extensions["idp.keys"] = ring.reload_if_changed()
        finally:
            self._lock.release()


# ---------------------------------------------------------------- counts from the audit log

_PENDING = "idp.ops.audit_counts"


def _counter_for(event: AuditEvent) -> Counter | None:
    """The child counter an audit event adds one to, if it is counted."""
    kind, _dot, name = event.event.partition(".")
    # Only success names the factor on a code send; a refusal comes before one is chosen.
    factor = (event.detail or {}).get("factor") or "unknown"
    if event.event == "login.code_sent":
        return CODES_SENT.labels(factor, event.outcome)
    if event.event == "limits.throttled":
        return LOCKOUTS.labels((event.detail or {}).get("scope") or "unknown", event.outcome)
    if kind == "login":
        # login.factor names its factor in the detail; the others (password, cancel, ...) in the event.
        return LOGINS.labels(factor if name == "factor" else name, event.outcome)
    return None


def _collect_audit_counts(session: Session, flush_context: object) -> None:
    for obj in session.new:
        if isinstance(obj, AuditEvent) and (counter := _counter_for(obj)) is not None:
            session.info.setdefault(_PENDING, []).append(counter)


def _count_audit_events(session: Session) -> None:
    for counter in session.info.pop(_PENDING, ()):
        counter.inc()


def _forget_audit_counts(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _listen_once() -> None:
    # Counted on commit, not on add: a rolled-back attempt did not happen.
    if not event.contains(Session, "after_flush", _collect_audit_counts):
        event.listen(Session, "after_flush", _collect_audit_counts)
        event.listen(Session, "after_commit", _count_audit_events)
        event.listen(Session, "after_rollback", _forget_audit_counts)


# ---------------------------------------------------------------- logs


# One encoder for every line: json.dumps with options builds a new one each call.
_JSON = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is a request."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = _request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _JSON.encode(entry)


def server_log_config() -> dict:
    """The HTTP server's own messages (start, workers, errors) as JSON lines like the app's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "idp.ops.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            name: {"handlers": ["stderr"], "level": "INFO", "propagate": False} for name in ("granian", "_granian")
        },
    }


def write_server_log_config(data_dir: Path) -> Path:
    """granian reads its logging configuration from a file: write it into the data folder."""
    path = data_dir / "server-logging.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(server_log_config()), encoding="utf-8")
    return path


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (called by the servers, not by tests)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The development server's own request lines include query strings (login
    # hints, transaction ids); the idp.access lines replace them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


# ---------------------------------------------------------------- wiring


def init_app(app: Flask, config: Config) -> None:
    app.register_blueprint(bp)
    app.after_request(_after_request)
    app.register_error_handler(StoreUnavailable, _backend_down)
    app.register_error_handler(OperationalError, _backend_down)
    _listen_once()


def wrap(app: Flask, config: Config, *, headers: Sequence[tuple[str, str]]) -> None:
    """Put :class:`RequestMiddleware` around everything the app answers; call after other WSGI wrapping."""
    app.wsgi_app = RequestMiddleware(
        app.wsgi_app, headers=headers, before=_KeyReloader(app, config.keys.reload_check_seconds)
    )
