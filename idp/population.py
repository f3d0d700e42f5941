"""The population register: who a national identity number belongs to and where their letters go.

A stand-in for Folkeregisteret. The provider only asks :class:`PopulationRegister` for one
person; the embedded default answers from the table the operator loads with
``idp citizens import FILE`` (CSV or JSON). An import is checked whole before anything is
written, and written in one transaction: a bad row is named by its line and nothing of the
file is kept.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import RegisteredPerson
from idp.pid import InvalidPid, mask_pid, parse_pid

FIELDS = ("pid", "given_name", "family_name", "street_address", "postal_code", "locality", "country")
_LIMITS = {"given_name": 200, "family_name": 200, "street_address": 200, "postal_code": 16, "locality": 100}
_BATCH = 500
MAX_FILE_BYTES = 64 * 1024 * 1024  # a register file bigger than this is a mistake, not a population


@dataclass(frozen=True)
class Person:
    pid: str
    given_name: str
    family_name: str
    street_address: str
    postal_code: str
    locality: str
    country: str


class PopulationRegister(Protocol):
    def find(self, pid: str) -> Person | None: ...


class EmbeddedRegister:
    """The register as the operator loaded it into our own database."""

    def find(self, pid: str) -> Person | None:
        row = db.session.scalar(sa.select(RegisteredPerson).filter_by(pid=pid))
        if row is None:
            return None
        return Person(**{name: getattr(row, name) for name in FIELDS})


class BadRegisterFile(ValueError):
    """The file cannot be imported; the message names the line and never holds a full pid."""


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int


def read_people(path: Path, *, allow_synthetic: bool) -> list[Person]:
    """Every person in a CSV (header row with the field names) or JSON (a list of objects) file."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadRegisterFile(f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRegisterFile(f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() == ".json":
        rows = _json_rows(text)
    elif path.suffix.lower() == ".csv":
        rows = _csv_rows(text)
    else:
        raise BadRegisterFile(f"{path.name}: the file must end in .csv or .json")
    people: list[Person] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        person = _person(line, row, allow_synthetic=allow_synthetic)
        if person.pid in first_line:
            raise BadRegisterFile(f"line {line}: {mask_pid(person.pid)} is already on line {first_line[person.pid]}")
        first_line[person.pid] = line
        people.append(person)
    if not people:
        raise BadRegisterFile(f"{path.name} holds no people")
    return people


def _csv_rows(text: str) -> list[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        missing = [name for name in FIELDS if name != "country" and name not in (reader.fieldnames or ())]
        if missing:
            raise BadRegisterFile(f"line 1: the header lacks {', '.join(missing)}")
        rows = []
        for row in reader:
            if None in row:
                raise BadRegisterFile(f"line {reader.line_num}: more values than the header has names")
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise BadRegisterFile(f"line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(text: str) -> list[tuple[int, dict[str, object]]]:
    """Each object with the line it starts on, so a mistake is named where an editor shows it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRegisterFile(f"line {exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise BadRegisterFile("line 1: the JSON must be a list of people")
    # The text is valid JSON: walk its items again, this time keeping where each one starts.
    decoder = json.JSONDecoder()
    rows, position = [], text.index("[") + 1
    for _ in data:
        position = _skip_separators(text, position)
        line = text.count("\n", 0, position) + 1
        item, position = decoder.raw_decode(text, position)
        if not isinstance(item, dict):
            raise BadRegisterFile(f"line {line}: each person must be a JSON object")
        rows.append((line, item))
    return rows


def _skip_separators(text: str, position: int) -> int:
    while text[position] in " \t\r\n,":
        position += 1
    return position


def _person(line: int, row: dict[str, object], *, allow_synthetic: bool) -> Person:
    unknown = sorted(str(key) for key in row if key not in FIELDS)
    if unknown:
        raise BadRegisterFile(f"line {line}: unknown field {unknown[0][:40]!r}")
    values: dict[str, str] = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None or value == "":
            if name == "country":
                values[name] = "NO"
                continue
            raise BadRegisterFile(f"line {line}: {name} is missing")
        if not isinstance(value, str):
            raise BadRegisterFile(f"line {line}: {name} must be text")
        value = unicodedata.normalize("NFC", value.strip())
        if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in value):
            raise BadRegisterFile(f"line {line}: {name} holds control or unassigned characters")
        if name in _LIMITS and len(value) > _LIMITS[name]:
            raise BadRegisterFile(f"line {line}: {name} is longer than {_LIMITS[name]} characters")
        values[name] = value
    try:
        values["pid"] = parse_pid(values["pid"], allow_synthetic=allow_synthetic)
    except InvalidPid as exc:
        raise BadRegisterFile(f"line {line}: {exc}") from None
    country = values["country"].upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise BadRegisterFile(f"line {line}: country must be a two-letter ISO 3166 code")
    values["country"] = country
    return Person(**values)


def import_people(people: list[Person], *, source: str) -> ImportResult:
    """Add or update every person in one transaction; audited with the counts only."""
    pids = [person.pid for person in people]
    existing: dict[str, RegisteredPerson] = {}
    for start in range(0, len(pids), _BATCH):  # bound the IN list: SQLite caps bound parameters
        batch = pids[start : start + _BATCH]
        rows = db.session.scalars(sa.select(RegisteredPerson).where(RegisteredPerson.pid.in_(batch)))
        existing.update((row.pid, row) for row in rows)
    added = updated = 0
    moment = now()
    for person in people:
        row = existing.get(person.pid)
        if row is None:
            db.session.add(RegisteredPerson(imported_at=moment, **vars(person)))
            added += 1
            continue
        changed = any(getattr(row, name) != getattr(person, name) for name in FIELDS)
        if changed:
            for name in FIELDS:
                setattr(row, name, getattr(person, name))
            row.imported_at = moment
            updated += 1
    audit.record("population.imported", outcome="success", source=source, added=added, updated=updated)
    db.session.commit()
    return ImportResult(added=added, updated=updated)
