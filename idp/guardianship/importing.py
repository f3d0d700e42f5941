"""Reading mandates from support's files (CSV or JSON): every row checked before any is registered.

A bad row is named by its line, and the message never holds an identity number
(it may end up in a log). The caller registers the rows only when all are good.

CSV: a header line, then one mandate a line, with the columns of ``FIELDS``;
``roles`` separated by spaces or semicolons, dates as YYYY-MM-DD, ``valid_to``
may be empty. JSON: an array of objects with the same keys, ``roles`` a list.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

from idp.guardianship.register import MandateRecord
from idp.models.guardianship import ROLE
from idp.pid import InvalidPid, parse_pid

FIELDS = ("reference", "guardian_pid", "ward_pid", "ward_name", "roles", "valid_from", "valid_to")
_REQUIRED = frozenset(FIELDS) - {"valid_to"}
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")
MAX_ROLES = 32
MAX_ROWS = 100_000


class MandateError(ValueError):
    """A mandate that cannot be registered; the message names the line and the field, never a pid."""


def mandate(values: dict[str, object], *, allow_synthetic: bool) -> MandateRecord:
    """One mandate from its fields, checked; raises :class:`MandateError` naming the field."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise MandateError(f"unknown field {unknown[0]!r}")
    missing = sorted(name for name in _REQUIRED if values.get(name) in (None, "", [], ()))
    if missing:
        raise MandateError(f"{missing[0]} is missing")
    reference = _text(values["reference"], "reference")
    if not _REFERENCE.fullmatch(reference):
        raise MandateError("reference must be 1-64 letters, digits or _ . / -")
    guardian_pid = _pid(values["guardian_pid"], "guardian_pid", allow_synthetic)
    ward_pid = _pid(values["ward_pid"], "ward_pid", allow_synthetic)
    if guardian_pid == ward_pid:
        raise MandateError("guardian_pid and ward_pid are the same person")
    ward_name = _text(values["ward_name"], "ward_name").strip()
    if not ward_name or len(ward_name) > 200 or not ward_name.isprintable():
        raise MandateError("ward_name must be 1-200 printable characters")
    roles = _roles(values["roles"])
    valid_from = _date(values["valid_from"], "valid_from")
    valid_to = _date(values["valid_to"], "valid_to") if values.get("valid_to") not in (None, "") else None
    if valid_to is not None and valid_to < valid_from:
        raise MandateError("valid_to is before valid_from")
    return MandateRecord(
        reference=reference,
        guardian_pid=guardian_pid,
        ward_pid=ward_pid,
        ward_name=ward_name,
        roles=roles,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise MandateError(f"{name} must be text")
    return value


def _pid(value: object, name: str, allow_synthetic: bool) -> str:
    try:
        return parse_pid(_text(value, name), allow_synthetic=allow_synthetic)
    except InvalidPid as exc:  # its message never holds the number
        raise MandateError(f"{name}: {exc}") from None


def _roles(value: object) -> tuple[str, ...]:
    roles = re.split(r"[\s;]+", value.strip()) if isinstance(value, str) else value
    if not isinstance(roles, list | tuple) or not all(isinstance(role, str) for role in roles):
        raise MandateError("roles must be a list of role names")
    roles = tuple(dict.fromkeys(role for role in roles if role))
    if not roles or len(roles) > MAX_ROLES or not all(ROLE.fullmatch(role) for role in roles):
        raise MandateError(f"roles must be 1-{MAX_ROLES} names of lower-case letters, digits and _ . : -")
    return roles


def _date(value: object, name: str) -> date:
    try:
        return date.fromisoformat(_text(value, name).strip())
    except ValueError:
        raise MandateError(f"{name} must be a date YYYY-MM-DD") from None


def parse(text: str, kind: str, *, allow_synthetic: bool) -> list[MandateRecord]:
    """Every mandate of a CSV or JSON file, or :class:`MandateError` for the first bad line."""
    rows = _csv_rows(text) if kind == "csv" else _json_rows(text)
    records: list[MandateRecord] = []
    seen: dict[str, int] = {}
    for line, values in rows:
        if len(records) >= MAX_ROWS:
            raise MandateError(f"line {line}: more than {MAX_ROWS} mandates in one file")
        try:
            record = mandate(values, allow_synthetic=allow_synthetic)
        except MandateError as exc:
            raise MandateError(f"line {line}: {exc}") from None
        if record.reference in seen:
            raise MandateError(f"line {line}: reference repeats line {seen[record.reference]}")
        seen[record.reference] = line
        records.append(record)
    if not records:
        raise MandateError("the file holds no mandates")
    return records


def _csv_rows(text: str) -> list[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = reader.fieldnames or []
    missing = [name for name in FIELDS if name not in header and name in _REQUIRED]
    if missing or len(set(header)) != len(header):
        raise MandateError(f"line 1: the header must name the columns {', '.join(FIELDS)}")
    rows = []
    try:
        for values in reader:
            if None in values or None in values.values():
                raise MandateError(f"line {reader.line_num}: wrong number of columns")
            rows.append((reader.line_num, {key: value for key, value in values.items() if value != ""}))
    except csv.Error as exc:
        raise MandateError(f"line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(text: str) -> list[tuple[int, dict[str, object]]]:
    """The array's objects, each with the line it starts on."""
    decoder = json.JSONDecoder()
    at = _skip_space(text, 0)
    if not text.startswith("[", at):
        raise MandateError(f"line {_line(text, at)}: the file must be a JSON array of objects")
    at = _skip_space(text, at + 1)
    rows = []
    while not text.startswith("]", at):
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise MandateError(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise MandateError(f"line {_line(text, at)}: JSON nested too deeply") from None
        if not isinstance(value, dict):
            raise MandateError(f"line {_line(text, at)}: each mandate must be a JSON object")
        rows.append((_line(text, at), value))
        at = _skip_space(text, end)
        if text.startswith(",", at):
            at = _skip_space(text, at + 1)
            if text.startswith("]", at):
                raise MandateError(f"line {_line(text, at)}: a comma before ]")
        elif not text.startswith("]", at):
            raise MandateError(f"line {_line(text, at)}: expected , or ] after a mandate")
    if _skip_space(text, at + 1) != len(text):
        raise MandateError(f"line {_line(text, at)}: text after the array")
    return rows


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1
