"""The one way out: every request to a URL a relying party chose goes through :class:`Fetcher`.

``jwks_uri``, ``request_uri``, ``sector_identifier_uri`` and back-channel logout
URIs are registered by relying parties, some dynamically, so each request to
them is one a stranger aims from inside our network (server-side request
forgery). The fetcher bounds what such a request can do:

* one total deadline for name lookup, connect, TLS, headers and body: a host
  that answers one byte a second is cut off at the deadline, not kept until
  the worker is killed;
* a cap on the body; no compression is asked for, so the cap is on what we parse;
* redirects are never followed (the caller sees the 3xx status);
* only http and https, and only https when our own issuer is https;
* the host name is resolved once, every address it gives is checked, and the
  connection is made to a checked address while the Host header, TLS SNI and
  the certificate check keep using the name. A name whose DNS answer changes
  between the check and the connect (DNS rebinding) cannot move us elsewhere;
* addresses not on the public internet (RFC 1918, loopback, link-local
  including 169.254.169.254, unique local, shared CGNAT, unspecified,
  multicast, reserved, and IPv4 hidden in IPv6 forms) are refused unless
  ``fetch.allow_networks`` lists them.

Proxy settings in the environment are not used: the address checked must be
the address connected to.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from urllib.parse import urlencode, urlsplit

from idp.config import Config, ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_TLS = ssl.create_default_context()
# getaddrinfo has no timeout of its own and a slow name server is as good as a dripping
# host, so lookups run here and are waited for only until the deadline.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="idp-fetch-resolve")


class FetchError(Exception):
    """No usable answer; the message says why and names the URL, never a response body."""


class ForbiddenAddress(FetchError):
    """The host is, or resolves to, an address outbound requests may not reach."""


def is_internal(address: Address) -> bool:
    """True for an address that is not a public internet host (RFC 6890 special-purpose ranges)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:  # a DNS64 answer for an IPv4-only host: that host decides
            return is_internal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        hidden = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if hidden is not None and is_internal(hidden):
            return True
    # is_global is false for every private, loopback, link-local, shared and reserved range;
    # multicast ranges can count as global, and are never a web server.
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified


class Fetcher:
    """GET and POST with a total deadline, a size cap, no redirects and checked addresses."""

    def __init__(
        self,
        *,
        deadline_seconds: float,
        max_bytes: int,
        allow_networks: Iterable[Network] = (),
        require_https: bool = False,
    ):
        self.deadline_seconds = deadline_seconds
        self.max_bytes = max_bytes
        self.allow_networks = tuple(allow_networks)
        self.require_https = require_https

    @classmethod
    def from_config(cls, config: Config) -> Fetcher:
        settings = config.fetch
        if settings.deadline_seconds < 1:
            raise ConfigError("fetch.deadline_seconds must be at least 1")
        if settings.max_bytes < 1:
            raise ConfigError("fetch.max_bytes must be at least 1")
        if settings.jwks_refetch_seconds < 0:
            raise ConfigError("fetch.jwks_refetch_seconds must not be negative")
        networks = []
        for text in settings.allow_networks:
            try:
                networks.append(ipaddress.ip_network(text))
            except ValueError:
                raise ConfigError(f"fetch.allow_networks: {text!r} is not a network like 10.0.0.0/8") from None
        return cls(
            deadline_seconds=settings.deadline_seconds,
            max_bytes=settings.max_bytes,
            allow_networks=networks,
            require_https=config.server.issuer.startswith("https://"),
        )

    def get(self, url: str) -> bytes:
        """The document at ``url``; :class:`FetchError` unless it answers 200 within the limits."""
        status, body = self._request("GET", url, body=None, headers={})
        if status != 200:
            raise FetchError(f"{url} answered {status}")
        return body

    def get_json(self, url: str) -> object:
        try:
            return json.loads(self.get(url))
        except ValueError:
            raise FetchError(f"{url} did not return JSON") from None

    def post_form(self, url: str, form: dict[str, str]) -> int:
        """POST ``form`` as application/x-www-form-urlencoded; the status code of the answer."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.post(url, body=urlencode(form).encode(), headers=headers)[0]

    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST ``body`` with ``headers``; the status code and body of the answer."""
        return self._request("POST", url, body=body, headers=headers)

    def _request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.deadline_seconds
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchError(f"{url} is not a valid URL") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FetchError(f"{url} is not an http(s) URL")
        if self.require_https and parts.scheme != "https":
            raise FetchError(f"{url} is not https")
        addresses = self._addresses(parts.hostname, port, deadline, url)
        connection = _PinnedConnection(
            parts.hostname, port, addresses, deadline, tls=_TLS if parts.scheme == "https" else None
        )
        try:
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            connection.request(method, target, body=body, headers={**headers, "Connection": "close"})
            response = connection.getresponse()
            length = response.getheader("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(f"{url} is larger than {self.max_bytes} bytes")
            content = bytearray()
            while len(content) <= self.max_bytes:
                chunk = response.read(self.max_bytes + 1 - len(content))
                if not chunk:
                    break
                content += chunk
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline:
                raise FetchError(f"{url} gave no complete answer within {self.deadline_seconds} s") from None
            raise FetchError(f"could not fetch {url}: {exc.__class__.__name__}") from None
        finally:
            connection.close()
        if len(content) > self.max_bytes:
            raise FetchError(f"{url} is larger than {self.max_bytes} bytes")
        return response.status, bytes(content)

    def _addresses(self, host: str, port: int, deadline: float, url: str) -> list[str]:
        """Every address ``host`` has, all of them allowed; the connection goes to these, not to the name."""
        lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            found = lookup.result(timeout=max(deadline - time.monotonic(), 0))
        except LookupTimeout:
            raise FetchError(f"{url}: no address for the host within {self.deadline_seconds} s") from None
        except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode
            raise FetchError(f"{url}: the host has no address") from None
        addresses = list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))
        for text in addresses:
            # A name with even one internal address is refused, whichever address we would use.
            address = ipaddress.ip_address(text.split("%")[0])
            if is_internal(address) and not any(address in network for network in self.allow_networks):
                # The address itself is left out: the message may reach the client that registered the URL.
                raise ForbiddenAddress(f"{url}: the host is not at a public address")
        return addresses


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline reached")
    return left


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to checked addresses only; Host, SNI and the certificate check use the name."""

    def __init__(self, host: str, port: int, addresses: list[str], deadline: float, *, tls: ssl.SSLContext | None):
        super().__init__(host, port)
        self.addresses, self.deadline, self.tls = addresses, deadline, tls
        self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)

    def connect(self) -> None:
        failure: OSError = OSError("no address")
        for address in self.addresses:
            try:
                sock = socket.create_connection((address, self.port), timeout=_remaining(self.deadline))
                break
            except OSError as exc:
                failure = exc
        else:
            raise failure
        if self.tls is not None:
            # The handshake as a whole is bounded by the socket's timeout.
            sock.settimeout(_remaining(self.deadline))
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


class _DeadlineReader(io.RawIOBase):
    """Reads the socket with each wait limited to what is left of the deadline.

    A per-read timeout alone lets a host that sends a byte before each timeout
    keep us for ever; here every read's timeout shrinks to the time that is left.
    """

    def __init__(self, sock: socket.socket, deadline: float):
        # Through the socket's own raw file, which keeps the socket open after the
        # connection object lets go of it (as http.client does on "Connection: close").
        self.source, self.sock, self.deadline = sock.makefile("rb", buffering=0), sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self.sock.settimeout(_remaining(self.deadline))
        return self.source.readinto(buffer)

    def close(self) -> None:
        self.source.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response whose status line, headers and body are all read before the deadline."""

    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))
