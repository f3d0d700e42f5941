"""The population register stand-in: `idp citizens import` from CSV and JSON, all or nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, RegisteredPerson
from idp.pid import generate_pid
from idp.population import BadRegisterFile, EmbeddedRegister, import_people, read_people
from tests.live import base_env, idp

HEADER = "pid,given_name,family_name,street_address,postal_code,locality,country\n"


def pid(year: int = 1985) -> str:
    return generate_pid(birth_date=date(year, 3, 14), synthetic=True)


def csv_file(tmp_path, *lines: str, name: str = "people.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_csv_import_then_update_and_lookup(app, tmp_path):
    first, second = pid(1985), pid(1999)
    path = csv_file(
        tmp_path,
        f"{first},Åse,Ødegård,Storgata 1,0155,Oslo,NO",
        f'{second},Per,"Berg, jr.",Fjellveien 2,5003,Bergen,',
    )
    people = read_people(path, allow_synthetic=True)
    assert import_people(people, source=path.name).added == 2
    found = app.extensions["idp.population"].find(second)
    assert (found.family_name, found.country, found.locality) == ("Berg, jr.", "NO", "Bergen")

    moved = csv_file(
        tmp_path,
        f"{first},Åse,Ødegård,Kirkegata 9,7010,Trondheim,NO",
        f'{second},Per,"Berg, jr.",Fjellveien 2,5003,Bergen,NO',
    )
    result = import_people(read_people(moved, allow_synthetic=True), source=moved.name)
    assert (result.added, result.updated) == (0, 1)
    assert EmbeddedRegister().find(first).locality == "Trondheim"
    assert EmbeddedRegister().find(pid(1970)) is None
    events = db.session.scalars(sa.select(AuditEvent).filter_by(event="population.imported")).all()
    assert [(e.detail["added"], e.detail["updated"]) for e in events] == [(2, 0), (0, 1)]
    assert all(first not in json.dumps(e.detail) for e in events)


def test_json_import_names_the_line_of_a_bad_person(app, tmp_path):
    good, bad = pid(1985), pid(1999)
    bad = bad[:-1] + str((int(bad[-1]) + 1) % 10)  # wrong check digit
    people = [
        {
            "pid": good,
            "given_name": "Kari",
            "family_name": "Nordmann",
            "street_address": "A 1",
            "postal_code": "0155",
            "locality": "Oslo",
        },
        {
            "pid": bad,
            "given_name": "Ola",
            "family_name": "Nordmann",
            "street_address": "B 2",
            "postal_code": "0155",
            "locality": "Oslo",
        },
    ]
    path = tmp_path / "people.json"
    path.write_text(json.dumps(people, indent=2), encoding="utf-8")
    with pytest.raises(BadRegisterFile) as caught:
        read_people(path, allow_synthetic=True)
    # The second object opens on line 10 of the indented file.
    assert str(caught.value) == "line 10: pid has invalid check digits"
    assert bad not in str(caught.value)
    path.write_text(json.dumps(people[:1]), encoding="utf-8")
    assert [p.pid for p in read_people(path, allow_synthetic=True)] == [good]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{pid},Kari,Nordmann,Storgata 1,0155,Oslo,NO,extra", "line 3: more values than the header has names"),
        ("{pid},Kari,,Storgata 1,0155,Oslo,NO", "line 3: family_name is missing"),
        (
            "{pid},Ka\x00ri,Nordmann,Storgata 1,0155,Oslo,NO",
            "line 3: given_name holds control or unassigned characters",
        ),
        ("{pid},Kari,Nordmann,Storgata 1,0155,Oslo,Norway", "line 3: country must be a two-letter ISO 3166 code"),
        ("{pid},Kari,Nordmann," + "x" * 201 + ",0155,Oslo,NO", "line 3: street_address is longer than 200 characters"),
        ("{dup},Kari,Nordmann,Storgata 1,0155,Oslo,NO", "line 3: {masked} is already on line 2"),
        ("12345678901,Kari,Nordmann,Storgata 1,0155,Oslo,NO", "line 3: pid has invalid check digits"),
    ],
)
def test_bad_csv_rows_are_named_and_nothing_is_kept(app, tmp_path, line, message):
    first = pid(1985)
    path = csv_file(tmp_path, f"{first},Kari,Nordmann,Storgata 1,0155,Oslo,NO", line.format(pid=pid(1999), dup=first))
    with pytest.raises(BadRegisterFile) as caught:
        read_people(path, allow_synthetic=True)
    assert str(caught.value) == message.format(masked=first[:6] + "*****")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegisteredPerson)) == 0


def test_synthetic_numbers_need_the_setting(app, tmp_path):
    path = csv_file(tmp_path, f"{pid()},Kari,Nordmann,Storgata 1,0155,Oslo,NO")
    with pytest.raises(BadRegisterFile, match="line 2: synthetic test pids are not accepted here"):
        read_people(path, allow_synthetic=False)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("people.txt", HEADER, "people.txt: the file must end in .csv or .json"),
        (
            "people.csv",
            "pid,given_name\n",
            "line 1: the header lacks family_name, street_address, postal_code, locality",
        ),
        ("people.csv", HEADER, "people.csv holds no people"),
        ("people.json", '{"pid": 1}', "line 1: the JSON must be a list of people"),
        ("people.json", "[\n1,\n2]", "line 2: each person must be a JSON object"),
        ("people.json", '[\n{"pid": 1,', "line 2: not JSON (Expecting property name enclosed in double quotes)"),
        ("people.json", '[{"pid": 12345678901}]', "line 1: pid must be text"),
        ("people.json", '[{"pid": "x", "admin": true}]', "line 1: unknown field 'admin'"),
    ],
)
def test_malformed_files(app, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadRegisterFile) as caught:
        read_people(path, allow_synthetic=True)
    assert str(caught.value) == message


def test_the_command_imports_and_reports_one_line(tmp_path, backend):
    env = base_env(tmp_path / "data", **backend.env)
    idp(env, "db", "upgrade")
    number = pid()
    good = csv_file(tmp_path, f"{number},Kari,Nordmann,Storgata 1,0155,Oslo,NO")
    assert idp(env, "citizens", "import", str(good)).stdout.strip() == "imported 1 people: 1 added, 0 updated"

    kept_back = pid(1999)
    bad = csv_file(tmp_path, f"{kept_back},Ola,Nordmann,Storgata 2,0155,Oslo,NO", "not,a,person", name="bad.csv")
    result = subprocess.run(
        [sys.executable, "-m", "idp.cli", "citizens", "import", str(bad)], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert result.stderr == "idp: line 3: street_address is missing\n"
    # Nothing of the bad file was kept: its good first row is new when imported alone.
    alone = csv_file(tmp_path, f"{kept_back},Ola,Nordmann,Storgata 2,0155,Oslo,NO", name="alone.csv")
    assert idp(env, "citizens", "import", str(alone)).stdout.strip() == "imported 1 people: 1 added, 0 updated"


def test_the_demo_puts_people_who_may_order_into_the_register_once(app):
    from idp.demo import load_demo_data

    first = load_demo_data(rp_url="http://127.0.0.1:5001")
    assert len(first["may_order"]) == 2 and first["letters"]["outbox"].endswith("letters")
    register = EmbeddedRegister()
    assert all(register.find(person["pid"]) is not None for person in first["may_order"])
    assert all(register.find(citizen["pid"]) is not None for citizen in first["citizens"])
    assert load_demo_data(rp_url="http://127.0.0.1:5001")["may_order"] == first["may_order"]
    imports = db.session.scalars(sa.select(AuditEvent).filter_by(event="population.imported")).all()
    assert [(e.detail["added"], e.detail["updated"]) for e in imports] == [(5, 0)]


def test_a_large_file_is_imported_in_batches(app, tmp_path):
    from datetime import timedelta

    pids = sorted({generate_pid(birth_date=date(1950, 1, 1) + timedelta(days=i), synthetic=True) for i in range(1200)})
    path = csv_file(tmp_path, *(f"{number},Kari,Nordmann,Storgata 1,0155,Oslo,NO" for number in pids))
    assert import_people(read_people(path, allow_synthetic=True), source=path.name).added == len(pids)
    again = import_people(read_people(path, allow_synthetic=True), source=path.name)
    assert (again.added, again.updated) == (0, 0)
