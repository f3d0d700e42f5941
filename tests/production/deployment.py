"""A deployment set up the way an operator would, with the ``idp`` command.

Several nodes of one deployment share the database, Redis, the keys folder
and the two deployment secrets; ``Deployment.env`` holds exactly that, and
``start_node`` runs one more server process on it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from idp.pid import generate_pid
from tests.live import LiveServer, base_env, idp
from tests.production.flows import RelyingParty

PASSWORD = "riktig-passord-42"


@dataclass(frozen=True)
class Deployment:
    env: dict[str, str]
    issuer: str
    pid: str
    rp: RelyingParty

    def start_node(self, port: int, *, production: bool = True) -> LiveServer:
        return LiveServer(self.env, port=port, production=production)


def prepare(data: Path, *, issuer: str, **settings: str) -> Deployment:
    """Migrate, create keys, add a citizen and a relying party; ``settings`` are IDP_* overrides."""
    env = base_env(
        data,
        IDP_SERVER_ISSUER=issuer,
        # Shared by every node: CSRF tokens and pairwise subjects must not depend on the node.
        IDP_SERVER_SECRET_KEY=secrets.token_urlsafe(32),
        IDP_SUBJECT_PAIRWISE_SALT=secrets.token_urlsafe(32),
        **settings,
    )
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    pid = generate_pid(birth_date=date(1985, 3, 14), synthetic=True)
    idp(env, "users", "add", pid, "--given-name", "Ola", "--family-name", "Nordmann", "--password", PASSWORD)
    rp = RelyingParty(client_id="rp1", secret=secrets.token_urlsafe(24))
    added = idp(
        env,
        "clients",
        "add",
        "--json",
        "--name",
        "Testtjenesten",
        "--client-id",
        rp.client_id,
        "--client-secret",
        rp.secret,
        "--redirect-uri",
        rp.redirect_uri,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        rp.scope,
    )
    assert json.loads(added.stdout)["client_id"] == rp.client_id
    return Deployment(env=env, issuer=issuer, pid=pid, rp=rp)
