"""Login transactions: one authorization request on its way through the login pages.

The protocol layer begins one with the request's parameters and what it
requires; the login pages complete it with the session they created; the
protocol layer then resumes the request. State lives in the short-lived
store (database or Redis), so any node can serve any step.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field

from flask import current_app

from idp.policy.requirement import Requirement

NAMESPACE = "login_tx"


@dataclass
class LoginTransaction:
    id: str
    params: dict[str, str]
    client_id: str
    client_name: str
    requirement: Requirement
    sid: str | None = None  # set once the login pages have met the requirement
    step: dict[str, object] = field(default_factory=dict)  # the login pages' own progress

    def to_json(self) -> dict:
        data = asdict(self)
        data["requirement"] = asdict(self.requirement)
        return data

    @classmethod
    def from_json(cls, data: dict) -> LoginTransaction:
        data = dict(data)
        data["requirement"] = Requirement(**data["requirement"])
        return cls(**data)


def _store():
    return current_app.extensions["idp.store"]


def _ttl() -> int:
    return current_app.config["IDP"].session.login_transaction_seconds


def begin(*, params: dict[str, str], client_id: str, client_name: str, requirement: Requirement) -> LoginTransaction:
    tx = LoginTransaction(
        id=secrets.token_urlsafe(24),
        params=params,
        client_id=client_id,
        client_name=client_name,
        requirement=requirement,
    )
    save(tx)
    return tx


def load(tx_id: str) -> LoginTransaction | None:
    data = _store().get(NAMESPACE, tx_id) if tx_id else None
    return LoginTransaction.from_json(data) if data else None


def save(tx: LoginTransaction) -> None:
    _store().put(NAMESPACE, tx.id, tx.to_json(), ttl=_ttl())


def finish(tx_id: str) -> LoginTransaction | None:
    """Take the transaction out of the store: a completed login resumes exactly once."""
    data = _store().take(NAMESPACE, tx_id) if tx_id else None
    return LoginTransaction.from_json(data) if data else None
