"""`idp notices factor-phase-out` as support runs it: a real `idp` process, on SQLite and PostgreSQL + Redis."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import date

import pytest

from idp.pid import generate_pid
from tests.cli.test_cli import fails
from tests.live import base_env, idp
from tests.production.backends import Backend, postgres_redis, selected

WARD = generate_pid(birth_date=date(1931, 8, 2), synthetic=True)
GUARDIAN = generate_pid(birth_date=date(1955, 3, 14), synthetic=True)
CITIZEN = generate_pid(birth_date=date(1980, 1, 1), synthetic=True)


@pytest.fixture(params=selected())
def env(request, tmp_path):
    with postgres_redis() if request.param == "postgres" else nullcontext(Backend("sqlite")) as backend:
        env = base_env(
            tmp_path,
            **backend.env,
            IDP_PIN_ENROL_UNTIL="",
            IDP_PIN_ACCEPT_UNTIL="2027-06-01",
            IDP_BRANDING_SUPPORT_EMAIL="hjelp@id.example",
            IDP_BRANDING_SUPPORT_PHONE="22 00 00 00",
        )
        idp(env, "db", "upgrade")
        for pid, given, street in (
            (WARD, "Ola", "Storgata 1"),
            (GUARDIAN, "Gro", "Vergeveien 2"),
            (CITIZEN, "Siv", ""),
        ):
            address = ["--street-address", street, "--postal-code", "0155", "--locality", "Oslo"] if street else []
            idp(
                env,
                "users",
                "add",
                pid,
                "--given-name",
                given,
                "--family-name",
                "Nordmann",
                "--password",
                "pw-12345678",
                *address,
            )
        idp(env, "pins", "issue", WARD)
        idp(env, "factors", "add", CITIZEN, "sms", "--phone", "+4791234567")
        yield env


def run(env, *args: str) -> dict:
    return json.loads(idp(env, "notices", "factor-phase-out", "--factor", "pin", "--json", *args).stdout)


def test_dry_run_then_with_a_guardian_then_twice(env, tmp_path):
    assert run(env, "--dry-run") == {"citizen_letters": 1, "guardian_letters": 0, "already_sent": 0, "no_address": 0}
    assert not list((tmp_path / "var").glob("letters/*-notice-*"))
    idp(
        env, "guardians", "add", "--reference", "VM-9", "--guardian", GUARDIAN, "--ward", WARD,
        "--ward-name", "Ola Nordmann", "--role", "helse", "--valid-from", "2026-01-01",
    )  # fmt: skip
    assert run(env)["sent"] == 1
    [letter] = (tmp_path / "var").glob("letters/*-notice-*.txt")
    text = letter.read_text(encoding="utf-8")
    assert text.startswith("Gro Nordmann\nVergeveien 2\n") and "vergefullmakt VM-9" in text
    assert WARD not in text and GUARDIAN not in text
    assert run(env) == {"citizen_letters": 0, "guardian_letters": 0, "already_sent": 1, "no_address": 0, "sent": 0}
    assert "sms is not being phased out" in fails(env, "notices", "factor-phase-out", "--factor", "sms")
