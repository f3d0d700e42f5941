"""E-mail gateways: ``console`` (development), ``file`` (JSON lines outbox), ``smtp`` (a mail server).

Only for confirming an address a citizen gave: e-mail never carries a code that logs in.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from idp.config import Config, ConfigError, EmailConfig
from idp.mfa.gateways import outbox
from idp.mfa.gateways.sms import GatewayError


class EmailGateway(Protocol):
    def send(self, *, to: str, subject: str, text: str) -> None: ...


class ConsoleEmailGateway:
    """Prints the message on stderr, link included: for a developer's terminal only."""

    def __init__(self, sender: str):
        self.sender = sender

    def send(self, *, to: str, subject: str, text: str) -> None:
        print(f"E-mail from {self.sender} to {to}: {subject}\n{text}", file=sys.stderr, flush=True)


class FileEmailGateway:
    """Appends one JSON object per line; the demo and the tests read the outbox."""

    def __init__(self, path: Path, sender: str):
        self.path = path
        self.sender = sender

    def send(self, *, to: str, subject: str, text: str) -> None:
        outbox.append(self.path, {"from": self.sender, "to": to, "subject": subject, "text": text})


class SmtpEmailGateway:
    """Hands the message to a mail server (STARTTLS unless turned off, for a local relay only)."""

    def __init__(self, config: EmailConfig):
        self.config = config

    def send(self, *, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.config.sender, to, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(
                self.config.smtp_host, self.config.smtp_port, timeout=self.config.smtp_timeout_seconds
            ) as smtp:
                if self.config.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.config.smtp_user:
                    smtp.login(self.config.smtp_user, self.config.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise GatewayError(f"the mail server refused or could not be reached: {type(exc).__name__}") from None


def make_email_gateway(config: Config) -> EmailGateway:
    email = config.email
    if email.gateway == "console":
        return ConsoleEmailGateway(email.sender)
    if email.gateway == "file":
        return FileEmailGateway(config.path(email.outbox), email.sender)
    if email.gateway == "smtp":
        if not email.smtp_host:
            raise ConfigError("email.gateway = smtp needs email.smtp_host")
        return SmtpEmailGateway(email)
    raise ConfigError(f"email.gateway must be console, file or smtp, not {email.gateway!r}")
