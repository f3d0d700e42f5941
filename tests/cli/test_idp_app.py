"""The reference app's key file and its one-line errors (its talk with a live provider: tests/e2e/test_app_login.py)."""

from __future__ import annotations

import json
import stat

import pytest

from idp_app import cli, keys
from tests.live import free_port

PASSPHRASE = "riktig-pin-1"


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "key.json"
    keys.save(keys.new_key(f"http://127.0.0.1:{free_port()}", "Testtelefon"), path, PASSPHRASE)
    return path


def run(capsys, monkeypatch, *args: str, passphrase: str = PASSPHRASE) -> tuple[int, str]:
    monkeypatch.setenv("IDP_APP_PASSPHRASE", passphrase)
    code = cli.main(list(args))
    return code, capsys.readouterr().err.strip()


def test_the_private_key_is_sealed_with_the_passphrase(key_file):
    document = json.loads(key_file.read_text())
    assert "ENCRYPTED PRIVATE KEY" in document["private_key"]
    assert "d" not in document["public_jwk"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    device = keys.load(key_file, PASSPHRASE)
    assert device.kid == document["kid"] and device.name == "Testtelefon"
    with pytest.raises(keys.KeyFileError, match="wrong passphrase"):
        keys.load(key_file, "feil")


def test_errors_are_one_line(capsys, monkeypatch, key_file, tmp_path):
    assert run(capsys, monkeypatch, "--key", str(key_file), "devices", passphrase="feil") == (
        1,
        "idp-app: wrong passphrase",
    )
    code, err = run(capsys, monkeypatch, "--key", str(tmp_path / "none.json"), "pending")
    assert code == 1 and err.startswith("idp-app: no key file at") and "\n" not in err
    code, err = run(capsys, monkeypatch, "--key", str(key_file), "approve", "--number", "42")
    assert code == 1 and err.startswith("idp-app: cannot reach http://127.0.0.1:")
    (tmp_path / "junk.json").write_text("[1, 2]")
    code, err = run(capsys, monkeypatch, "--key", str(tmp_path / "junk.json"), "devices")
    assert (code, err) == (1, f"idp-app: {tmp_path / 'junk.json'} is not a key file of idp-app")
    code, err = run(capsys, monkeypatch, "--key", str(key_file), "enrol", "--issuer", "http://x", "--code", "1")
    assert code == 1 and "exists: this device is enrolled already" in err


def test_the_qr_codes_link_gives_issuer_and_code():
    link = "idp-app://enrol?issuer=https%3A%2F%2Flogin.example.no&code=1234-5678-9012"
    assert cli._activation(link, None) == ("1234-5678-9012", "https://login.example.no")
    assert cli._activation("1234-5678-9012", "https://a.example") == ("1234-5678-9012", "https://a.example")


def test_the_demo_enrols_the_key_files_device_and_idp_factors_remove_takes_it_away(tmp_path, key_file):
    import sqlalchemy as sa

    from idp.demo import DEMO_APP_PASSPHRASE
    from tests.live import base_env, idp

    env = base_env(tmp_path / "site")
    idp(env, "db", "upgrade")
    demo_key = tmp_path / "demo-key.json"
    keys.save(keys.new_key("http://127.0.0.1", "Demo-telefon"), demo_key, DEMO_APP_PASSPHRASE)
    loaded = json.loads(idp(env, "demo", "--app-key", str(demo_key), "--json").stdout)
    again = json.loads(idp(env, "demo", "--app-key", str(demo_key), "--json").stdout)  # changes nothing
    assert loaded["app"] == again["app"] and loaded["app"]["passphrase"] == DEMO_APP_PASSPHRASE
    pid = loaded["app"]["pid"]
    listed = json.loads(idp(env, "factors", "list", pid, "--json").stdout)
    assert {row["name"]: row["preferred"] for row in listed} == {"sms": False, "app": True}
    database = sa.create_engine(env["IDP_DATABASE_URL"])
    with database.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM app_device")).scalars().all() == ["Demo-telefon"]
    idp(env, "factors", "remove", pid, "app")
    with database.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM app_device")).scalar() == 0
    database.dispose()
