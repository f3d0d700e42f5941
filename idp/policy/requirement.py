"""What an authorization request requires of the login, and whether a session meets it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.policy.levels import Levels


@dataclass(frozen=True)
class Requirement:
    min_acr: str
    max_age: int | None = None
    force_login: bool = False


@dataclass(frozen=True)
class SessionFacts:
    acr: str
    auth_time: datetime


def requirement_for(*, levels: Levels, acr_values: str | None, max_age: str | None, prompt: str | None) -> Requirement:
    requested = (acr_values or "").split()
    min_acr = levels.minimum_of(requested) or levels.order[0]
    age = int(max_age) if max_age and max_age.isdigit() else None
    return Requirement(min_acr=min_acr, max_age=age, force_login="login" in (prompt or "").split())


def session_meets(*, levels: Levels, requirement: Requirement, session: SessionFacts, now: datetime) -> bool:
    if requirement.force_login:
        return False
    if requirement.max_age is not None and now - session.auth_time > timedelta(seconds=requirement.max_age):
        return False
    return levels.at_least(session.acr, requirement.min_acr)
