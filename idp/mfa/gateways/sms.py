"""SMS gateways: ``console`` (development), ``file`` (JSON lines outbox), ``http`` (a webhook)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from idp.config import Config, ConfigError
from idp.mfa.gateways import outbox, webhook


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
        webhook.post(
            self.url,
            {"to": to, "text": text, "sender": self.sender},
            token=self.token,
            timeout=self.timeout,
            retries=self.retries,
            name="SMS gateway",
            error=GatewayError,
        )


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
