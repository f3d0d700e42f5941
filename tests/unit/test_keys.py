from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import extract_compact

from idp.oidc import keys
from idp.oidc.keys import KeyRing, KeysError

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _all_member_names(value: Any) -> set[str]:
    """Every dict key anywhere in a JSON-like structure."""
    if isinstance(value, dict):
        names = set(value)
        for v in value.values():
            names |= _all_member_names(v)
        return names
    if isinstance(value, list):
        return set().union(*(_all_member_names(v) for v in value)) if value else set()
    return set()


def _sign(ring: KeyRing, alg: str, now: datetime) -> str:
    key = ring.signing_key(alg, now=now)
    return jwt.encode({"alg": alg, "kid": key.kid}, {"sub": "abc", "iat": 1}, key, algorithms=[alg])


def _verify(token: str, jwks: dict[str, Any], alg: str) -> dict[str, Any]:
    kid = extract_compact(token.encode()).headers()["kid"]
    matching = [k for k in jwks["keys"] if k["kid"] == kid]
    assert len(matching) == 1, f"kid {kid} published {len(matching)} times"
    keyset = KeySet.import_key_set({"keys": matching})
    return jwt.decode(token, keyset, algorithms=[alg]).claims


def _kid_in_header(token: str) -> str:
    return extract_compact(token.encode()).headers()["kid"]


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def ring(keys_dir: Path) -> KeyRing:
    keys.init(keys_dir, now=T0)
    return KeyRing.load(keys_dir)


# ------------------------------------------------------------------ init / files


def test_init_creates_one_active_key_per_family(keys_dir: Path) -> None:
    created = keys.init(keys_dir, kinds=("RS256", "PS256", "ES256"), now=T0)
    assert sorted(k.kty for k in created) == [
        "EC",
        "RSA",
    ]  # RS256+PS256 share one RSA key
    ring = KeyRing.load(keys_dir)
    assert [d["state"] for d in ring.describe(now=T0)] == ["active", "active"]


def test_init_is_idempotent(keys_dir: Path) -> None:
    first = keys.init(keys_dir, now=T0)
    assert len(first) == 2
    assert keys.init(keys_dir, now=T0 + timedelta(days=1)) == []
    assert len(list(keys_dir.glob("*.pem"))) == 2
    # A family that is missing is added without touching the other one.
    assert keys.init(keys_dir, kinds=("ES256",), now=T0) == []


def test_file_and_directory_modes(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    files = [p for p in keys_dir.iterdir() if p.suffix in (".pem", ".json")]
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in keys_dir.iterdir() if p.name.endswith(".tmp")]


def test_existing_loose_directory_is_tightened(keys_dir: Path) -> None:
    keys_dir.mkdir(mode=0o755)
    os.chmod(keys_dir, 0o755)
    keys.init(keys_dir, now=T0)
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_kid_is_rfc7638_thumbprint_and_unique(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    for i in range(3):
        keys.rotate(
            keys_dir,
            kind="RS256",
            now=T0 + timedelta(hours=i),
            activate_after=timedelta(0),
        )
        keys.rotate(
            keys_dir,
            kind="ES256",
            now=T0 + timedelta(hours=i),
            activate_after=timedelta(0),
        )
    ring = KeyRing.load(keys_dir)
    kids = ring.kids()
    assert len(kids) == 8
    assert len(set(kids)) == 8
    for entry in ring.keys:
        assert entry.private.thumbprint() == entry.info.kid
        assert (keys_dir / f"{entry.info.kid}.pem").is_file()
        assert (keys_dir / f"{entry.info.kid}.json").is_file()
    # Stable: loading again yields the same kids.
    assert KeyRing.load(keys_dir).kids() == kids


def test_metadata_sidecar(keys_dir: Path) -> None:
    (created,) = keys.init(keys_dir, kinds=("ES256",), now=T0)
    meta = json.loads((keys_dir / f"{created.kid}.json").read_text())
    assert meta["kid"] == created.kid
    assert meta["kty"] == "EC"
    assert datetime.fromisoformat(meta["created_at"]) == T0
    assert datetime.fromisoformat(meta["active_from"]) == T0
    assert meta["retired_at"] is None
    assert "BEGIN PRIVATE KEY" in (keys_dir / f"{created.kid}.pem").read_text()


def test_rsa_bits_configurable(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("RS256",), now=T0, rsa_bits=3072)
    key = KeyRing.load(keys_dir).signing_key("RS256", now=T0)
    assert isinstance(key, RSAKey)
    assert key.raw_value.key_size == 3072
    with pytest.raises(KeysError, match="2048"):
        keys.init(keys_dir / "small", kinds=("RS256",), now=T0, rsa_bits=1024)


def test_default_rsa_bits_is_2048(ring: KeyRing) -> None:
    key = ring.signing_key("RS256", now=T0)
    assert key.raw_value.key_size == 2048


# ------------------------------------------------------------------ signing / JWKS


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_sign_and_verify_against_jwks(ring: KeyRing, alg: str) -> None:
    token = _sign(ring, alg, T0)
    claims = _verify(token, ring.public_jwks(now=T0), alg)
    assert claims["sub"] == "abc"
    # And with the ring's own verification key set.
    assert jwt.decode(token, ring.public_keyset(now=T0), algorithms=[alg]).claims["sub"] == "abc"


def test_the_verification_key_set_is_parsed_once_per_published_set(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("ES256",), now=T0)
    keys.rotate(keys_dir, kind="ES256", now=T0, activate_after=timedelta(0), retain_for=timedelta(hours=1))
    ring = KeyRing.load(keys_dir)
    both = ring.public_keyset(now=T0)
    assert ring.public_keyset(now=T0 + timedelta(minutes=30)) is both
    # The retired key expired: a new set without it, not the cached one.
    later = ring.public_keyset(now=T0 + timedelta(hours=2))
    assert [k.kid for k in later.keys] == [k["kid"] for k in ring.public_jwks(now=T0 + timedelta(hours=2))["keys"]]
    assert len(later.keys) == len(both.keys) - 1


def test_rs256_and_ps256_share_the_rsa_key(ring: KeyRing) -> None:
    assert ring.signing_key("RS256", now=T0).kid == ring.signing_key("PS256", now=T0).kid
    assert ring.signing_key("ES256", now=T0).kid != ring.signing_key("RS256", now=T0).kid


def test_jwks_shape(ring: KeyRing) -> None:
    jwks = ring.public_jwks(now=T0)
    assert set(jwks) == {"keys"}
    by_kty = {k["kty"]: k for k in jwks["keys"]}
    assert set(by_kty) == {"RSA", "EC"}
    for k in jwks["keys"]:
        assert k["use"] == "sig"
        assert k["kid"]
    # RSA keys serve RS256 and PS256, so they carry no alg; EC keys only do ES256.
    assert set(by_kty["RSA"]) == {"kty", "n", "e", "kid", "use"}
    assert set(by_kty["EC"]) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert by_kty["EC"]["alg"] == "ES256"
    assert by_kty["EC"]["crv"] == "P-256"
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(kids) == len(set(kids))
    json.dumps(jwks)  # serialisable as is


def test_jwks_never_contains_private_members(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    t1 = T0 + timedelta(hours=1)
    keys.rotate(
        keys_dir,
        kind="RS256",
        now=t1,
        activate_after=timedelta(hours=1),
        retain_for=timedelta(hours=2),
    )
    keys.rotate(
        keys_dir,
        kind="ES256",
        now=t1,
        activate_after=timedelta(hours=1),
        retain_for=timedelta(hours=2),
    )
    ring = KeyRing.load(keys_dir)
    for now in (T0, t1, t1 + timedelta(hours=1, minutes=30), t1 + timedelta(hours=4)):
        jwks = ring.public_jwks(now=now)
        assert jwks["keys"]
        assert not _all_member_names(jwks) & PRIVATE_MEMBERS
        for k in jwks["keys"]:
            assert not KeySet.import_key_set({"keys": [k]}).keys[0].is_private
    # The signing keys themselves are private, of course.
    assert ring.signing_key("RS256", now=T0).is_private
    # ... and describe() does not leak key material either.
    assert not _all_member_names(ring.describe(now=T0)) & PRIVATE_MEMBERS


def test_signing_key_unsupported_alg(ring: KeyRing) -> None:
    with pytest.raises(KeysError, match="HS256"):
        ring.signing_key("HS256", now=T0)


def test_naive_datetime_rejected(ring: KeyRing, keys_dir: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        ring.signing_key("RS256", now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        keys.init(keys_dir, now=datetime(2025, 1, 1))


# ------------------------------------------------------------------ rotation timeline


def test_rotation_timeline(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    old_kid = KeyRing.load(keys_dir).signing_key("RS256", now=T0).kid
    ec_kid = KeyRing.load(keys_dir).signing_key("ES256", now=T0).kid

    t1 = T0 + timedelta(days=10)
    activate_after = timedelta(hours=1)
    retain_for = timedelta(hours=2)
    new = keys.rotate(
        keys_dir,
        kind="RS256",
        now=t1,
        activate_after=activate_after,
        retain_for=retain_for,
    )
    assert new.kid != old_kid
    assert new.active_from == t1 + activate_after
    ring = KeyRing.load(keys_dir)

    def published(now: datetime) -> set[str]:
        return {k["kid"] for k in ring.public_jwks(now=now)["keys"]}

    def states(now: datetime) -> dict[str, str]:
        return {d["kid"]: d["state"] for d in ring.describe(now=now)}

    # Pending: published at once, but the old key still signs.
    assert published(t1) == {old_kid, new.kid, ec_kid}
    assert states(t1) == {old_kid: "active", new.kid: "pending", ec_kid: "active"}
    token = _sign(ring, "RS256", t1)
    assert _kid_in_header(token) == old_kid
    _verify(token, ring.public_jwks(now=t1), "RS256")

    just_before = t1 + activate_after - timedelta(seconds=1)
    assert ring.signing_key("RS256", now=just_before).kid == old_kid

    # Active: the new key signs; the old one is retired but still published so
    # tokens it signed keep verifying.
    t2 = t1 + activate_after
    assert ring.signing_key("RS256", now=t2).kid == new.kid
    assert ring.signing_key("PS256", now=t2).kid == new.kid
    assert states(t2) == {old_kid: "retired", new.kid: "active", ec_kid: "active"}
    assert published(t2) == {old_kid, new.kid, ec_kid}
    _verify(token, ring.public_jwks(now=t2 + retain_for - timedelta(seconds=1)), "RS256")

    # Expired: dropped from the JWKS after retain_for, files remain.
    t3 = t2 + retain_for
    assert published(t3) == {new.kid, ec_kid}
    assert states(t3)[old_kid] == "expired"
    assert (keys_dir / f"{old_kid}.pem").exists()
    listed = {d["kid"]: d for d in keys.list_keys(keys_dir, now=t3)}
    assert listed[old_kid]["state"] == "expired"
    assert datetime.fromisoformat(listed[old_kid]["retired_at"]) == t2
    assert datetime.fromisoformat(listed[old_kid]["expires_at"]) == t3
    assert listed[new.kid]["retired_at"] is None

    # The EC family was not touched by an RSA rotation.
    assert ring.signing_key("ES256", now=t3).kid == ec_kid


def test_jwks_orders_active_key_first(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("ES256",), now=T0)
    new = keys.rotate(keys_dir, kind="ES256", now=T0, activate_after=timedelta(hours=1))
    ring = KeyRing.load(keys_dir)
    assert ring.public_jwks(now=T0)["keys"][1]["kid"] == new.kid
    assert ring.public_jwks(now=T0 + timedelta(hours=1))["keys"][0]["kid"] == new.kid


def test_second_rotation_before_activation(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("ES256",), now=T0)
    k1 = KeyRing.load(keys_dir).signing_key("ES256", now=T0).kid
    k2 = keys.rotate(keys_dir, kind="ES256", now=T0, activate_after=timedelta(hours=2))
    k3 = keys.rotate(
        keys_dir,
        kind="ES256",
        now=T0 + timedelta(minutes=1),
        activate_after=timedelta(hours=1),
    )
    ring = KeyRing.load(keys_dir)
    # At every instant exactly one key of the family is active.
    for minutes in range(0, 4 * 60, 7):
        now = T0 + timedelta(minutes=minutes)
        active = [d for d in ring.describe(now=now) if d["state"] == "active"]
        assert len(active) == 1, now
    assert ring.signing_key("ES256", now=T0 + timedelta(minutes=30)).kid == k1
    assert ring.signing_key("ES256", now=T0 + timedelta(hours=3)).kid == k3.kid
    assert k2.kid in {k["kid"] for k in ring.public_jwks(now=T0 + timedelta(minutes=30))["keys"]}


def test_rotate_without_predecessor_activates_immediately(keys_dir: Path) -> None:
    new = keys.rotate(keys_dir, kind="ES256", now=T0, activate_after=timedelta(hours=1))
    assert new.active_from == T0
    assert KeyRing.load(keys_dir).signing_key("ES256", now=T0).kid == new.kid


def test_rotate_unknown_kind(keys_dir: Path) -> None:
    with pytest.raises(KeysError, match="unsupported key kind"):
        keys.rotate(keys_dir, kind="HS256", now=T0, activate_after=timedelta(0))


def test_no_active_key_for_family(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("ES256",), now=T0)
    ring = KeyRing.load(keys_dir)
    with pytest.raises(KeysError, match="no active RS256 signing key"):
        ring.signing_key("RS256", now=T0)


# ------------------------------------------------------------------ errors / reload


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeysError, match="does not exist") as excinfo:
        KeyRing.load(tmp_path / "nope")
    assert "\n" not in str(excinfo.value)


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(KeysError, match=r"no signing keys in .*: run `idp keys init`"):
        KeyRing.load(tmp_path)


def test_not_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(KeysError):
        KeyRing.load(path)


def test_unreadable_directory(keys_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys.init(keys_dir, now=T0)

    # chmod 000 does not stop root (which CI may run as), so fake the error.
    def denied(path: object) -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(keys.os, "listdir", denied)
    with pytest.raises(KeysError, match="cannot read keys directory .*Permission denied"):
        KeyRing.load(keys_dir)


def test_broken_files_are_skipped(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    (keys_dir / "garbage.json").write_text("{not json")
    (keys_dir / "orphan.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (keys_dir / ".x.json.123.tmp").write_text("left over from a crash")
    assert len(KeyRing.load(keys_dir).kids()) == 2


def test_key_file_not_matching_kid_is_skipped(keys_dir: Path) -> None:
    keys.init(keys_dir, kinds=("ES256",), now=T0)
    (ec,) = keys.init(keys_dir / "other", kinds=("ES256",), now=T0)
    (mine,) = [p.stem for p in keys_dir.glob("*.pem")]
    (keys_dir / f"{mine}.pem").write_bytes((keys_dir / "other" / f"{ec.kid}.pem").read_bytes())
    with pytest.raises(KeysError, match="no signing keys"):
        KeyRing.load(keys_dir)


def test_reload_if_changed(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    ring = KeyRing.load(keys_dir)
    assert ring.reload_if_changed() is ring
    fp = keys.fingerprint(keys_dir)
    assert keys.fingerprint(keys_dir) == fp

    # Simulates a rotation done by another node sharing the directory.
    new = keys.rotate(keys_dir, kind="RS256", now=T0, activate_after=timedelta(minutes=5))
    assert keys.fingerprint(keys_dir) != fp
    reloaded = ring.reload_if_changed()
    assert reloaded is not ring
    assert new.kid in reloaded.kids()
    assert new.kid not in ring.kids()  # the old ring is immutable
    assert reloaded.reload_if_changed() is reloaded


def test_reload_keeps_old_ring_on_failure(keys_dir: Path) -> None:
    keys.init(keys_dir, now=T0)
    ring = KeyRing.load(keys_dir)
    for path in keys_dir.glob("*.json"):
        path.unlink()
    assert ring.reload_if_changed() is ring
