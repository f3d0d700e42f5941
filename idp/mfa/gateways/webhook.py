"""The ``http`` gateways' webhook: a JSON POST to the operator's own service, with a bearer token."""

from __future__ import annotations

import logging

import requests

log = logging.getLogger(__name__)


def post(url: str, body: dict, *, token: str, timeout: int, retries: int, name: str, error: type[Exception]) -> None:
    """POST ``body``; connection errors and 5xx are tried again up to ``retries`` times.

    Raises ``error`` when the service refused the message (4xx: sending it again will not
    help) or stayed unavailable. ``name`` says which gateway in the log and the error.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for attempt in range(retries + 1):
        try:
            response = requests.post(url, json=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            reason = type(exc).__name__
        else:
            if response.status_code < 400:
                return
            if response.status_code < 500:
                raise error(f"{name} refused the message: HTTP {response.status_code}")
            reason = f"HTTP {response.status_code}"
        log.warning("%s attempt %d failed: %s", name, attempt + 1, reason)
    raise error(f"{name} unavailable")
