"""What an authorization request requires of the login, and whether a session meets it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.policy.levels import Levels

# max_age in seconds (OIDC Core §3.1.2.1) has at most this many ASCII digits: 317 years, well inside
# what a timedelta holds. The protocol layer refuses longer values; here they set no maximum.
MAX_AGE_DIGITS = 10


@dataclass(frozen=True)
class Requirement:
    min_acr: str
    max_age: int | None = None
    force_login: bool = False


@dataclass(frozen=True)
class SessionFacts:
    acr: str
    auth_time: datetime


def essential_acr_values(claims: str | None) -> list[str]:
    """The acr values of an essential ``acr`` claim request (OIDC Core §5.5.1.1), or none.

    A malformed ``claims`` parameter asks for nothing here; the protocol layer
    reports it. Voluntary acr claims are hints and set no minimum.
    """
    try:
        requested = json.loads(claims) if claims else {}
    except ValueError:
        return []
    values: list[str] = []
    for target in ("id_token", "userinfo"):
        member = requested.get(target) if isinstance(requested, dict) else None
        acr = member.get("acr") if isinstance(member, dict) else None
        if isinstance(acr, dict) and acr.get("essential") is True:
            if isinstance(acr.get("value"), str):
                values.append(acr["value"])
            values += [value for value in acr.get("values") or [] if isinstance(value, str)]
    return values


def requirement_for(
    *,
    levels: Levels,
    highest: str,
    acr_values: str | None,
    max_age: str | None,
    prompt: str | None,
    claims: str | None = None,
) -> Requirement:
    """acr_values and an essential acr claim are both minimums (ID-porten): the stricter one wins.

    ``highest`` is the highest level any login can reach now. acr_values are voluntary (OIDC Core
    §3.1.2.1): one above it asks for the best available, ``highest``. An essential acr is not capped:
    a requirement above ``highest`` is one the caller must refuse.
    """
    voluntary = levels.minimum_of((acr_values or "").split())
    if voluntary is not None and not levels.at_least(highest, voluntary):
        voluntary = highest
    minimums = [found for found in (voluntary, levels.minimum_of(essential_acr_values(claims))) if found]
    min_acr = max(minimums, key=levels.rank) if minimums else levels.order[0]
    return Requirement(min_acr=min_acr, max_age=_seconds(max_age), force_login="login" in (prompt or "").split())


def _seconds(max_age: str | None) -> int | None:
    # isdigit() alone also passes "²" (which int() refuses) and "١٢" (Arabic-Indic digits).
    if max_age and max_age.isascii() and max_age.isdigit() and len(max_age) <= MAX_AGE_DIGITS:
        return int(max_age)
    return None


def can_step_up(*, requirement: Requirement, session: SessionFacts, now: datetime) -> bool:
    """A session too low for the request but otherwise fresh needs only a stronger second factor, not the password."""
    if requirement.force_login:
        return False
    return requirement.max_age is None or now - session.auth_time <= timedelta(seconds=requirement.max_age)


def session_meets(*, levels: Levels, requirement: Requirement, session: SessionFacts, now: datetime) -> bool:
    if requirement.force_login:
        return False
    if requirement.max_age is not None and now - session.auth_time > timedelta(seconds=requirement.max_age):
        return False
    return levels.at_least(session.acr, requirement.min_acr)
