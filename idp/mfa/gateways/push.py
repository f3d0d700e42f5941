"""Push gateways, telling an app device that a login waits for it: ``console`` (development), ``file`` (JSON lines
outbox), ``http`` (a webhook, e.g. to an FCM/APNs relay) and ``webpush`` (Web Push with VAPID, RFC 8030/8291/8292).

A push is a nudge, never a secret: it names the approval and the service, never the number
the citizen must pick (that is on the login page only). The app fetches the approval over
its signed API (``GET /app/v1/approvals``) whether or not a push arrived.
"""

from __future__ import annotations

import base64
import json
import sys
from functools import cached_property
from pathlib import Path
from typing import Protocol

import requests
from cryptography.hazmat.primitives import serialization

from idp.config import Config, ConfigError
from idp.fetch import Fetcher, FetchError
from idp.mfa.gateways import outbox, webhook


class PushError(RuntimeError):
    """The push could not be handed over; the app still finds the approval when it asks."""


class PushGateway(Protocol):
    def notify(self, *, device: str, subscription: dict | None, message: dict) -> None: ...


class ConsoleGateway:
    """Prints the push on stderr: for a developer's terminal only."""

    def notify(self, *, device: str, subscription: dict | None, message: dict) -> None:
        print(f"Push to device {device}: {json.dumps(message, ensure_ascii=False)}", file=sys.stderr, flush=True)


class FileGateway:
    """Appends one JSON object per line; the demo and the tests read the outbox."""

    def __init__(self, path: Path):
        self.path = path

    def notify(self, *, device: str, subscription: dict | None, message: dict) -> None:
        outbox.append(self.path, {"device": device, "message": message})


class HttpGateway:
    """POSTs ``{"device", "message"}`` as JSON with a bearer token; retries connection errors and 5xx."""

    def __init__(self, url: str, token: str, *, timeout: int, retries: int):
        self.url, self.token, self.timeout, self.retries = url, token, timeout, retries

    def notify(self, *, device: str, subscription: dict | None, message: dict) -> None:
        webhook.post(
            self.url,
            {"device": device, "message": message},
            token=self.token,
            timeout=self.timeout,
            retries=self.retries,
            name="push gateway",
            error=PushError,
        )


class WebPushGateway:
    """Web Push to the subscription the device gave at enrolment, encrypted (aes128gcm) and VAPID-signed by pywebpush.

    A device without a subscription gets nothing pushed: it polls.
    """

    def __init__(self, private_key_path: Path, subject: str, *, fetcher: Fetcher):
        self.private_key_path, self.subject, self.fetcher = private_key_path, subject, fetcher

    @cached_property
    def public_key(self) -> str:
        """The VAPID public key as browsers' ``applicationServerKey`` wants it: the uncompressed point, base64url."""
        key = serialization.load_pem_private_key(self.private_key_path.read_bytes(), password=None)
        raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def notify(self, *, device: str, subscription: dict | None, message: dict) -> None:
        from py_vapid import VapidException
        from pywebpush import WebPushException, webpush

        if not subscription:
            return
        try:
            webpush(
                subscription_info=subscription,
                data=json.dumps(message),
                vapid_private_key=str(self.private_key_path),
                vapid_claims={"sub": self.subject},
                ttl=120,
                requests_session=_ThroughFetcher(self.fetcher),
            )
        except (WebPushException, VapidException, FetchError, ValueError) as exc:
            raise PushError(f"web push failed: {type(exc).__name__}") from exc


class _ThroughFetcher:
    """What pywebpush posts with: our one fetcher, since the endpoint came from a device. It goes only to
    the public addresses it checked (no second lookup to rebind), follows no redirect and keeps a deadline."""

    def __init__(self, fetcher: Fetcher):
        self.fetcher = fetcher

    def post(self, url: str, *, data: bytes, headers: dict, timeout: object = None) -> requests.Response:
        status, body = self.fetcher.post(url, body=data, headers={name: str(value) for name, value in headers.items()})
        response = requests.Response()
        response.status_code, response._content = status, body
        return response


def make_push_gateway(config: Config) -> PushGateway:
    app = config.app
    if app.push_gateway == "console":
        return ConsoleGateway()
    if app.push_gateway == "file":
        return FileGateway(config.path(app.push_outbox))
    if app.push_gateway == "http":
        if not app.push_http_url:
            raise ConfigError('app.push_http_url is required with app.push_gateway = "http"')
        return HttpGateway(
            app.push_http_url, app.push_http_token, timeout=app.push_http_timeout_seconds, retries=app.push_http_retries
        )
    if app.push_gateway == "webpush":
        if not app.vapid_private_key or not config.path(app.vapid_private_key).is_file():
            raise ConfigError('app.vapid_private_key must name a PEM file with app.push_gateway = "webpush"')
        if not app.vapid_subject.startswith(("mailto:", "https:")):
            raise ConfigError("app.vapid_subject must be a mailto: or https: URL")
        return WebPushGateway(
            config.path(app.vapid_private_key), app.vapid_subject, fetcher=Fetcher.from_config(config)
        )
    raise ConfigError(f"app.push_gateway must be console, file, http or webpush, not {app.push_gateway!r}")
