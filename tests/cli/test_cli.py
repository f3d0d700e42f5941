"""The `idp` command as an operator uses it: JSON for scripts, one readable line for mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from idp.pid import generate_pid
from tests.live import base_env, idp


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = base_env(tmp_path_factory.mktemp("cli"))
    idp(env, "db", "upgrade")
    return env


def fails(env, *args: str) -> str:
    """Run a command that must fail; return its one line of error."""
    result = subprocess.run([sys.executable, "-m", "idp.cli", *args], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_every_command_has_help(env):
    for command in (
        ["db", "upgrade"],
        ["keys", "init"],
        ["keys", "rotate"],
        ["keys", "list"],
        ["users", "add"],
        ["users", "show"],
        ["users", "list"],
        ["users", "set-password"],
        ["users", "disable"],
        ["clients", "add"],
        ["clients", "show"],
        ["clients", "list"],
        ["clients", "remove"],
        ["clients", "update"],
        ["clients", "rotate-secret"],
        ["clients", "add-key"],
        ["clients", "remove-key"],
        ["serve"],
    ):
        assert "Usage:" in idp(env, *command, "--help").stdout


def test_keys_init_list_rotate(env):
    assert "created 2 key(s)" in idp(env, "keys", "init").stdout
    assert "already exist" in idp(env, "keys", "init").stdout
    rotated = idp(env, "keys", "rotate", "--kind", "ES256", "--delay", "60").stdout
    assert "published" in rotated
    keys = json.loads(idp(env, "keys", "list", "--json").stdout)
    assert sorted(k["state"] for k in keys) == ["active", "active", "pending"]


def test_users_add_show_list_disable(env):
    pid = generate_pid(birth_date=date(1960, 2, 29), synthetic=True)
    added = json.loads(
        idp(
            env,
            "users",
            "add",
            pid,
            "--given-name",
            "Per",
            "--family-name",
            "Hansen",
            "--password",
            "lang-nok-passord",
            "--json",
        ).stdout
    )
    assert added["pid"] == pid
    assert added["status"] == "active"
    assert json.loads(idp(env, "users", "show", pid, "--json").stdout)["given_name"] == "Per"
    assert pid in [u["pid"] for u in json.loads(idp(env, "users", "list", "--json").stdout)]
    idp(env, "users", "disable", pid)
    assert json.loads(idp(env, "users", "show", pid, "--json").stdout)["status"] == "disabled"
    assert "exists already" in fails(
        env, "users", "add", pid, "--given-name", "P", "--family-name", "H", "--password", "lang-nok-passord"
    )
    assert "at least 8" in fails(env, "users", "set-password", pid, "--password", "kort")


def test_bad_identity_numbers_get_one_line(env):
    assert fails(env, "users", "show", "12345").startswith("idp: ")
    assert fails(
        env, "users", "add", "01010112345", "--given-name", "A", "--family-name", "B", "--password", "lang-nok-passord"
    ).startswith("idp: ")


def test_clients_add_prints_secret_once_and_stores_only_its_hash(env, tmp_path):
    made = json.loads(
        idp(env, "clients", "add", "--name", "Skatt", "--redirect-uri", "https://skatt.example/cb", "--json").stdout
    )
    assert made["client_secret"]
    shown = json.loads(idp(env, "clients", "show", made["client_id"], "--json").stdout)
    assert "client_secret" not in shown
    assert shown["redirect_uris"] == ["https://skatt.example/cb"]
    idp(env, "clients", "remove", made["client_id"])
    assert "no client" in fails(env, "clients", "show", made["client_id"])


def test_clients_add_rejects_bad_input(env):
    assert "absolute http(s) URI" in fails(env, "clients", "add", "--name", "X", "--redirect-uri", "not a uri")
    assert "needs jwks or jwks_uri" in fails(
        env,
        "clients",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://x.example/cb",
        "--auth-method",
        "private_key_jwt",
    )
    assert fails(
        env, "clients", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--auth-method", "magic"
    )


def test_clients_update_rotate_secret_and_keys(env, tmp_path):
    made = json.loads(
        idp(env, "clients", "add", "--name", "NAV", "--redirect-uri", "https://nav.example/cb", "--json").stdout
    )
    client_id = made["client_id"]
    updated = json.loads(
        idp(env, "clients", "update", client_id, "--name", "Nav", "--scope", "openid pid", "--json").stdout
    )
    assert (updated["client_name"], updated["scope"]) == ("Nav", "openid pid")
    assert updated["redirect_uris"] == ["https://nav.example/cb"]  # options not given stay as they were
    assert "nothing to change" in fails(env, "clients", "update", client_id)
    assert "https" in fails(env, "clients", "update", client_id, "--redirect-uri", "http://nav.example/cb")
    assert "unknown scope" in fails(env, "clients", "update", client_id, "--scope", "openid everything")
    assert "no client" in fails(env, "clients", "update", "none-such", "--name", "X")

    rotated = json.loads(idp(env, "clients", "rotate-secret", client_id, "--overlap", "600", "--json").stdout)
    assert rotated["client_secret"] != made["client_secret"]
    assert "overlap_seconds must be between" in fails(env, "clients", "rotate-secret", client_id, "--overlap", "-1")

    key = tmp_path / "key.json"
    key.write_text(json.dumps({"kty": "EC", "crv": "P-256", "kid": "k1", **_public_point()}))
    assert "added key k1" in idp(env, "clients", "add-key", client_id, str(key)).stdout
    assert json.loads(idp(env, "clients", "show", client_id, "--json").stdout)["has_jwks"] is True
    assert "has no key nope" in fails(env, "clients", "remove-key", client_id, "nope")
    assert "removed key k1" in idp(env, "clients", "remove-key", client_id, "k1").stdout


def test_clients_register_their_authorization_details_types(env):
    """RFC 9396 §10: the types a client may ask for, set at add, changed and removed at update."""
    made = json.loads(
        idp(
            env, "clients", "add", "--name", "Helse", "--redirect-uri", "https://helse.example/cb",
            "--authorization-details-type", "idporten:fullmakt", "--json",
        ).stdout
    )  # fmt: skip
    client_id = made["client_id"]
    assert made["authorization_details_types"] == ["idporten:fullmakt"]
    shown = json.loads(idp(env, "clients", "show", client_id, "--json").stdout)
    assert shown["authorization_details_types"] == ["idporten:fullmakt"]
    renamed = json.loads(idp(env, "clients", "update", client_id, "--name", "Helse Nord", "--json").stdout)
    assert renamed["authorization_details_types"] == ["idporten:fullmakt"]  # not given: kept
    removed = json.loads(idp(env, "clients", "update", client_id, "--no-authorization-details-types", "--json").stdout)
    assert removed["authorization_details_types"] == []
    again = json.loads(
        idp(env, "clients", "update", client_id, "--authorization-details-type", "idporten:fullmakt", "--json").stdout
    )
    assert again["authorization_details_types"] == ["idporten:fullmakt"]
    assert "unknown authorization_details type 'payment_initiation'" in fails(
        env, "clients", "update", client_id, "--authorization-details-type", "payment_initiation"
    )
    assert "contradict" in fails(
        env, "clients", "update", client_id,
        "--authorization-details-type", "idporten:fullmakt", "--no-authorization-details-types",
    )  # fmt: skip
    assert "unknown authorization_details type" in fails(
        env, "clients", "add", "--name", "X", "--redirect-uri", "https://x.example/cb",
        "--authorization-details-type", "idporten:fullmakt\u200b",
    )  # fmt: skip


def _public_point() -> dict:
    from joserfc.jwk import ECKey

    return {k: v for k, v in ECKey.generate_key("P-256").as_dict(private=False).items() if k in ("x", "y")}


def test_an_admin_client_is_added_with_the_command(env):
    made = json.loads(
        idp(
            env,
            "clients",
            "add",
            "--name",
            "Drift",
            "--grant-type",
            "client_credentials",
            "--scope",
            "admin",
            "--json",
        ).stdout
    )
    assert made["grant_types"] == ["client_credentials"] and made["redirect_uris"] == []
    assert "client_credentials" in fails(
        env, "clients", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--scope", "openid admin"
    )


def test_bad_config_is_one_line(env):
    bad = {**env, "IDP_TOKENS_ACCESS_TOKEN_SECONDS": "ten"}
    assert "tokens.access_token_seconds must be a whole number" in fails(bad, "users", "list")


def test_generated_client_ids_never_look_like_options():
    from idp.models.oauth import new_client_id

    # A base64url id starts with "-" one time in 64; `idp clients show -Ab…` then failed.
    assert not any(new_client_id().startswith("-") for _ in range(2000))
