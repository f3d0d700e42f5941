"""`idp guardians add / import / list / revoke` as support uses it: validated, all or nothing, audited, pids masked."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import date

import pytest
import sqlalchemy as sa

from idp.pid import generate_pid, mask_pid
from tests.cli.test_cli import fails
from tests.live import base_env, idp
from tests.production.backends import Backend, postgres_redis, selected

GUARDIAN = generate_pid(birth_date=date(1955, 3, 14), synthetic=True)
WARD = generate_pid(birth_date=date(1931, 8, 2), synthetic=True)
OTHER_WARD = generate_pid(birth_date=date(1940, 1, 9), synthetic=True)
HEADER = "reference,guardian_pid,ward_pid,ward_name,roles,valid_from,valid_to\n"


@pytest.fixture(scope="module", params=selected())
def env(request, tmp_path_factory):
    """A provider's data on SQLite, then on PostgreSQL + Redis, shared by this module's commands."""
    data = tmp_path_factory.mktemp("guardians")
    with postgres_redis() if request.param == "postgres" else nullcontext(Backend("sqlite")) as backend:
        env = base_env(data, **backend.env)
        idp(env, "db", "upgrade")
        idp(
            env, "guardians", "add", "--reference", "VM-TAKEN", "--guardian", GUARDIAN, "--ward", WARD,
            "--ward-name", "Ola", "--role", "helse", "--valid-from", "2026-01-01",
        )  # fmt: skip
        yield env


def listed(env) -> dict[str, dict]:
    return {m["reference"]: m for m in json.loads(idp(env, "guardians", "list", "--json").stdout)}


def audit_events(env) -> list[tuple[str, str | None, str]]:
    engine = sa.create_engine(env["IDP_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT event, pid_masked, detail FROM audit_event WHERE event LIKE 'guardianship.%' ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(event, pid, detail if isinstance(detail, str) else json.dumps(detail)) for event, pid, detail in rows]


def test_add_list_revoke(env):
    added = idp(
        env,
        "guardians", "add",
        "--reference", "VM-2026-1",
        "--guardian", GUARDIAN,
        "--ward", WARD,
        "--ward-name", "Ola Nordmann",
        "--role", "helse", "--role", "bank",
        "--valid-from", "2026-01-01",
    ).stdout  # fmt: skip
    assert GUARDIAN not in added and WARD not in added
    assert mask_pid(GUARDIAN) in added
    mandate = listed(env)["VM-2026-1"]
    assert mandate == {
        "reference": "VM-2026-1",
        "guardian_pid": GUARDIAN,
        "ward_pid": WARD,
        "ward_name": "Ola Nordmann",
        "roles": ["helse", "bank"],
        "valid_from": "2026-01-01",
        "valid_to": None,
        "revoked": False,
    }
    text = idp(env, "guardians", "list").stdout
    assert "VM-2026-1" in text and GUARDIAN not in text and WARD not in text
    assert "is registered already" in fails(
        env, "guardians", "add", "--reference", "VM-2026-1", "--guardian", GUARDIAN, "--ward", OTHER_WARD,
        "--ward-name", "X", "--role", "helse", "--valid-from", "2026-01-01",
    )  # fmt: skip
    idp(env, "guardians", "revoke", "VM-2026-1")
    assert listed(env)["VM-2026-1"]["revoked"] is True
    assert "no mandate" in fails(env, "guardians", "revoke", "VM-0")
    events = [(event, pid) for event, pid, _detail in audit_events(env)]
    assert ("guardianship.added", mask_pid(GUARDIAN)) in events
    assert ("guardianship.revoked", mask_pid(GUARDIAN)) in events
    for _event, _pid, detail in audit_events(env):
        assert GUARDIAN not in detail and WARD not in detail


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--guardian", "12345678901"], "guardian_pid"),
        (["--ward", GUARDIAN], "same person"),
        (["--valid-to", "2025-01-01"], "valid_to is before valid_from"),
        (["--valid-from", "1. januar"], "valid_from must be a date"),
        (["--role", "Helse og omsorg"], "roles must be"),
        (["--ward-name", "Ola\x1b"], "ward_name"),
        (["--reference", "../../etc"], "reference must be"),
    ],
)
def test_add_refuses_bad_input_in_one_line(env, args, message):
    values = {
        "--reference": "VM-BAD",
        "--guardian": GUARDIAN,
        "--ward": WARD,
        "--ward-name": "Ola",
        "--role": "helse",
        "--valid-from": "2026-01-01",
    }
    values.update(dict(zip(args[::2], args[1::2], strict=True)))
    line = fails(env, "guardians", "add", *[part for pair in values.items() for part in pair])
    assert message in line
    assert GUARDIAN not in line and WARD not in line
    assert "VM-BAD" not in listed(env)


def test_import_csv_and_json(env, tmp_path):
    csv_file = tmp_path / "mandates.csv"
    csv_file.write_text(
        HEADER
        + f"VM-C1,{GUARDIAN},{WARD},Ola Nordmann,helse;bank,2026-01-01,2027-12-31\n"
        + f'VM-C2,{GUARDIAN},{OTHER_WARD},"Nordmann, Kari",helse,2026-02-01,\n',
        encoding="utf-8",
    )
    assert "registered 2 mandate(s)" in idp(env, "guardians", "import", str(csv_file)).stdout
    json_file = tmp_path / "mandates.json"
    json_file.write_text(
        json.dumps(
            [
                {
                    "reference": "VM-J1",
                    "guardian_pid": GUARDIAN,
                    "ward_pid": WARD,
                    "ward_name": "Åse Ærlig",
                    "roles": ["skatt"],
                    "valid_from": "2026-03-01",
                }
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    assert json.loads(idp(env, "guardians", "import", str(json_file), "--json").stdout) == {"registered": 1}
    mandates = listed(env)
    assert mandates["VM-C1"]["roles"] == ["helse", "bank"] and mandates["VM-C1"]["valid_to"] == "2027-12-31"
    assert mandates["VM-C2"]["ward_name"] == "Nordmann, Kari" and mandates["VM-C2"]["valid_to"] is None
    assert mandates["VM-J1"]["ward_name"] == "Åse Ærlig"
    imported = [detail for event, _pid, detail in audit_events(env) if "import" in detail]
    assert len(imported) == 3


def _good_json(reference: str) -> dict:
    return {
        "reference": reference,
        "guardian_pid": GUARDIAN,
        "ward_pid": WARD,
        "ward_name": "Ola",
        "roles": ["helse"],
        "valid_from": "2026-01-01",
    }


def _lines(*objects: dict) -> str:
    """A JSON array with one object a line, from line 2."""
    return "[\n" + ",\n".join(json.dumps(item) for item in objects) + "\n]"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad-pid.csv", HEADER + f"VM-X1,{GUARDIAN},{WARD},Ola,helse,2026-01-01,\n"
         + f"VM-X2,{GUARDIAN},{WARD[:-1]}0,Ola,helse,2026-01-01,\n", "line 3: ward_pid"),
        ("columns.csv", HEADER + f"VM-X1,{GUARDIAN},{WARD},Ola,helse,2026-01-01\n", "line 2: wrong number of columns"),
        ("header.csv", "ref,guardian\nVM-X1,1\n", "line 1: the header"),
        ("repeat.csv", HEADER + f"VM-X1,{GUARDIAN},{WARD},Ola,helse,2026-01-01,\n"
         + f"VM-X1,{GUARDIAN},{OTHER_WARD},Kari,helse,2026-01-01,\n", "line 3: reference repeats line 2"),
        ("taken.csv", HEADER + f"VM-X1,{GUARDIAN},{WARD},Ola,helse,2026-01-01,\n"
         + f"VM-TAKEN,{GUARDIAN},{WARD},Ola,helse,2026-01-01,\n", "VM-TAKEN is registered already"),
        ("empty.csv", HEADER, "no mandates"),
        ("roles.json", _lines(_good_json("VM-X1"), {**_good_json("VM-X2"), "roles": 5}), "line 3: roles must be"),
        ("type.json", _lines(_good_json("VM-X1"), {**_good_json("VM-X2"), "valid_from": 20260101}),
         "line 3: valid_from must be a date"),
        ("extra.json", _lines({**_good_json("VM-X1"), "admin": True}), "line 2: unknown field 'admin'"),
        ("syntax.json", "[\n" + json.dumps(_good_json("VM-X1")) + ",\n{\"reference\": \n]", "line 4: not valid JSON"),
        ("comma.json", _lines(_good_json("VM-X1")).replace("}\n]", "},\n]"), "line 3: a comma before ]"),
        ("object.json", json.dumps(_good_json("VM-X1")), "line 1: the file must be a JSON array"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "line 1"),
    ],
)  # fmt: skip
def test_import_bad_file_names_the_line_and_registers_nothing(env, tmp_path, name, content, message):
    before = listed(env)
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    line = fails(env, "guardians", "import", str(path))
    assert message in line
    assert "nothing was registered" in line or "registered already" in line
    assert GUARDIAN not in line and WARD not in line
    assert listed(env) == before


def test_import_refuses_a_file_that_is_not_utf8(env, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + f"VM-L1,{GUARDIAN},{WARD},Åse,helse,2026-01-01,\n").encode("latin-1"))
    assert "not UTF-8" in fails(env, "guardians", "import", str(path))


def test_operate_and_release_a_wards_account(env):
    ward = generate_pid(birth_date=date(1933, 3, 3), synthetic=True)
    idp(env, "users", "add", ward, "--given-name", "Ola", "--family-name", "Drift", "--password", "lang-nok-passord")
    idp(
        env, "guardians", "add", "--reference", "VM-OPERATE", "--guardian", GUARDIAN, "--ward", ward,
        "--ward-name", "Ola Drift", "--role", "helse", "--valid-from", "2020-01-01",
    )  # fmt: skip
    said = idp(env, "guardians", "operate", "VM-OPERATE", "--phone", "900 00 001").stdout
    assert ward not in said and GUARDIAN not in said and "VM-OPERATE" in said
    factors = json.loads(idp(env, "factors", "list", ward, "--json").stdout)
    assert [(f["name"], f["phone"], f["preferred"]) for f in factors] == [("sms", "+4790000001", True)]
    # A guardian who already operates the account does not register it again.
    assert "already" in fails(env, "guardians", "operate", "VM-OPERATE", "--phone", "90000001")
    assert "no mandate" in fails(env, "guardians", "operate", "VM-NONE", "--phone", "90000001")
    idp(env, "guardians", "release", ward)
    assert "not operated" in fails(env, "guardians", "release", ward)
    idp(env, "guardians", "revoke", "VM-OPERATE")
    assert "not in force" in fails(env, "guardians", "operate", "VM-OPERATE", "--phone", "90000001")
    assert "has no account" in fails(env, "guardians", "operate", "VM-TAKEN", "--phone", "90000001")
    events = [event for event, _pid, _detail in audit_events(env)]
    assert "guardianship.operated" in events and "guardianship.released" in events
