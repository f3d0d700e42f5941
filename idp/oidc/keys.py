"""The provider's signing keys, kept as files in a directory (default ``keys/``).

Storage
-------
Each key is two files named after its ``kid``:

* ``<kid>.pem``  — the private key, PKCS#8 PEM, mode 0600;
* ``<kid>.json`` — metadata (not secret, but also 0600)::

    {"version": 1, "kid": "...", "kty": "RSA" | "EC",
     "created_at": "...", "active_from": "...",
     "retired_at": null | "...", "expires_at": null | "..."}

Separate files keep the secret PEM untouched after creation: rotation only
rewrites the small JSON of the key being retired, so a crash during rotation
cannot damage key material. Every write goes to a temp file that is then
``os.replace``-d into place, and the JSON is written *after* the PEM, so the
JSON's presence is the commit marker: a ``.pem`` without ``.json`` is ignored.
The directory is 0700. ``init``/``rotate`` hold an ``flock`` on ``.lock``
so two nodes sharing the directory cannot rotate concurrently.

Key kinds and ``alg``
---------------------
``RS256`` and ``PS256`` share one RSA key family; ``ES256`` uses EC P-256
keys. Because an RSA key may sign with either RS256 or PS256, RSA keys are
published **without** ``alg`` (RFC 7517 makes it optional; a published
``alg: RS256`` would make strict verifiers reject our PS256 tokens). EC keys
are published with ``alg: ES256``, the only algorithm they can serve.
Every published key has ``kid`` (RFC 7638 thumbprint) and ``use: "sig"``.
Callers must put the ``kid`` into the JWS header (joserfc does not).

Timeline of a key
-----------------
``created_at``: written and published in the JWKS at once (state *pending*).
``active_from``: used for signing from then on (*active*). The delay lets
relying parties refresh their cached JWKS before the first token with the new
kid arrives. ``retired_at``: set on the predecessor when a successor is
created, equal to the successor's ``active_from``, so exactly one key per
family is active at any instant (*retired*, still published so tokens it
signed still verify). ``expires_at`` = ``retired_at + retain_for`` (the longest
token lifetime): after it the key is no longer published (*expired*); its files
stay for the record. ``expires_at`` is stored, not computed at read time, so
all nodes agree on it without sharing configuration.

Loading
-------
:meth:`KeyRing.load` parses every key once (per process start). A running
process calls :meth:`KeyRing.reload_if_changed` at most every few seconds; it
compares :func:`fingerprint` (a ``stat`` of the directory and its JSON files)
and reloads only when a rotation happened, possibly on another node.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, KeySet, RSAKey

__all__ = [
    "DEFAULT_KEYS_DIR",
    "DEFAULT_RETAIN_FOR",
    "KeyInfo",
    "KeyRing",
    "KeyState",
    "KeysError",
    "Kty",
    "SigningKey",
    "fingerprint",
    "init",
    "kty_for",
    "list_keys",
    "rotate",
]

log = logging.getLogger(__name__)

DEFAULT_KEYS_DIR = Path("keys")
DEFAULT_RSA_BITS = 2048
DEFAULT_RETAIN_FOR = timedelta(days=1)
_MIN_RSA_BITS = 2048
_FORMAT_VERSION = 1

Kty = Literal["RSA", "EC"]
KeyState = Literal["pending", "active", "retired", "expired"]
SigningKey = RSAKey | ECKey

_KTY_BY_KIND: dict[str, Kty] = {
    "RS256": "RSA",
    "PS256": "RSA",
    "ES256": "EC",
    "RSA": "RSA",
    "EC": "EC",
}
_ALGS_BY_KTY: dict[Kty, tuple[str, ...]] = {"RSA": ("RS256", "PS256"), "EC": ("ES256",)}
# Allowlists rather than "drop the private members": a member we do not know
# about (or a future joserfc adding one) must never leak into the JWKS.
_PUBLIC_MEMBERS: dict[Kty, tuple[str, ...]] = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
}
# Order of the JWKS: the key most likely to be asked for first.
_STATE_ORDER: dict[KeyState, int] = {
    "active": 0,
    "pending": 1,
    "retired": 2,
    "expired": 3,
}


class KeysError(Exception):
    """A problem with the keys directory; the message is one readable line."""


def kty_for(kind: str) -> Kty:
    """Key family for a kind/alg name: RS256/PS256/RSA → RSA, ES256/EC → EC."""
    try:
        return _KTY_BY_KIND[kind]
    except KeyError:
        supported = ", ".join(sorted(k for k in _KTY_BY_KIND if k not in ("RSA", "EC")))
        raise KeysError(f"unsupported key kind {kind!r} (supported: {supported})") from None


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class KeyInfo:
    """Metadata of one key (the contents of ``<kid>.json``)."""

    kid: str
    kty: Kty
    created_at: datetime
    active_from: datetime
    retired_at: datetime | None = None
    expires_at: datetime | None = None

    def state(self, now: datetime) -> KeyState:
        now = _utc(now)
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.retired_at is not None and now >= self.retired_at:
            return "retired"
        if now >= self.active_from:
            return "active"
        return "pending"

    @property
    def algs(self) -> tuple[str, ...]:
        return _ALGS_BY_KTY[self.kty]

    def describe(self, now: datetime) -> dict[str, Any]:
        """JSON-friendly summary for the CLI (timestamps as ISO-8601 UTC strings)."""
        return {
            "kid": self.kid,
            "kind": self.kty,
            "algs": list(self.algs),
            "state": self.state(now),
            "created_at": _fmt(self.created_at),
            "active_from": _fmt(self.active_from),
            "retired_at": _fmt(self.retired_at),
            "expires_at": _fmt(self.expires_at),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _FORMAT_VERSION,
            "kid": self.kid,
            "kty": self.kty,
            "created_at": _fmt(self.created_at),
            "active_from": _fmt(self.active_from),
            "retired_at": _fmt(self.retired_at),
            "expires_at": _fmt(self.expires_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyInfo:
        kty = data["kty"]
        if kty not in _ALGS_BY_KTY:
            raise ValueError(f"unknown kty {kty!r}")
        return cls(
            kid=str(data["kid"]),
            kty=kty,
            created_at=_parse_dt(data["created_at"]),
            active_from=_parse_dt(data["active_from"]),
            retired_at=_parse_opt_dt(data.get("retired_at")),
            expires_at=_parse_opt_dt(data.get("expires_at")),
        )


def _utc(dt: datetime) -> datetime:
    # Naive datetimes are ambiguous across nodes in different zones; refuse them.
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return dt.astimezone(UTC)


def _fmt(dt: datetime | None) -> str | None:
    return None if dt is None else _utc(dt).isoformat()


def _parse_dt(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 timestamp, got {value!r}")
    return _utc(datetime.fromisoformat(value))


def _parse_opt_dt(value: Any) -> datetime | None:
    return None if value is None else _parse_dt(value)


# --------------------------------------------------------------------------- files


def _pem_path(keys_dir: Path, kid: str) -> Path:
    return keys_dir / f"{kid}.pem"


def _meta_path(keys_dir: Path, kid: str) -> Path:
    return keys_dir / f"{kid}.json"


def _ensure_dir(keys_dir: Path) -> None:
    try:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask and ignored for an existing
        # directory; private keys must not sit in a group/world-readable one.
        if keys_dir.stat().st_mode & 0o077:
            keys_dir.chmod(0o700)
    except OSError as exc:
        raise KeysError(f"cannot create keys directory {keys_dir}: {exc.strerror or exc}") from exc


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 so that readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp already creates 0600; be explicit because it is the point.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not supported on every filesystem.
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    _ensure_dir(keys_dir)
    fd = os.open(keys_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _list_dir(keys_dir: Path) -> list[str]:
    try:
        return os.listdir(keys_dir)
    except FileNotFoundError:
        raise KeysError(f"keys directory {keys_dir} does not exist: run `idp keys init`") from None
    except NotADirectoryError:
        raise KeysError(f"keys directory {keys_dir} is not a directory") from None
    except OSError as exc:
        raise KeysError(f"cannot read keys directory {keys_dir}: {exc.strerror or exc}") from None


def _meta_names(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if n.endswith(".json") and not n.startswith("."))


def _read_infos(keys_dir: Path) -> list[KeyInfo]:
    """Metadata of every key in the directory; unreadable entries are skipped with a warning."""
    infos: list[KeyInfo] = []
    for name in _meta_names(_list_dir(keys_dir)):
        try:
            info = KeyInfo.from_json(json.loads((keys_dir / name).read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping unreadable key metadata %s: %s", keys_dir / name, exc)
            continue
        if f"{info.kid}.json" != name:
            log.warning(
                "skipping key metadata %s: kid %s does not match file name",
                keys_dir / name,
                info.kid,
            )
            continue
        infos.append(info)
    return infos


def _write_info(keys_dir: Path, info: KeyInfo) -> None:
    data = json.dumps(info.to_json(), indent=2, sort_keys=True).encode() + b"\n"
    _write_atomic(_meta_path(keys_dir, info.kid), data)


def _generate(kty: Kty, rsa_bits: int) -> tuple[bytes, SigningKey]:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kty == "RSA":
        if rsa_bits < _MIN_RSA_BITS:
            raise KeysError(f"rsa_bits must be at least {_MIN_RSA_BITS}, got {rsa_bits}")
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return pem, _import_pem(pem, kty)


def _import_pem(pem: bytes, kty: Kty, params: dict[str, Any] | None = None) -> SigningKey:
    key: SigningKey = (
        RSAKey.import_key(pem, parameters=params)  # type: ignore[arg-type]
        if kty == "RSA"
        else ECKey.import_key(pem, parameters=params)  # type: ignore[arg-type]
    )
    if not key.is_private:
        raise ValueError("file holds a public key, not a private key")
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise ValueError(f"EC key on curve {key.curve_name}, expected P-256")
    return key


def _create_key(keys_dir: Path, kty: Kty, *, now: datetime, active_from: datetime, rsa_bits: int) -> KeyInfo:
    pem, key = _generate(kty, rsa_bits)
    kid = key.thumbprint()  # RFC 7638, base64url SHA-256: stable and filename-safe
    if _meta_path(keys_dir, kid).exists() or _pem_path(keys_dir, kid).exists():
        # A thumbprint collision means the same key twice; never overwrite a key.
        raise KeysError(f"key {kid} already exists in {keys_dir}")
    info = KeyInfo(kid=kid, kty=kty, created_at=now, active_from=active_from)
    _write_atomic(_pem_path(keys_dir, kid), pem)
    _write_info(keys_dir, info)  # last: the JSON is the commit marker
    log.info("created %s key %s in %s, active from %s", kty, kid, keys_dir, _fmt(active_from))
    return info


# --------------------------------------------------------------------------- operations


def init(
    keys_dir: Path | str = DEFAULT_KEYS_DIR,
    *,
    kinds: Iterable[str] = ("RS256", "ES256"),
    now: datetime,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> list[KeyInfo]:
    """Create one immediately active key per key family that has none.

    Idempotent: a family with a pending or active key is left alone. Returns
    the keys created (empty when nothing had to be done).
    """
    keys_dir = Path(keys_dir)
    now = _utc(now)
    # RS256 and PS256 share the RSA family: one RSA key serves both.
    families = list(dict.fromkeys(kty_for(k) for k in kinds))
    created: list[KeyInfo] = []
    with _locked(keys_dir):
        infos = _read_infos(keys_dir)
        for kty in families:
            if any(i.kty == kty and i.state(now) in ("pending", "active") for i in infos):
                continue
            # No relying party can hold a token of this family yet, so there
            # is nothing to wait for: active at once.
            created.append(_create_key(keys_dir, kty, now=now, active_from=now, rsa_bits=rsa_bits))
    return created


def rotate(
    keys_dir: Path | str = DEFAULT_KEYS_DIR,
    *,
    kind: str,
    now: datetime,
    activate_after: timedelta,
    retain_for: timedelta = DEFAULT_RETAIN_FOR,
    rsa_bits: int = DEFAULT_RSA_BITS,
) -> KeyInfo:
    """Create a new key of ``kind``'s family and schedule the switch to it.

    The new key is published at once and signs from ``now + activate_after``
    (choose at least the relying parties' JWKS cache time). Keys it replaces
    retire at that moment and stay published until ``retired_at + retain_for``
    (choose the longest lifetime of a token we sign). If the family has no
    current key, the new key is active immediately since nobody could have
    cached a predecessor.
    """
    keys_dir = Path(keys_dir)
    now = _utc(now)
    kty = kty_for(kind)
    if activate_after < timedelta(0) or retain_for < timedelta(0):
        raise KeysError("activate_after and retain_for must not be negative")
    with _locked(keys_dir):
        infos = [i for i in _read_infos(keys_dir) if i.kty == kty]
        has_current = any(i.state(now) in ("pending", "active") for i in infos)
        active_from = now + activate_after if has_current else now
        new = _create_key(keys_dir, kty, now=now, active_from=active_from, rsa_bits=rsa_bits)
        for info in infos:
            # Also pulls forward a retirement scheduled by an earlier rotation
            # (and retires a still-pending key) so that one key stays active.
            if info.retired_at is None or info.retired_at > active_from:
                _write_info(
                    keys_dir,
                    replace(
                        info,
                        retired_at=active_from,
                        expires_at=active_from + retain_for,
                    ),
                )
                log.info("key %s retires at %s", info.kid, _fmt(active_from))
    return new


def list_keys(keys_dir: Path | str = DEFAULT_KEYS_DIR, *, now: datetime) -> list[dict[str, Any]]:
    """Every key's metadata and state, newest first (no private key is read)."""
    infos = _read_infos(Path(keys_dir))
    return [i.describe(now) for i in sorted(infos, key=_newest_first)]


def fingerprint(keys_dir: Path | str = DEFAULT_KEYS_DIR) -> str:
    """Cheap digest of the directory's state: changes whenever a key is added or retired.

    Uses only ``stat`` (no file contents), so calling it every few seconds is
    fine. Inode numbers are included because ``os.replace`` within the same
    clock tick can leave mtimes unchanged on coarse-grained filesystems.
    """
    keys_dir = Path(keys_dir)
    names = _meta_names(_list_dir(keys_dir))  # first: it has the readable errors
    h = hashlib.sha256()
    try:
        st = keys_dir.stat()
    except OSError as exc:
        raise KeysError(f"cannot read keys directory {keys_dir}: {exc.strerror or exc}") from None
    h.update(f"{st.st_mtime_ns}:{st.st_ino}".encode())
    for name in names:
        # A file vanishing mid-listing raced with a rotation: the next call sees it.
        with contextlib.suppress(FileNotFoundError):
            fst = (keys_dir / name).stat()
            h.update(f"|{name}:{fst.st_mtime_ns}:{fst.st_size}:{fst.st_ino}".encode())
    return h.hexdigest()


def _newest_first(info: KeyInfo) -> tuple[float, float, str]:
    return (-info.active_from.timestamp(), -info.created_at.timestamp(), info.kid)


# --------------------------------------------------------------------------- key ring


@dataclass(frozen=True)
class _LoadedKey:
    info: KeyInfo
    private: SigningKey = field(repr=False)
    public_jwk: Mapping[str, Any]


@dataclass(frozen=True)
class KeyRing:
    """All usable keys of a directory, loaded once. Immutable: reloading returns a new ring."""

    keys_dir: Path
    keys: tuple[_LoadedKey, ...] = field(repr=False)
    fingerprint: str
    # The last verification key set, by the kids it holds: it changes only when a key changes state.
    _verifying: dict[tuple[str, ...], KeySet] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, keys_dir: Path | str = DEFAULT_KEYS_DIR) -> KeyRing:
        """Read and parse every key; raises :class:`KeysError` if none is usable."""
        keys_dir = Path(keys_dir)
        # Fingerprint first: if a rotation races with loading, the next
        # reload_if_changed() sees a different fingerprint and loads again.
        fp = fingerprint(keys_dir)
        loaded: list[_LoadedKey] = []
        for info in _read_infos(keys_dir):
            path = _pem_path(keys_dir, info.kid)
            try:
                if path.stat().st_mode & 0o077:
                    log.warning("private key %s is readable by group/others; chmod 600 it", path)
                # No "alg" on the key object: joserfc would then refuse PS256
                # with an RSA key marked RS256; the algorithm is the caller's choice.
                key = _import_pem(path.read_bytes(), info.kty, {"kid": info.kid, "use": "sig"})
            except (OSError, ValueError) as exc:
                log.warning("skipping key %s: %s", info.kid, exc)
                continue
            if key.thumbprint() != info.kid:
                log.warning("skipping key %s: %s holds a different key", info.kid, path)
                continue
            loaded.append(_LoadedKey(info=info, private=key, public_jwk=_public_jwk(key, info)))
        if not loaded:
            raise KeysError(f"no signing keys in {keys_dir}: run `idp keys init`")
        loaded.sort(key=lambda k: _newest_first(k.info))
        return cls(keys_dir=keys_dir, keys=tuple(loaded), fingerprint=fp)

    def reload_if_changed(self) -> KeyRing:
        """``self`` if the directory is unchanged, else a freshly loaded ring.

        A failed reload keeps serving the current keys (and logs why): a
        half-visible rotation on a shared volume must not take the node down.
        """
        try:
            if fingerprint(self.keys_dir) == self.fingerprint:
                return self
            return KeyRing.load(self.keys_dir)
        except KeysError as exc:
            log.warning("keeping previously loaded keys: %s", exc)
            return self

    def signing_key(self, alg: str, *, now: datetime) -> SigningKey:
        """The active private key for ``alg`` (RS256/PS256 → RSA, ES256 → EC), newest first.

        The returned key carries ``kid``; put it into the JWS header.
        """
        if alg not in ("RS256", "PS256", "ES256"):
            raise KeysError(f"unsupported signing algorithm {alg!r} (supported: ES256, PS256, RS256)")
        kty = _KTY_BY_KIND[alg]
        for k in self.keys:  # sorted newest first
            if k.info.kty == kty and k.info.state(now) == "active":
                return k.private
        raise KeysError(f"no active {alg} signing key in {self.keys_dir}: run `idp keys init`")

    def public_jwks(self, *, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """The JWKS to publish: pending, active and retired keys, public members only."""
        published = [k for k in self.keys if k.info.state(now) != "expired"]
        # Stable sort: keys stay newest first within a state.
        published.sort(key=lambda k: _STATE_ORDER[k.info.state(now)])
        return {"keys": [dict(k.public_jwk) for k in published]}

    def next_change(self, *, now: datetime) -> datetime | None:
        """The first instant after ``now`` at which a key changes state (so the JWKS may change), if any."""
        now = _utc(now)
        moments = (
            moment
            for k in self.keys
            for moment in (k.info.active_from, k.info.retired_at, k.info.expires_at)
            if moment is not None and moment > now
        )
        return min(moments, default=None)

    def public_keyset(self, *, now: datetime) -> KeySet:
        """The published keys as a joserfc ``KeySet``, to verify tokens we issued."""
        jwks = self.public_jwks(now=now)
        kids = tuple(key["kid"] for key in jwks["keys"])
        keyset = self._verifying.get(kids)
        if keyset is None:
            # Importing costs more than the check it serves (an id_token_hint); one entry bounds the cache.
            keyset = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            self._verifying.clear()
            self._verifying[kids] = keyset
        return keyset

    def describe(self, *, now: datetime) -> list[dict[str, Any]]:
        """Loaded keys with their state at ``now``, newest first (for ``idp keys list``)."""
        return [k.info.describe(now) for k in self.keys]

    def kids(self) -> list[str]:
        return [k.info.kid for k in self.keys]


def _public_jwk(key: SigningKey, info: KeyInfo) -> dict[str, Any]:
    full = key.as_dict(private=False)
    jwk: dict[str, Any] = {m: full[m] for m in _PUBLIC_MEMBERS[info.kty]}
    jwk["kid"] = info.kid
    jwk["use"] = "sig"
    if info.kty == "EC":
        jwk["alg"] = "ES256"
    return jwk
