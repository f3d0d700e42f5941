"""A browser for the load generator's full logins, on http.client instead of requests.

requests (with its cookie jar and adapters) cost the clients about 20 ms of CPU per
login, on the same two cores the server needs. This agent does what the login flow
needs and no more: one connection per request (as a browser arriving for the first time),
no redirects followed, and cookies kept by name for the one host the benchmark uses.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlencode, urlsplit

from tests.production.flows import Reply


class LightAgent:
    """Implements ``tests.production.flows.Agent`` for one server."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.cookies: dict[str, str] = {}
        self.timeout = timeout

    def request(self, method: str, url: str, *, data: dict | None = None, headers: dict | None = None) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {"Accept-Language": "en", **(headers or {})}  # the flow reads the English pages
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            for header in response.headers.get_all("Set-Cookie") or ():
                self._keep(header)
            return Reply(response.status, response.getheader("Location") or "", text)
        finally:
            conn.close()

    def _keep(self, header: str) -> None:
        name, _, rest = header.partition("=")
        value, _, attributes = rest.partition(";")
        expired = "max-age=0" in attributes.lower().replace(" ", "") or not value
        if expired:
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = value.strip()
