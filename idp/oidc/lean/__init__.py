"""Lean paths for the machine endpoints relying parties call most: token, userinfo, introspection.

A relying party's backend calls these once or more per login, and in Flask +
Authlib each paid for a request context, a session cookie, CSRF and locale
hooks, Authlib's request and grant objects and their hooks, several times what
the protocol work itself costs (docs/benchmarks.md). ``LeanRoutes`` answers the
common, well-formed requests before Flask, with the same rules:

* the checks are Authlib's and ours, called directly (client secrets through the
  client, PKCE through Authlib's verifier, token shape through Authlib's token
  generator, ID tokens, claims and introspection answers through the functions
  the Flask path uses);
* a request the lean path does not fully recognise, or that fails any check,
  is handed to the Flask + Authlib path untouched (after undoing anything
  written), which answers it, errors included. So the lean path only ever
  answers what the Flask path would have answered with success, and every
  error keeps exactly one author. ``tests/oidc/test_lean_paths.py`` sends the
  same corpus through both and compares the answers.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from authlib.oauth2 import OAuth2Error
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idp.documents import ENDPOINT_KEY
from idp.oidc import parameters
from idp.store import StoreUnavailable

log = logging.getLogger(__name__)

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]

_MAX_BODY = 8 * 1024  # a token or introspection request is a few hundred bytes
_MAX_FIELDS = 16


class FallBack(Exception):  # noqa: N818 - not an error: "let the Flask path answer this"
    """The lean path does not answer this request; the Flask + Authlib path will."""


@dataclass(frozen=True)
class LeanRequest:
    method: str
    authorization: str
    form: dict[str, str]  # each parameter once (a repeated one falls back)


@dataclass(frozen=True)
class LeanAnswer:
    """A success: the lean path answers nothing else."""

    body: dict
    headers: list[tuple[str, str]]


Handler = Callable[[LeanRequest], LeanAnswer]


@dataclass(frozen=True)
class Route:
    endpoint: str  # the Flask endpoint's name, for metrics and logs
    methods: frozenset[str]
    handler: Handler


class LeanRoutes:
    """WSGI: answer a route's well-formed requests here, hand everything else to ``app`` unchanged."""

    def __init__(self, app: WsgiApp, flask_app: Flask, routes: dict[str, Route]) -> None:
        self._app = app
        self._flask_app = flask_app
        self.routes = routes

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ["REQUEST_METHOD"] not in route.methods:
            return self._app(environ, start_response)
        request = _lean_request(environ)
        if request is None:
            return self._app(environ, start_response)
        try:
            with self._flask_app.app_context():
                answer = route.handler(request)
        except FallBack:
            return self._app(environ, start_response)
        except (SQLAlchemyError, StoreUnavailable):
            # The Flask path meets the same outage and answers it (503, temporarily_unavailable).
            return self._app(environ, start_response)
        except Exception:
            # A bug here must cost speed, never an answer: the Flask path is the authority.
            log.exception("lean %s failed; answered by the Flask path", route.endpoint)
            return self._app(environ, start_response)
        environ[ENDPOINT_KEY] = route.endpoint
        body = json.dumps(answer.body, separators=(",", ":")).encode()
        start_response("200 OK", [*answer.headers, ("Content-Length", str(len(body)))])
        return [body]


def _lean_request(environ: dict) -> LeanRequest | None:
    """The request's method, Authorization header and form, or None when it is not a plain one.

    A body that was read is put back, so the Flask path can read it again.
    """
    form: dict[str, str] = {}
    if environ["REQUEST_METHOD"] == "POST":
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if content_type != "application/x-www-form-urlencoded" or not 0 < length <= _MAX_BODY:
            return None
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), strict_parsing=True, max_num_fields=_MAX_FIELDS)
        except ValueError:  # not UTF-8, malformed, too many fields
            return None
        form = dict(pairs)
        if len(form) != len(pairs):
            return None  # a repeated parameter: RFC 6749 §3.2 refuses it, the Flask path says so
    elif environ.get("QUERY_STRING"):
        return None
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    try:
        # The Flask path's checks of every parameter and of Basic credentials; what they refuse,
        # the Flask path answers.
        parameters.check(form.items())
        parameters.check_basic_credentials(authorization)
    except OAuth2Error:
        return None
    if any("\x00" in name or "\x00" in value for name, value in form.items()):
        return None
    return LeanRequest(method=environ["REQUEST_METHOD"], authorization=authorization, form=form)
