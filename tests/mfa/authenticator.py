"""A WebAuthn authenticator in software, for tests without a browser.

It does what an authenticator and a browser do together: a P-256 key pair per credential,
authenticator data with the flags and the counter, a "none" attestation, client data with
the challenge and origin, an ES256 signature, and the JSON the browser's credential gives
(``PublicKeyCredential.toJSON()``). The provider verifies it with py_webauthn, as it does
a real one. Its knobs make hostile answers: another origin or RP ID, a counter moved back,
no user verification.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("01020304050607080910111213141516")


@dataclass
class Credential:
    rp_id: str
    user_handle: bytes
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    counter: int = 0


class SoftAuthenticator:
    def __init__(self, origin: str, *, synced: bool = False, counts: bool = True):
        self.origin = origin
        self.synced = synced  # backup eligible and backed up, as a passkey in a cloud keychain
        self.counts = counts  # a counter per use; synced passkeys always send 0
        self.credentials: list[Credential] = []

    def _flags(self, *, user_verified: bool, attested: bool = False) -> int:
        flags = UP | (UV if user_verified else 0) | (BE | BS if self.synced else 0)
        return flags | (AT if attested else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(self, options: dict, *, origin: str | None = None, rp_id: str | None = None) -> str:
        """navigator.credentials.create() with the provider's options (as JSON): the answer, as JSON."""
        credential = Credential(rp_id=options["rp"]["id"], user_handle=base64url_to_bytes(options["user"]["id"]))
        numbers = credential.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        attested = AAGUID + len(credential.credential_id).to_bytes(2, "big") + credential.credential_id + cose
        auth_data = (
            hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
            + bytes([self._flags(user_verified=True, attested=True)])
            + credential.counter.to_bytes(4, "big")
            + attested
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        self.credentials.append(credential)
        raw_id = bytes_to_base64url(credential.credential_id)
        return json.dumps(
            {
                "id": raw_id,
                "rawId": raw_id,
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "attestationObject": bytes_to_base64url(
                        cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
                    ),
                    "transports": ["internal"],
                },
            }
        )

    def get(
        self,
        options: dict,
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        counter: int | None = None,
        user_handle: bytes | None = None,
    ) -> str:
        """navigator.credentials.get(): an assertion by ``credential`` (default: the first), as JSON."""
        credential = credential or self.credentials[0]
        if counter is not None:
            credential.counter = counter
        elif self.counts:
            credential.counter += 1
        auth_data = (
            hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
            + bytes([self._flags(user_verified=user_verified)])
            + credential.counter.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        raw_id = bytes_to_base64url(credential.credential_id)
        return json.dumps(
            {
                "id": raw_id,
                "rawId": raw_id,
                "type": "public-key",
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": bytes_to_base64url(client_data),
                    "authenticatorData": bytes_to_base64url(auth_data),
                    "signature": bytes_to_base64url(signature),
                    "userHandle": bytes_to_base64url(user_handle or credential.user_handle),
                },
            }
        )
