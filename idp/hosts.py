"""Refuse requests for a host that is not ours, before anything reads the Host header.

A page that builds an absolute URL from the request would otherwise send a
citizen to whatever host an attacker put in the header (a letter that points at
a phishing site). Absolute URLs come from the issuer (``ServerConfig.url``);
this layer makes sure no request with a foreign Host gets answered at all.
Behind a proxy (``trust_proxy_headers``) the host checked is the forwarded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from werkzeug.sansio.utils import host_is_trusted

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]

# Load balancers and Prometheus address a node by its own IP; these answers hold no URL.
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_REFUSAL = b"Unknown host: this server answers only for its own address.\n"


class TrustedHosts:
    """WSGI: a 400 for a Host header outside ``hosts`` (Werkzeug's matching: ports ignored, ``.`` for subdomains)."""

    def __init__(self, app: WsgiApp, hosts: Iterable[str]) -> None:
        self._app = app
        self._hosts = tuple(hosts)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME")
        if environ.get("PATH_INFO") in PROBES or host_is_trusted(host, self._hosts):
            return self._app(environ, start_response)
        start_response(
            "400 Bad Request",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(_REFUSAL)))],
        )
        return [_REFUSAL]
