"""Levels of assurance: an ordered list of acr values, lowest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Levels:
    order: tuple[str, ...] = ("idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high")

    def rank(self, acr: str) -> int:
        return self.order.index(acr)

    def known(self, acr: str) -> bool:
        return acr in self.order

    def at_least(self, reached: str, required: str) -> bool:
        return self.rank(reached) >= self.rank(required)

    def minimum_of(self, requested: Iterable[str]) -> str | None:
        """The lowest known level among the requested acr values (ID-porten semantics).

        Unknown values are ignored, as OIDC Core §3.1.2.1 lets an OP do for
        voluntary acr_values; none known means no minimum.
        """
        known = [acr for acr in requested if self.known(acr)]
        return min(known, key=self.rank) if known else None
