"""SMS gateways: ``console`` (development), ``file`` (JSON lines outbox), ``http`` (a webhook)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Protocol

import requests

from idp.config import Config, ConfigError
from idp.mfa.gateways import outbox

log = logging.getLogger(__name__)


class GatewayError(RuntimeError):
    """The message could not be handed over; the citizen is asked to try again."""


class SmsGateway(Protocol):
    def send(self, *, to: str, text: str) -> None: ...


class ConsoleGateway:
    """Prints the whole message, code included, on stderr: for a developer's terminal only.

    Not through logging: the message must show even where logging is
    configured away, and must never reach a production log collector by default.
    """

    def __init__(self, sender: str):
        self.sender = sender

    def send(self, *, to: str, text: str) -> None:
        print(f"SMS from {self.sender} to {to}: {text}", file=sys.stderr, flush=True)


class FileGateway:
    """Appends one JSON object per line; the demo and the tests read the outbox."""

    def __init__(self, path: Path, sender: str):
        self.path = path
        self.sender = sender

    def send(self, *, to: str, text: str) -> None:
        outbox.append(self.path, {"sender": self.sender, "to": to, "text": text})


class HttpGateway:
    """POSTs ``{"to", "text", "sender"}`` as JSON with a bearer token; retries connection errors and 5xx."""

    def __init__(self, url: str, token: str, sender: str, *, timeout: int, retries: int):
        self.url, self.token, self.sender, self.timeout, self.retries = url, token, sender, timeout, retries

    def send(self, *, to: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for attempt in range(self.retries + 1):
            try:
                response = requests.post(
                    self.url,
                    json={"to": to, "text": text, "sender": self.sender},
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                reason = type(exc).__name__
            else:
                if response.status_code < 400:
                    return
                if response.status_code < 500:
                    # The gateway refused the message itself: sending it again will not help.
                    raise GatewayError(f"SMS gateway refused the message: HTTP {response.status_code}")
                reason = f"HTTP {response.status_code}"
            log.warning("SMS gateway attempt %d failed: %s", attempt + 1, reason)
        raise GatewayError("SMS gateway unavailable")


def make_sms_gateway(config: Config) -> SmsGateway:
    sms = config.sms
    if sms.gateway == "console":
        return ConsoleGateway(sms.sender)
    if sms.gateway == "file":
        return FileGateway(config.path(sms.outbox), sms.sender)
    if sms.gateway == "http":
        if not sms.http_url:
            raise ConfigError('sms.http_url is required with sms.gateway = "http"')
        return HttpGateway(
            sms.http_url, sms.http_token, sms.sender, timeout=sms.http_timeout_seconds, retries=sms.http_retries
        )
    raise ConfigError(f"sms.gateway must be console, file or http, not {sms.gateway!r}")
