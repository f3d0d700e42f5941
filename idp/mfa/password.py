"""The first factor: the citizen's self-chosen password, hashed with Argon2id."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from idp.config import PasswordsConfig

AMR = ("pwd",)


def make_hasher(config: PasswordsConfig) -> PasswordHasher:
    hasher = PasswordHasher(
        time_cost=config.time_cost,
        memory_cost=config.memory_cost_kib,
        parallelism=config.parallelism,
        type=Type.ID,
    )
    _decoy(hasher)  # made now, so the first unknown number does not cost two hashes
    return hasher


def _decoy(hasher: PasswordHasher) -> str:
    """A hash of a random password with the hasher's parameters, verified when the citizen is unknown.

    With the configured parameters, not fixed ones: an unknown number must cost exactly the
    time a wrong password costs, or the answer's timing tells which numbers have an account.
    """
    return _decoy_for(hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len)


@functools.cache
def _decoy_for(time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int) -> str:
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, hash_len, salt_len, type=Type.ID)
    return hasher.hash(secrets.token_urlsafe(32))


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one Argon2 verification."""
    try:
        return hasher.verify(stored_hash or _decoy(hasher), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hasher: PasswordHasher, stored_hash: str) -> bool:
    """True when the configured Argon2 parameters changed since the hash was made."""
    return hasher.check_needs_rehash(stored_hash)
