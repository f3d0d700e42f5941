"""Which second factors a citizen may use now, what level a login reaches, and its amr.

Each factor's level and acceptance dates come from its config section (the
section is named like the factor). The chain asks; this module decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from idp.config import Config, ConfigError, FactorConfig, PasswordlessConfig
from idp.policy.levels import Levels
from idp.policy.requirement import Requirement

AMR_PROFILES = ("rfc8176", "idporten")


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name} must be a date YYYY-MM-DD, not {value!r}") from None


@dataclass(frozen=True)
class FactorRule:
    """One factor's level and dates. Dates are whole UTC days: ``accept_until`` 2023-01-01 refuses from its midnight."""

    name: str
    level: str
    enrol_until: date | None = None
    accept_from: date | None = None
    accept_until: date | None = None
    # The level the factor reaches as the whole login, without the password; None: it may not be one.
    alone: str | None = None

    def accepted(self, at: datetime) -> bool:
        day = at.date()
        if self.accept_from and day < self.accept_from:
            return False
        return not self.retired(at)

    def retired(self, at: datetime) -> bool:
        return bool(self.accept_until and at.date() >= self.accept_until)

    def enrollable(self, at: datetime) -> bool:
        return self.accepted(at) and not (self.enrol_until and at.date() >= self.enrol_until)


class AssurancePolicy:
    def __init__(self, config: Config, levels: Levels):
        self.levels = levels
        self.password_level = config.assurance.password_level
        self.password_only = config.assurance.password_only
        if config.assurance.amr_profile not in AMR_PROFILES:
            raise ConfigError(f"assurance.amr_profile must be one of {', '.join(AMR_PROFILES)}")
        self.amr_profile = config.assurance.amr_profile
        self.unactivated_level = config.ordering.unactivated_level
        self.rules: dict[str, FactorRule] = {}
        for name in config.assurance.factors:
            section = getattr(config, name, None)
            if not isinstance(section, FactorConfig):
                raise ConfigError(f"assurance.factors names {name!r}, which has no config section")
            self.rules[name] = FactorRule(
                name=name,
                level=section.level,
                enrol_until=_date(section.enrol_until, f"{name}.enrol_until"),
                accept_from=_date(section.accept_from, f"{name}.accept_from"),
                accept_until=_date(section.accept_until, f"{name}.accept_until"),
                alone=section.passwordless_level
                if isinstance(section, PasswordlessConfig) and section.passwordless
                else None,
            )
        for name, level in (
            [
                ("assurance.password_level", self.password_level),
                ("ordering.unactivated_level", self.unactivated_level),
            ]
            + [(f"{rule.name}.level", rule.level) for rule in self.rules.values()]
            + [(f"{rule.name}.passwordless_level", rule.alone) for rule in self.rules.values() if rule.alone]
        ):
            if not levels.known(level):
                raise ConfigError(f"{name} = {level!r} is not one of assurance.levels")

    def usable(self, enrolled: Iterable[str], requirement: Requirement, at: datetime) -> list[str]:
        """The enrolled factors accepted now that reach the required level, in configured order."""
        have = set(enrolled)
        return [
            rule.name
            for rule in self.rules.values()
            if rule.name in have and rule.accepted(at) and self.levels.at_least(rule.level, requirement.min_acr)
        ]

    def phased_out(self, enrolled: Iterable[str], at: datetime) -> list[str]:
        """Enrolled factors no longer accepted: the citizen must be told, not silently left without a way in."""
        return [name for name in enrolled if name in self.rules and not self.rules[name].accepted(at)]

    def ceiling(self, *, activated: bool) -> str:
        """The highest level an account reaches: an ordered account waits for its activation letter."""
        return self.levels.order[-1] if activated else self.unactivated_level

    def within_ceiling(self, requirement: Requirement, *, activated: bool) -> bool:
        return self.levels.at_least(self.ceiling(activated=activated), requirement.min_acr)

    def password_suffices(self, requirement: Requirement) -> bool:
        return self.password_only and self.levels.at_least(self.password_level, requirement.min_acr)

    def reached(self, factors: Sequence[str], *, activated: bool = True) -> str:
        """The level a completed chain reached: the highest of the password and the factors used, up to the ceiling."""
        level = max([self.password_level, *(self.rules[name].level for name in factors)], key=self.levels.rank)
        return min(level, self.ceiling(activated=activated), key=self.levels.rank)

    def may_be_alone(self, name: str, at: datetime) -> bool:
        """Whether factor ``name`` may be a whole login now (a passkey with user verification, no password)."""
        rule = self.rules.get(name)
        return rule is not None and rule.alone is not None and rule.accepted(at)

    def reached_alone(self, name: str, requirement: Requirement, at: datetime, *, activated: bool) -> str | None:
        """The level a login of factor ``name`` alone reaches, up to the ceiling, when that meets ``requirement``."""
        if not self.may_be_alone(name, at):
            return None
        level = min(self.rules[name].alone, self.ceiling(activated=activated), key=self.levels.rank)
        return level if self.levels.at_least(level, requirement.min_acr) else None

    def highest_reachable(self, at: datetime) -> str:
        """The highest level a login can reach from ``at`` on: the password's, or that of a factor not retired.

        A factor accepted only from a later day counts: discovery, built once at start, must not miss it.
        """
        levels = [
            level for rule in self.rules.values() if not rule.retired(at) for level in (rule.level, rule.alone) if level
        ]
        return max([self.password_level, *levels], key=self.levels.rank)

    def reachable(self, at: datetime) -> tuple[str, ...]:
        """The acr values a request may ask for and be served (discovery's ``acr_values_supported``).

        Levels are minimums, so every level up to the highest reachable one is met by some login.
        """
        return self.levels.order[: self.levels.rank(self.highest_reachable(at)) + 1]

    def enrollable(self, name: str, at: datetime) -> bool:
        return name in self.rules and self.rules[name].enrollable(at)

    def phase_out_notice(self, name: str, at: datetime, *, warn_days: int = 366) -> date | None:
        """The date a still-accepted factor stops working, when that is near enough to warn about."""
        rule = self.rules.get(name)
        if rule and rule.accept_until and rule.accepted(at) and rule.accept_until - at.date() <= timedelta(warn_days):
            return rule.accept_until
        return None

    def combine_amr(self, password_amr: Sequence[str], factor_amr: Sequence[dict[str, list[str]]]) -> list[str]:
        """The amr claim in the configured vocabulary, from each factor's values per profile.

        RFC 8176 lists every method and adds ``mfa`` when more than one was
        used. ID-porten names only the second factor (Minid-OTC ...); with no
        second factor, which ID-porten never has, the RFC 8176 ``pwd`` stands.
        A login of one factor alone passes no password values: a passkey with
        user verification (``hwk``/``swk`` and ``user``) is itself two methods.
        """
        if not factor_amr:
            return list(password_amr)
        values: list[str] = list(password_amr) if self.amr_profile == "rfc8176" else []
        for amr in factor_amr:
            values += [value for value in amr[self.amr_profile] if value not in values]
        if self.amr_profile == "rfc8176":
            values.append("mfa")
        return values
