"""A pool of citizens with an authenticator app, for the benchmark's full logins.

A TOTP code is accepted once per time step, so every login in the benchmark
needs a citizen of its own. Run with the deployment's environment; prints
``[[pid, secret], ...]`` as JSON. One Argon2id hash (with the configured,
production parameters) serves every citizen: they all have the same password.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import date, timedelta

from flask import Flask

from idp.app import create_app
from idp.config import load_config
from idp.extensions import db
from idp.mfa.password import hash_password
from idp.models import Citizen
from idp.pid import generate_pid


def make_pool(app: Flask, *, count: int, password: str) -> list[tuple[str, str]]:
    """``count`` citizens with ``password`` and an authenticator app: ``[(pid, totp_secret), ...]``."""
    rng = random.Random(7)
    pool = []
    with app.app_context():
        stored = hash_password(app.extensions["idp.hasher"], password)
        totp = app.extensions["idp.chain"].factors["totp"]
        for i in range(count):
            pid = generate_pid(birth_date=date(1950, 1, 1) + timedelta(days=i), synthetic=True, rng=rng)
            citizen = Citizen(pid=pid, given_name="Bench", family_name=f"Citizen {i}", password_hash=stored)
            db.session.add(citizen)
            db.session.flush()
            secret = totp.new_secret()
            totp.enrol(citizen, secret)
            pool.append((pid, secret))
        db.session.commit()
        db.session.remove()
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    app = create_app(load_config(), load_keys=False)
    print(json.dumps(make_pool(app, count=args.count, password=args.password)))


if __name__ == "__main__":
    main()
