"""Profile one endpoint in process (no HTTP, no other processes) to find where its time goes.

    python -m bench.profile_endpoints token_rs256 --requests 300
    python -m bench.profile_endpoints discovery --backend postgres --top 30

Prints the request rate of a single thread and the functions with the most
cumulative time (cProfile), for the same scenarios as bench/loadgen.py.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.citizens import make_pool  # noqa: E402
from idp.extensions import db  # noqa: E402
from tests.conftest import PASSWORD, add_citizen, add_client, build_app, make_config  # noqa: E402
from tests.production.flows import (  # noqa: E402
    FlaskAgent,
    Login,
    RelyingParty,
    authorize_url,
    basic_auth,
    code_from,
    exchange_code,
    full_login,
)

SCENARIOS = (
    "discovery",
    "jwks",
    "token_rs256",
    "token_es256",
    "refresh",
    "userinfo",
    "introspection",
    "authorize_sso",
    "full_login",
)


def login_from_pool(app, rp: RelyingParty, citizen: tuple[str, str]) -> None:
    pid, secret = citizen
    full_login(FlaskAgent(app), [""], rp, pid, PASSWORD, totp_secret=secret)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idp-profile-")))
        env = {}
        if args.backend == "postgres":
            from tests.production.backends import postgres_redis

            env = stack.enter_context(postgres_redis()).env
        # Production Argon2id parameters (config defaults), not the tests' cheap ones.
        # Full logins, as in bench/loadgen.py: password then a TOTP code, every one from 127.0.0.1.
        env = {
            **env,
            "IDP_PASSWORDS_TIME_COST": "2",
            "IDP_PASSWORDS_MEMORY_COST_KIB": "19456",
            "IDP_ASSURANCE_PASSWORD_ONLY": "false",
            "IDP_LIMITS_IP_FAILURES": "1000000",
        }
        app = build_app(make_config(tmp, **env))
        # Requests run outside this context: inside it, Flask would share g and the
        # database session between requests, which no real request does.
        with app.app_context():
            citizen = add_citizen(app)
            pid = citizen.pid
            totp = app.extensions["idp.chain"].factors["totp"]
            first_secret = totp.new_secret()
            totp.enrol(citizen, first_secret)
            db.session.commit()
            add_client()
            add_client(client_id="rp-es", secret="rp-es-secret", id_token_signed_response_alg="ES256")
            db.session.remove()
        es = args.scenario == "token_es256"
        rp = RelyingParty("rp-es", "rp-es-secret") if es else RelyingParty("rp1", "rp1-secret")
        agent = FlaskAgent(app)
        first = full_login(agent, [""], rp, pid, PASSWORD, totp_secret=first_secret)
        # A TOTP code counts once per time step: each measured login is by a citizen of its own.
        pool = make_pool(app, count=args.requests, password=PASSWORD) if args.scenario == "full_login" else []

        def fresh_code() -> Login:
            login = Login(rp)
            code_from(agent.request("GET", authorize_url("", login)), login)
            return login

        prepared = [fresh_code() for _ in range(args.requests)] if args.scenario.startswith("token") else []
        state = {"tokens": first.tokens}

        def refresh() -> None:
            login = Login(rp, tokens=state["tokens"])
            from tests.production.flows import refresh as do_refresh

            state["tokens"] = do_refresh(agent, "", login)

        steps = {
            "discovery": lambda: agent.request("GET", "/.well-known/openid-configuration"),
            "jwks": lambda: agent.request("GET", "/jwks"),
            "token_rs256": lambda: exchange_code(agent, "", prepared.pop()),
            "token_es256": lambda: exchange_code(agent, "", prepared.pop()),
            "refresh": refresh,
            "userinfo": lambda: agent.request(
                "GET", "/userinfo", headers={"Authorization": f"Bearer {first.tokens['access_token']}"}
            ),
            "introspection": lambda: agent.request(
                "POST",
                "/introspect",
                data={"token": first.tokens["access_token"], "token_type_hint": "access_token"},
                headers=basic_auth(rp),
            ),
            "authorize_sso": fresh_code,
            "full_login": lambda: login_from_pool(app, rp, pool.pop()),
        }
        step = steps[args.scenario]
        statements = []
        with app.app_context():
            engine = db.engine
        # Statements sent to the database (commits included): a figure the machine's noise does not move.
        sa.event.listen(engine, "before_cursor_execute", lambda *a, **k: statements.append("statement"))
        sa.event.listen(engine, "commit", lambda *a, **k: statements.append("commit"))
        half = args.requests // 2
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(half):
            step()
        plain = half / (time.perf_counter() - start)
        # This process's CPU per request (the database server's is not in it): other load on the
        # machine moves it far less than it moves the rate.
        cpu_ms = (time.process_time() - cpu) * 1000 / half
        sent = len(statements) / half
        commits = statements.count("commit") / half
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests - half):
            step()
        profiler.disable()
        print(
            f"{args.scenario} on {args.backend}: {plain:,.1f}/s on one thread, {cpu_ms:.2f} ms of CPU per request, "
            f"{sent:.1f} database statements per request, {commits:.1f} of them commits"
        )
        pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(args.top)


if __name__ == "__main__":
    main()
