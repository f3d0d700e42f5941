"""The chain: after the password, one second factor the policy allows now, run one step at a time.

Where the policy allows it, a login may instead be one factor alone (a passkey with
user verification, no password): :meth:`Chain.alone` says what such a login reached.

The login pages keep the chain's progress in the login transaction's
``step`` dict (``citizen_id``, ``factor``, ``state``, ``challenge``); the
chain reads and updates it and returns what the pages should do next. It
knows factors only through :class:`idp.mfa.factor.Factor` and gets them
from the registry built from ``assurance.factors``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from idp.config import Config
from idp.mfa import enrolment as rows
from idp.mfa import password
from idp.mfa.factor import Factor, Outcome
from idp.models import Citizen
from idp.policy.assurance import AssurancePolicy
from idp.policy.requirement import Requirement


def load_factors(config: Config) -> dict[str, Factor]:
    """The registry: for each configured name, ``idp.mfa.<name>.make(config)``."""
    return {name: importlib.import_module(f"idp.mfa.{name}").make(config) for name in config.assurance.factors}


@dataclass(frozen=True)
class Next:
    """What the login pages do next.

    ``kind`` is "done" (start the session with ``acr`` and ``amr``),
    "factor" (show ``factor``'s page), "choose" (offer ``options``) or
    "unmet" (no allowed factor reaches the requirement; ``phased_out``
    names enrolled factors no longer accepted).
    """

    kind: str
    factor: Factor | None = None
    options: list[Factor] = field(default_factory=list)
    phased_out: list[Factor] = field(default_factory=list)
    acr: str | None = None
    amr: list[str] = field(default_factory=list)


class Chain:
    def __init__(self, factors: Mapping[str, Factor], policy: AssurancePolicy):
        self.factors = dict(factors)
        self.policy = policy

    def enrolled(self, citizen: Citizen) -> list[str]:
        return [name for name, factor in self.factors.items() if factor.enrolled(citizen)]

    def options(self, citizen: Citizen, requirement: Requirement, at: datetime) -> list[Factor]:
        """The factors this citizen may use now for this requirement, the preferred one first.

        None for an account whose activation letter is still unused, when the requirement is above its ceiling.
        """
        if not self.policy.within_ceiling(requirement, activated=citizen.activated):
            return []
        names = self.policy.usable(self.enrolled(citizen), requirement, at)
        preferred = {row.name for row in rows.enrolments(citizen) if row.preferred}
        names.sort(key=lambda name: name not in preferred)
        return [self.factors[name] for name in names]

    def result(
        self, citizen: Citizen, used: list[str], *, earned: Mapping[str, dict[str, list[str]] | None] | None = None
    ) -> tuple[str, list[str]]:
        """acr and amr of ``citizen``'s completed chain (password plus ``used``).

        ``earned``: a factor's amr for the proof given (:attr:`Outcome.amr`), where it has one.
        """
        earned = earned or {}
        acr = self.policy.reached(used, activated=citizen.activated)
        amr = self.policy.combine_amr(
            list(password.AMR), [earned.get(name) or self.factors[name].amr_values for name in used]
        )
        return acr, amr

    def alone(
        self, citizen: Citizen, requirement: Requirement, factor: Factor, amr: dict[str, list[str]], at: datetime
    ) -> Next:
        """A login whose first and only step was ``factor``, which earned ``amr``: "done" when the policy lets it
        meet ``requirement``, else "unmet" (the citizen logs in with the password and a second factor instead)."""
        acr = self.policy.reached_alone(factor.name, requirement, at, activated=citizen.activated)
        if acr is None:
            return Next("unmet")
        return Next("done", acr=acr, amr=self.policy.combine_amr([], [amr]))

    def next(self, citizen: Citizen, requirement: Requirement, step: dict, at: datetime) -> Next:
        options = self.options(citizen, requirement, at)
        if not options:
            if (
                self.policy.password_suffices(requirement)
                and self.policy.within_ceiling(requirement, activated=citizen.activated)
                and not step.get("step_up")
            ):
                acr, amr = self.result(citizen, [])
                return Next("done", acr=acr, amr=amr)
            phased = [self.factors[name] for name in self.policy.phased_out(self.enrolled(citizen), at)]
            return Next("unmet", phased_out=phased)
        chosen = next((f for f in options if f.name == step.get("factor")), None)
        if chosen is None and len(options) == 1:
            chosen = options[0]
        if chosen is None:
            return Next("choose", options=options)
        return Next("factor", factor=chosen, options=options)

    def choose(self, step: dict, name: str) -> None:
        """Switch to another factor: what the previous one started is dropped."""
        if step.get("factor") != name:
            step.update(factor=name, state={}, challenge=None)

    def challenge(self, citizen: Citizen, factor: Factor, step: dict, *, service: str, again: bool = False) -> dict:
        """The page's values, starting the factor (sending a code) only when nothing is pending.

        Raises :class:`idp.mfa.factor.TryLater` when a new challenge is throttled.
        """
        self.choose(step, factor.name)
        if step.get("challenge") is None or again:
            state = step.setdefault("state", {})
            step["challenge"] = factor.start(citizen, state, service=service).values
        return step["challenge"]

    def verify(
        self, citizen: Citizen, factor: Factor, step: dict, response: Mapping[str, str], at: datetime
    ) -> Outcome:
        """Check the citizen's answer. A factor past its accept_until is refused even with a right answer."""
        if factor.name not in self.policy.rules or not self.policy.rules[factor.name].accepted(at):
            return Outcome(False, "phased_out")
        state = step.setdefault("state", {})
        outcome = factor.verify(citizen, state, response)
        if outcome.restart:
            step["challenge"] = None
        return outcome
