"""Fixed JSON documents (discovery, JWKS, the liveness probe) answered as pre-serialised bytes.

Relying parties fetch discovery and the JWKS far more often than anything else,
and load balancers poll ``/healthz``; none of them needs a session, CSRF, a
locale or a database. :class:`DocumentRoutes` answers their GET and HEAD
requests before Flask builds a request context, which is most of what a Flask
request costs. The routes stay registered in Flask too, for ``url_for``,
``OPTIONS`` and 405 answers; their views serve the same :class:`Document`.
Request ids, metrics, logs and security headers come from ``ops.RequestMiddleware``
around both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask import Response

ENDPOINT_KEY = "idp.endpoint"  # the environ key ops reads the metrics' endpoint label from

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Document:
    """A response made once: body, headers and a strong ETag from the body."""

    endpoint: str  # the Flask endpoint name, so metrics and logs label it as before
    body: bytes
    etag: str | None
    headers: tuple[tuple[str, str], ...]  # a 200's, but for Content-Length
    not_modified_headers: tuple[tuple[str, str], ...]  # a 304 carries only the validators and caching

    @classmethod
    def json(
        cls, data: object, *, endpoint: str, cache_control: str, cors: bool = False, conditional: bool = True
    ) -> Document:
        """``conditional``: give an ETag and answer a matching If-None-Match with 304."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"' if conditional else None
        cache = [("Cache-Control", cache_control), *([("ETag", etag)] if etag else [])]
        # Browser-based relying parties read these cross-origin; nothing here is private.
        origin = [("Access-Control-Allow-Origin", "*")] if cors else []
        return cls(
            endpoint=endpoint,
            body=body,
            etag=etag,
            headers=(("Content-Type", "application/json"), *cache, *origin),
            not_modified_headers=(*cache, *origin),
        )

    def not_modified(self, if_none_match: str | None) -> bool:
        """RFC 9110 §13.1.2: a weak comparison, so a ``W/`` tag from a cache also matches."""
        if not if_none_match or self.etag is None:
            return False
        if if_none_match.strip() == "*":
            return True
        return any(tag.strip().removeprefix("W/") == self.etag for tag in if_none_match.split(","))

    def wsgi(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        environ[ENDPOINT_KEY] = self.endpoint
        if self.not_modified(environ.get("HTTP_IF_NONE_MATCH")):
            start_response("304 Not Modified", list(self.not_modified_headers))
            return []
        start_response("200 OK", [*self.headers, ("Content-Length", str(len(self.body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [self.body]

    def response(self, if_none_match: str | None) -> Response:
        """The same answer as a Flask response, for the views behind the routes."""
        if self.not_modified(if_none_match):
            return Response(status=304, headers=list(self.not_modified_headers))
        return Response(self.body, headers=list(self.headers))


class DocumentRoutes:
    """WSGI: GET and HEAD of an exact path answered with its document; everything else goes to ``app``."""

    def __init__(self, app: WsgiApp, routes: Mapping[str, Callable[[], Document]]) -> None:
        self._app = app
        self._routes = dict(routes)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            document = self._routes.get(environ.get("PATH_INFO", ""))
            if document is not None:
                return document().wsgi(environ, start_response)
        return self._app(environ, start_response)
