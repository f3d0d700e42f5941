"""The first factor: the citizen's self-chosen password, hashed with Argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from idp.config import PasswordsConfig

AMR = ("pwd",)

# A hash of a random password, verified when the citizen is unknown so that
# an unknown number costs as much time as a wrong password.
_DECOY = "$argon2id$v=19$m=19456,t=2,p=1$LHY2XGRLYqD/njp40H6Ydg$YX2t2Vtx93khMT30iv4vT2Ph4cJCZ2Xt9yFVUcNium8"


def make_hasher(config: PasswordsConfig) -> PasswordHasher:
    return PasswordHasher(
        time_cost=config.time_cost,
        memory_cost=config.memory_cost_kib,
        parallelism=config.parallelism,
        type=Type.ID,
    )


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one Argon2 verification."""
    try:
        return hasher.verify(stored_hash or _DECOY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hasher: PasswordHasher, stored_hash: str) -> bool:
    """True when the configured Argon2 parameters changed since the hash was made."""
    return hasher.check_needs_rehash(stored_hash)
