"""One-time codes: generated with the OS's CSPRNG, stored only as keyed hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app


def numeric_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def code_hash(code: str, *, purpose: str) -> str:
    """HMAC with the deployment secret: short codes have too little entropy for a plain hash."""
    key = current_app.extensions["idp.secrets"]["secret_key"].encode()
    return hmac.new(key, f"{purpose}:{code.strip()}".encode(), hashlib.sha256).hexdigest()


def code_matches(stored_hash: str, code: str, *, purpose: str) -> bool:
    return hmac.compare_digest(stored_hash, code_hash(code, purpose=purpose))


def mask_phone(phone: str) -> str:
    """Enough for the citizen to recognise the number, too little to harvest it."""
    return "•" * max(0, len(phone) - 2) + phone[-2:]
