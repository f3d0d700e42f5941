"""The device key: a P-256 key pair made on the device, its private half kept in a local file encrypted with a
passphrase the user types (the phone's PIN, in a real app its fingerprint or face check), never sent anywhere."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey


class KeyFileError(Exception):
    """The key file is missing, unreadable, or the passphrase does not open it."""


@dataclass(frozen=True)
class DeviceKey:
    issuer: str
    name: str
    key: ECKey

    @property
    def kid(self) -> str:
        return self.key.thumbprint()

    @property
    def public_jwk(self) -> dict:
        return self.key.as_dict(private=False)

    def sign(self, method: str, path: str, *, embed_key: bool = False, **values: object) -> str:
        """A compact JWS for one request: method and path, now, a fresh jti, and the request's values."""
        header = {"alg": "ES256", "typ": "idp-app+jwt"}
        header.update({"jwk": self.public_jwk} if embed_key else {"kid": self.kid})
        claims = {"htm": method, "htu": path, "iat": int(time.time()), "jti": secrets.token_urlsafe(24), **values}
        return jws.serialize_compact(header, json.dumps(claims).encode(), self.key)


def new_key(issuer: str, name: str) -> DeviceKey:
    return DeviceKey(issuer, name, ECKey.import_key(ec.generate_private_key(ec.SECP256R1())))


def save(device: DeviceKey, path: Path, passphrase: str) -> None:
    """Write the key file (mode 0600), the private key as PKCS #8 encrypted with the passphrase."""
    private = device.key.private_key
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The public key in clear beside the sealed private one: enrolling by other means (the demo) reads it.
    document = {
        "issuer": device.issuer,
        "name": device.name,
        "kid": device.kid,
        "public_jwk": device.public_jwk,
        "private_key": pem,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)


def load(path: Path, passphrase: str) -> DeviceKey:
    """Open the key file with the passphrase. Raises KeyFileError."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        pem = document["private_key"].encode()
        issuer, name = document["issuer"], document["name"]
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}: enrol this device first (idp-app enrol)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError(f"{path} is not a key file of idp-app") from None
    try:
        private = serialization.load_pem_private_key(pem, password=passphrase.encode())
    except (ValueError, TypeError):
        raise KeyFileError("wrong passphrase") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise KeyFileError(f"{path} does not hold a P-256 key")
    return DeviceKey(issuer, name, ECKey.import_key(private))
