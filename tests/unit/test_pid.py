from __future__ import annotations

import random
from datetime import date

import pytest

from idp.pid import (
    InvalidPid,
    generate_pid,
    is_synthetic,
    is_valid_pid,
    mask_pid,
    parse_pid,
    pid_birth_date,
    pid_kind,
)

# Worked by hand: K1 = 11 - (100+2) % 11 = 8, K2 = 110 % 11 == 0 -> 0.
VALID_FNR = "01019012480"

K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _mod11(digits: str, weights: tuple[int, ...]) -> int:
    k = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if k == 11 else k


def with_checks(nine: str) -> str | None:
    """Independent reference: append both check digits, None if a check digit would be 10."""
    k1 = _mod11(nine, K1)
    if k1 == 10:
        return None
    k2 = _mod11(nine + str(k1), K2)
    if k2 == 10:
        return None
    return f"{nine}{k1}{k2}"


def first_with_checks(prefix6: str, individuals: range) -> str:
    for i in individuals:
        pid = with_checks(f"{prefix6}{i:03d}")
        if pid is not None:
            return pid
    raise AssertionError("no candidate")


def test_hand_computed_vector() -> None:
    assert with_checks("010190124") == VALID_FNR
    assert is_valid_pid(VALID_FNR)
    assert pid_kind(VALID_FNR) == "fnr"
    assert pid_birth_date(VALID_FNR) == date(1990, 1, 1)
    assert not is_synthetic(VALID_FNR)


def test_check_digit_ten_means_no_valid_number() -> None:
    # For 010190123 K1 computes to 10: no 11-digit number with that prefix is valid.
    assert with_checks("010190123") is None
    assert not any(is_valid_pid(f"010190123{k:02d}") for k in range(100))


@pytest.mark.parametrize("position", [9, 10])
def test_wrong_check_digits(position: int) -> None:
    for delta in range(1, 10):
        digits = list(VALID_FNR)
        digits[position] = str((int(digits[position]) + delta) % 10)
        assert not is_valid_pid("".join(digits))


def test_single_digit_typo_is_caught() -> None:
    for pos in range(9):
        for delta in range(1, 10):
            digits = list(VALID_FNR)
            digits[pos] = str((int(digits[pos]) + delta) % 10)
            assert not is_valid_pid("".join(digits)), (pos, delta)


@pytest.mark.parametrize(
    "value",
    [
        "",
        VALID_FNR[:10],
        VALID_FNR + "0",
        "0101901248a",
        "abcdefghijk",
        "010190 12480",
        " 01019012480",
        "01019012480\n",
        "٠١٠١٩٠١٢٤٨٠",  # Arabic-Indic digits: str.isdigit() is True, still not a pid
        "-1019012480",
    ],
)
def test_malformed(value: str) -> None:
    assert not is_valid_pid(value)
    assert not is_valid_pid(value, allow_synthetic=True)


def test_non_string_is_invalid() -> None:
    assert not is_valid_pid(1019012480)  # type: ignore[arg-type]
    assert not is_valid_pid(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix6", "individuals"),
    [
        ("310290", range(500)),  # 31 February
        ("000190", range(500)),  # day 0
        ("320190", range(500)),  # day 32
        ("010090", range(500)),  # month 0
        ("011390", range(500)),  # month 13
        ("290229", range(500)),  # 1929 is not a leap year
        ("290200", range(500)),  # individual < 500 with yy=00 -> 1900, not a leap year
        (
            "290100",
            range(900, 1000),
        ),  # 29 Jan fine, but see below for the century check
        ("010145", range(750, 900)),  # individual 750-899 is unused for yy 40-99
        ("010150", range(500, 750)),  # 500-749 with yy 40-53 is unused
        ("721090", range(500)),  # d-number day 72 -> 32
        ("400190", range(500)),  # day 40: neither fnr nor a valid d-number day
    ],
)
def test_bad_dates_and_centuries(prefix6: str, individuals: range) -> None:
    pid = first_with_checks(prefix6, individuals)
    if prefix6 == "290100":
        # Sanity check of the helper: a well-formed date must pass (yy=00,
        # individual 900-999 -> 2000).
        assert is_valid_pid(pid)
        assert pid_birth_date(pid) == date(2000, 1, 29)
        return
    assert not is_valid_pid(pid)
    assert not is_valid_pid(pid, allow_synthetic=True)
    with pytest.raises(InvalidPid):
        parse_pid(pid, allow_synthetic=True)


def test_leap_day_depends_on_century() -> None:
    in_2000 = first_with_checks("290200", range(500, 1000))
    in_1900 = first_with_checks("290200", range(500))
    assert is_valid_pid(in_2000)
    assert pid_birth_date(in_2000) == date(2000, 2, 29)
    assert not is_valid_pid(in_1900)


@pytest.mark.parametrize(
    ("individuals", "yy", "year"),
    [
        (range(500), 90, 1990),
        (range(500, 750), 60, 1860),
        (range(500, 1000), 20, 2020),
        (range(900, 1000), 45, 1945),
    ],
)
def test_century_rules(individuals: range, yy: int, year: int) -> None:
    pid = first_with_checks(f"0101{yy:02d}", individuals)
    assert pid_birth_date(pid) == date(year, 1, 1)


def test_dnummer() -> None:
    pid = first_with_checks("410190", range(500))  # day 01 + 40
    assert is_valid_pid(pid)
    assert pid_kind(pid) == "dnr"
    assert pid_birth_date(pid) == date(1990, 1, 1)
    pid = first_with_checks("710190", range(500))  # day 31 + 40
    assert pid_kind(pid) == "dnr"


@pytest.mark.parametrize(
    ("prefix6", "born"),
    [
        ("018190", date(1990, 1, 1)),  # Skatteetaten/Tenor: month + 80
        ("019290", date(1990, 12, 1)),
        ("014190", date(1990, 1, 1)),  # NAV H-number: month + 40
        ("415290", date(1990, 12, 1)),  # synthetic d-number
    ],
)
def test_synthetic_rejected_unless_allowed(prefix6: str, born: date) -> None:
    pid = first_with_checks(prefix6, range(500))
    assert not is_valid_pid(pid)
    assert is_valid_pid(pid, allow_synthetic=True)
    assert is_synthetic(pid)
    assert pid_birth_date(pid) == born
    with pytest.raises(InvalidPid, match="synthetic"):
        parse_pid(pid)
    assert parse_pid(pid, allow_synthetic=True) == pid


def test_synthetic_month_out_of_range() -> None:
    assert not is_valid_pid(first_with_checks("019390", range(500)), allow_synthetic=True)  # 93-80=13
    assert not is_valid_pid(first_with_checks("015390", range(500)), allow_synthetic=True)  # 53-40=13


def test_pid_kind_rejects_invalid() -> None:
    with pytest.raises(InvalidPid):
        pid_kind("12345678901")


def test_mask_pid() -> None:
    assert mask_pid(VALID_FNR) == "010190*****"
    # A malformed value is still personal data: never echo it.
    assert "0101" not in mask_pid("0101901248")
    assert mask_pid("0101901248") == "<not a pid: 10 chars>"


def test_parse_pid_normalises_whitespace() -> None:
    assert parse_pid(" 010190 12480 ") == VALID_FNR
    assert parse_pid("010190\u00a012480") == VALID_FNR


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0101901248", "11 digits"),
        ("0101901248x", "digits only"),
        ("01019012481", "check digits"),
    ],
)
def test_parse_pid_messages(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidPid, match=fragment) as excinfo:
        parse_pid(raw)
    message = str(excinfo.value)
    assert "\n" not in message
    assert raw.strip() == "" or raw not in message
    assert isinstance(excinfo.value, ValueError)


YEARS = [1854, 1899, 1900, 1939, 1940, 1999, 2000, 2024, 2039]


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize(("synthetic", "dnr"), [(False, False), (False, True), (True, False), (True, True)])
def test_generate_round_trip(year: int, synthetic: bool, dnr: bool) -> None:
    rng = random.Random(f"{year}-{synthetic}-{dnr}")
    for _ in range(25):
        born = date(year, rng.randint(1, 12), rng.randint(1, 28))
        pid = generate_pid(birth_date=born, synthetic=synthetic, dnr=dnr, rng=rng)
        assert len(pid) == 11
        assert pid.isascii()
        assert pid.isdigit()
        assert with_checks(pid[:9]) == pid  # independent check-digit reference
        assert is_valid_pid(pid) is not synthetic
        assert is_valid_pid(pid, allow_synthetic=True)
        assert pid_kind(pid) == ("dnr" if dnr else "fnr")
        assert is_synthetic(pid) is synthetic
        assert pid_birth_date(pid) == born


@pytest.mark.parametrize("born", [date(2000, 2, 29), date(1904, 2, 29), date(1996, 2, 29)])
def test_generate_leap_days(born: date) -> None:
    pid = generate_pid(birth_date=born, rng=random.Random(1))
    assert pid_birth_date(pid) == born


def test_generate_is_reproducible_with_seed() -> None:
    born = date(1985, 6, 15)
    a = generate_pid(birth_date=born, rng=random.Random(42))
    b = generate_pid(birth_date=born, rng=random.Random(42))
    assert a == b
    assert is_valid_pid(generate_pid(birth_date=born))


@pytest.mark.parametrize("year", [1853, 2040])
def test_generate_out_of_range(year: int) -> None:
    with pytest.raises(ValueError, match="1854-2039"):
        generate_pid(birth_date=date(year, 1, 1))
