"""`idp factors`, `idp pins issue` and `idp users lock` / `unlock`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from idp.pid import generate_pid
from tests.live import base_env, idp

PID = generate_pid(birth_date=date(1984, 2, 3), synthetic=True)


@pytest.fixture
def env(tmp_path):
    env = base_env(tmp_path, IDP_LETTERS_OUTBOX=str(tmp_path / "letters"))
    idp(env, "db", "upgrade")
    idp(
        env,
        "users",
        "add",
        PID,
        "--given-name",
        "Ola",
        "--family-name",
        "Nordmann",
        "--street-address",
        "Bryggen 5",
        "--postal-code",
        "5003",
        "--locality",
        "Bergen",
        "--password",
        "et-langt-passord",
    )
    return env


def fails(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "idp.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_add_list_remove(env):
    assert idp(env, "factors", "list", PID).stdout.strip() == "no factors"
    idp(env, "factors", "add", PID, "sms", "--phone", "912 34 567")
    totp = json.loads(idp(env, "factors", "add", PID, "totp", "--json").stdout)
    assert len(totp["secret"]) == 32 and totp["otpauth_uri"].startswith("otpauth://totp/")
    listed = json.loads(idp(env, "factors", "list", PID, "--json").stdout)
    assert [(f["name"], f["phone"]) for f in listed] == [("sms", "+4791234567"), ("totp", None)]
    idp(env, "factors", "remove", PID, "sms")
    assert [f["name"] for f in json.loads(idp(env, "factors", "list", PID, "--json").stdout)] == ["totp"]
    assert "has no sms factor" in fails(env, "factors", "remove", PID, "sms")
    assert "mobile number" in fails(env, "factors", "add", PID, "sms", "--phone", "12")
    assert "base32" in fails(env, "factors", "add", PID, "totp", "--secret", "not base32!")


def test_pin_letters_stop_after_enrol_until(env, tmp_path):
    assert "no new PIN letters" in fails(env, "pins", "issue", PID)
    open_env = {**env, "IDP_PIN_ENROL_UNTIL": "", "IDP_PIN_ACCEPT_UNTIL": ""}
    issued = json.loads(idp(open_env, "pins", "issue", PID, "--json").stdout)
    assert issued["codes"] == 25
    text = Path(issued["letter"]).read_text(encoding="utf-8")
    assert "Bryggen 5" in text and text.count("\n") > 25
    listed = json.loads(idp(open_env, "factors", "list", PID, "--json").stdout)
    assert listed[0]["unused_pin_codes"] == 25


def test_lock_and_unlock(env):
    assert "was not locked" in idp(env, "users", "unlock", PID).stdout
    assert idp(env, "users", "lock", PID).stdout.startswith("locked ")
    assert "was already locked" in idp(env, "users", "lock", PID).stdout
    assert json.loads(idp(env, "users", "show", PID, "--json").stdout)["status"] == "locked"
    assert idp(env, "users", "unlock", PID).stdout.startswith("unlocked ")
    assert "no citizen" in fails(env, "users", "lock", generate_pid(birth_date=date(1990, 1, 1), synthetic=True))
    assert "no citizen" in fails(env, "users", "unlock", generate_pid(birth_date=date(1990, 1, 1), synthetic=True))
