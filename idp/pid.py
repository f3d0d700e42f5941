"""Norwegian national identity numbers: fødselsnummer (fnr) and d-nummer (dnr).

Layout: ``DDMMYY III K1 K2`` — birth date, individual number, two mod-11
check digits.

* d-nummer: 4 is added to the first digit of the day (day 41-71).
* Synthetic test persons: Skatteetaten's (Tenor) add 80 to the month, the
  older NAV/H-numbers add 40. They are only accepted with
  ``allow_synthetic=True`` so that production can never log in a test person.

The century is derived from the individual number (digits 7-9) using the
standard rules; we need it to check dates such as 29 February. Dates in the
future are *not* rejected: validation stays a pure function of the input
(no clock), and the 2000-2039 range legitimately covers future years.

Never log a full pid: use :func:`mask_pid`. Error messages produced here never
contain the pid either, because they tend to end up in logs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "InvalidPid",
    "PidKind",
    "generate_pid",
    "is_synthetic",
    "is_valid_pid",
    "mask_pid",
    "parse_pid",
    "pid_birth_date",
    "pid_kind",
]

PidKind = Literal["fnr", "dnr"]

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

# [0-9] rather than \d: \d also matches non-ASCII digits such as "٣".
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")

_DNR_DAY_OFFSET = 40
_TENOR_MONTH_OFFSET = 80
_NAV_MONTH_OFFSET = 40


class InvalidPid(ValueError):
    """Raised by :func:`parse_pid`; the message is one line and never contains the pid."""


@dataclass(frozen=True)
class _Parsed:
    kind: PidKind
    synthetic: bool
    birth_date: date


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    """Mod-11 check digit, or None when the computed value is 10 (no valid number)."""
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if remainder == 0:
        return 0
    k = 11 - remainder
    return None if k == 10 else k


def _century(individual: int, yy: int) -> int | None:
    """Century base (1800/1900/2000) per the individual-number ranges, or None if unused."""
    if individual <= 499:
        return 1900
    if individual <= 749 and yy >= 54:
        return 1800
    if yy <= 39:  # individual 500-999
        return 2000
    if individual >= 900:  # yy 40-99
        return 1900
    return None


def _individual_ranges(year: int) -> list[range]:
    """Individual numbers that encode ``year`` (inverse of :func:`_century`)."""
    if 1854 <= year <= 1899:
        return [range(500, 750)]
    if 1900 <= year <= 1939:
        return [range(500)]
    if 1940 <= year <= 1999:
        return [range(500), range(900, 1000)]
    if 2000 <= year <= 2039:
        return [range(500, 1000)]
    raise ValueError(f"birth year {year} cannot be encoded in a pid (supported: 1854-2039)")


def _analyse(pid: object) -> _Parsed | str:
    """Parse a pid, or return a human-readable reason why it is invalid."""
    if not isinstance(pid, str):
        return "pid must be a string"
    if len(pid) != 11:
        return f"pid must be 11 digits, got {len(pid)} characters"
    if not _ELEVEN_DIGITS.fullmatch(pid):
        return "pid must contain digits only"
    if _check_digit(pid[:9], _K1_WEIGHTS) != int(pid[9]) or _check_digit(pid[:10], _K2_WEIGHTS) != int(pid[10]):
        return "pid has invalid check digits"

    day, month, yy = int(pid[0:2]), int(pid[2:4]), int(pid[4:6])
    kind: PidKind = "fnr"
    if day > _DNR_DAY_OFFSET:
        kind = "dnr"
        day -= _DNR_DAY_OFFSET

    synthetic = False
    if month > _TENOR_MONTH_OFFSET:
        synthetic = True
        month -= _TENOR_MONTH_OFFSET
    elif month > _NAV_MONTH_OFFSET:
        synthetic = True
        month -= _NAV_MONTH_OFFSET

    century = _century(int(pid[6:9]), yy)
    if century is None:
        return "pid has an individual number that is not used for its birth year"
    try:
        born = date(century + yy, month, day)
    except ValueError:
        return "pid has an invalid birth date"
    return _Parsed(kind=kind, synthetic=synthetic, birth_date=born)


def _parse_or_raise(pid: str, *, allow_synthetic: bool) -> _Parsed:
    result = _analyse(pid)
    if isinstance(result, str):
        raise InvalidPid(result)
    if result.synthetic and not allow_synthetic:
        raise InvalidPid("synthetic test pids are not accepted here")
    return result


def is_valid_pid(pid: str, *, allow_synthetic: bool = False) -> bool:
    """True if ``pid`` is a well-formed fnr or dnr with valid check digits and birth date."""
    result = _analyse(pid)
    if isinstance(result, str):
        return False
    return allow_synthetic or not result.synthetic


def pid_kind(pid: str) -> PidKind:
    """``"fnr"`` or ``"dnr"``; raises :class:`InvalidPid` for an invalid pid.

    Synthetic pids are accepted: being a test person is orthogonal to the kind.
    """
    return _parse_or_raise(pid, allow_synthetic=True).kind


def is_synthetic(pid: str) -> bool:
    """True for a valid synthetic test pid; raises :class:`InvalidPid` for an invalid pid."""
    return _parse_or_raise(pid, allow_synthetic=True).synthetic


def pid_birth_date(pid: str) -> date:
    """Birth date encoded in a valid pid (synthetic or not); raises :class:`InvalidPid`."""
    return _parse_or_raise(pid, allow_synthetic=True).birth_date


def mask_pid(pid: str) -> str:
    """Log-safe form: the first 6 digits followed by ``*****``.

    Anything that is not an 11-digit string is not echoed at all, because a
    mistyped pid is still personal data.
    """
    if isinstance(pid, str) and _ELEVEN_DIGITS.fullmatch(pid):
        return pid[:6] + "*****"
    length = len(pid) if isinstance(pid, str) else 0
    return f"<not a pid: {length} chars>"


def parse_pid(raw: str, *, allow_synthetic: bool = False) -> str:
    """Normalise user input (whitespace removed) and validate it.

    Returns the 11-digit pid, or raises :class:`InvalidPid` with a one-line
    message suitable for showing to the user.
    """
    if not isinstance(raw, str):
        raise InvalidPid("pid must be a string")
    # Users paste "010190 12345" or numbers with non-breaking spaces; str.split()
    # with no argument splits on every kind of Unicode whitespace.
    pid = "".join(raw.split())
    if not pid:
        raise InvalidPid("pid is empty")
    _parse_or_raise(pid, allow_synthetic=allow_synthetic)
    return pid


def generate_pid(
    *,
    birth_date: date,
    synthetic: bool = False,
    dnr: bool = False,
    rng: random.Random | None = None,
) -> str:
    """Generate a valid pid for ``birth_date`` (years 1854-2039).

    ``synthetic=True`` produces a Skatteetaten-style synthetic number (month + 80).
    Pass a seeded ``rng`` for reproducible demo data and tests.
    """
    rng = rng or random.Random()
    ranges = _individual_ranges(birth_date.year)
    day = birth_date.day + (_DNR_DAY_OFFSET if dnr else 0)
    month = birth_date.month + (_TENOR_MONTH_OFFSET if synthetic else 0)
    prefix = f"{day:02d}{month:02d}{birth_date.year % 100:02d}"

    candidates = [i for r in ranges for i in r]
    rng.shuffle(candidates)
    # About 1 in 11 individual numbers yields a check digit of 10 for each of
    # K1/K2, so we simply try the next one.
    for individual in candidates:
        base = f"{prefix}{individual:03d}"
        k1 = _check_digit(base, _K1_WEIGHTS)
        if k1 is None:
            continue
        k2 = _check_digit(base + str(k1), _K2_WEIGHTS)
        if k2 is None:
            continue
        return f"{base}{k1}{k2}"
    raise ValueError(f"no valid pid exists for birth date {birth_date.isoformat()}")
