"""Load generator: drives a live ``idp serve`` (granian) over HTTP and compares it with the machine's limits.

Usage (from the repository root, with the venv active):

    python -m bench.loadgen                      # SQLite, then PostgreSQL + Redis
    python -m bench.loadgen --backend sqlite --duration 5 --clients 4 --markdown

For each backend it sets up a fresh deployment with the ``idp`` command
(production Argon2id parameters from config.toml's defaults, RS256 and ES256
relying parties), starts ``idp serve`` with ``--workers`` (default 2 x cores), and
runs every scenario for ``--duration`` seconds with ``--clients`` client
processes. In the same run it measures, in this process, the raw RS256 and
ES256 signing rates and the Argon2id rate on one core; the "limit" of a
scenario is that rate x cores, and the "of limit" column is throughput / limit.
Health, discovery, JWKS, userinfo and introspection involve no signature or hash; their limit
is the HTTP ceiling: granian serving bench/null_app.py to the same clients.
/healthz shows what Flask and the per-request hooks cost with an empty view.

Each request of the Python clients uses a new connection, as a browser arriving for the first time does.
The clients share the machine with the server: on a small machine the
figures are a lower bound for the server alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.agent import LightAgent  # noqa: E402
from tests.live import LiveServer, free_port, idp  # noqa: E402 - the harness the tests use
from tests.production.backends import NAMES  # noqa: E402
from tests.production.deployment import PASSWORD, Deployment, prepare  # noqa: E402
from tests.production.flows import HttpAgent, Login, RelyingParty, authorize_url, full_login  # noqa: E402

# ---------------------------------------------------------------- the machine's limits


def _rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        count += 1
    return count / elapsed


def machine_limits(seconds: float = 2.0) -> dict[str, float]:
    """Single-core rates of what the expensive requests must do: sign an ID token, verify a password."""
    from argon2 import PasswordHasher, Type
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    from idp.config import PasswordsConfig

    claims = {"iss": "https://idp.example", "sub": "x" * 43, "aud": "rp", "iat": 0, "exp": 600, "nonce": "n" * 16}
    rsa_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ec_key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    production = PasswordsConfig()  # the defaults are the production parameters
    hasher = PasswordHasher(
        time_cost=production.time_cost,
        memory_cost=production.memory_cost_kib,
        parallelism=production.parallelism,
        type=Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    return {
        "RS256": _rate(lambda: jwt.encode({"alg": "RS256"}, claims, rsa_key, algorithms=["RS256"]), seconds),
        "ES256": _rate(lambda: jwt.encode({"alg": "ES256"}, claims, ec_key, algorithms=["ES256"]), seconds),
        "Argon2id": _rate(lambda: hasher.verify(stored, PASSWORD), seconds),
    }


# ---------------------------------------------------------------- HTTP, light enough for the clients


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheader("Location") or "", response.read()
        finally:
            conn.close()


def client_auth_headers(rp: RelyingParty) -> dict[str, str]:
    pair = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}", "Content-Type": "application/x-www-form-urlencoded"}


def sso_cookie(base: str, deployment: Deployment, rp: RelyingParty) -> str:
    agent = HttpAgent()
    full_login(agent, [base], rp, deployment.pid, PASSWORD)
    return "idp_session=" + agent.session.cookies["idp_session"]


def fresh_code(target: Target, rp: RelyingParty, cookie: str) -> tuple[str, Login]:
    """A code from /authorize on an existing SSO session: no password, no signature."""
    login = Login(rp)
    status, location, _ = target.request("GET", authorize_url("", login), headers={"Cookie": cookie})
    if status != 302 or "code=" not in location:
        raise RuntimeError(f"authorize gave {status} {location}")
    return parse_qs(urlsplit(location).query)["code"][0], login


def exchange_code(target: Target, rp: RelyingParty, code: str, login: Login) -> tuple[int, bytes]:
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": login.verifier,
        }
    )
    status, _, data = target.request("POST", "/token", body, client_auth_headers(rp))
    return status, data


# ---------------------------------------------------------------- scenarios (run inside client processes)


@dataclass(frozen=True)
class Job:
    scenario: str
    base: str
    duration: float
    rp: RelyingParty | None  # None for the null app
    cookie: str
    deployment: Deployment | None
    items: int  # codes prepared per client for token exchanges
    totp_citizens: tuple[tuple[str, str], ...] = ()  # (pid, secret), one per full login


# Scenarios whose prepared items run out: the client stops when its share is used.
CONSUMING = ("token_rs256", "token_es256", "full_login")


def _prepare(job: Job, target: Target, share: slice) -> list:
    """Work made before the clock starts, so only the measured request is timed."""
    if job.scenario == "full_login":
        return list(job.totp_citizens[share])
    if job.scenario.startswith("token"):
        return [fresh_code(target, job.rp, job.cookie) for _ in range(job.items)]
    if job.scenario in ("refresh", "userinfo", "introspection"):
        code, login = fresh_code(target, job.rp, job.cookie)
        status, data = exchange_code(target, job.rp, code, login)
        if status != 200:
            raise RuntimeError(f"token gave {status}: {data[:200]!r}")
        return [json.loads(data)]
    return []


def _one(job: Job, target: Target, prepared: list) -> bool:
    """One measured request (or one full login); True if it gave the expected answer."""
    match job.scenario:
        case "ceiling":
            return target.request("GET", "/")[0] == 200
        case "healthz":
            return target.request("GET", "/healthz")[0] == 200
        case "discovery":
            return target.request("GET", "/.well-known/openid-configuration")[0] == 200
        case "jwks":
            return target.request("GET", "/jwks")[0] == 200
        case "token_rs256" | "token_es256":
            code, login = prepared.pop()
            return exchange_code(target, job.rp, code, login)[0] == 200
        case "refresh":
            body = urlencode({"grant_type": "refresh_token", "refresh_token": prepared[0]["refresh_token"]})
            status, _, data = target.request("POST", "/token", body, client_auth_headers(job.rp))
            if status == 200:
                prepared[0] = json.loads(data)  # rotation: the next refresh uses the new token
            return status == 200
        case "userinfo":
            auth = {"Authorization": f"Bearer {prepared[0]['access_token']}"}
            return target.request("GET", "/userinfo", headers=auth)[0] == 200
        case "introspection":
            body = urlencode({"token": prepared[0]["access_token"], "token_type_hint": "access_token"})
            status, _, data = target.request("POST", "/introspect", body, client_auth_headers(job.rp))
            return status == 200 and json.loads(data)["active"] is True
        case "full_login":
            pid, secret = prepared.pop()
            full_login(LightAgent(), [job.base], job.rp, pid, PASSWORD, totp_secret=secret)
            return True
    raise ValueError(job.scenario)


def _client(job: Job, share: slice, barrier, results) -> None:
    split = urlsplit(job.base)
    target = Target(split.hostname, split.port)
    prepared = _prepare(job, target, share)
    barrier.wait()
    cpu_start = time.process_time()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + job.duration
    while time.perf_counter() < deadline and (prepared or job.scenario not in CONSUMING):
        start = time.perf_counter()
        try:
            ok = _one(job, target, prepared)
        except Exception:  # a failed login step raises; count it, keep loading
            ok = False
        latencies.append(time.perf_counter() - start)
        errors += not ok
    results.put((time.perf_counter(), latencies, errors, time.process_time() - cpu_start))


def run_scenario(job: Job, clients: int, server_pid: int) -> dict[str, float]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(job, slice(i, None, clients), barrier, results)) for i in range(clients)]
    for proc in procs:
        proc.start()
    barrier.wait()  # the clients have prepared their work: only the load is measured from here
    started = time.perf_counter()
    cpu_before = server_cpu_seconds(server_pid)
    gathered = [results.get(timeout=job.duration + 600) for _ in procs]
    cpu_used = server_cpu_seconds(server_pid) - cpu_before
    for proc in procs:
        proc.join()
    finished = max(end for end, _, _, _ in gathered)
    latencies = sorted(x for _, lat, _, _ in gathered for x in lat)
    errors = sum(err for _, _, err, _ in gathered)
    client_cpu = sum(cpu for _, _, _, cpu in gathered)
    count = len(latencies)
    return {
        "requests": count,
        "errors": errors,
        "per_second": count / (finished - started),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if latencies else float("nan"),
        "server_cpu_ms": cpu_used * 1000 / max(count, 1),
        "client_cpu_ms": client_cpu * 1000 / max(count, 1),
    }


# ---------------------------------------------------------------- wrk, a client that costs next to nothing

# GET scenarios wrk can send as they are; the path of each.
WRK_PATHS = {
    "ceiling": "/",
    "healthz": "/healthz",
    "discovery": "/.well-known/openid-configuration",
    "jwks": "/jwks",
    "userinfo": "/userinfo",
}
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    cpu_seconds: Callable[[], float],
    threads: int = 1,
    headers: dict | None = None,
    script: list[str] | None = None,
    timeout: int = 2,
) -> dict:
    """``url`` driven by wrk (C, epoll) for ``duration`` seconds over ``connections`` connections.

    The Python clients spend about as much CPU per request as the server does on the
    cheapest requests, on the same two cores; wrk spends a small fraction of that, so
    its figures are closer to what the server alone can do. ``cpu_seconds`` reads the
    server's CPU time; ``script`` is wrk's ``-s FILE -- ARGS`` for bench/wrk/prepared.lua,
    whose bad answers count as errors and whose running out of lines is reported. An answer
    slower than ``timeout`` seconds counts as a socket error (timeout), not as a latency.
    """
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", f"--timeout={timeout}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script[0], url, "--", *script[1:]]
    else:
        command.append(url)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = cpu_seconds()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu_used = cpu_seconds() - cpu_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    count = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(
        r"Socket errors: connect (?P<connect>\d+), read (?P<read>\d+), write (?P<write>\d+), timeout (?P<timeout>\d+)",
        out,
    )
    prepared = re.search(r"^prepared: bad (\d+) exhausted (\d+)$", out, re.MULTILINE)
    # The script's bad answers include every non-2xx one; without it, wrk's count is all there is.
    answers = int(prepared.group(1)) if prepared else int(non_2xx.group(1)) if non_2xx else 0
    sockets = {kind: int(value) for kind, value in socket.groupdict().items()} if socket else {}
    return {
        "requests": count,
        "errors": answers + sum(sockets.values()),
        "bad_answers": answers,
        "socket_errors": sockets,
        "exhausted": bool(prepared and int(prepared.group(2))),
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _wrk_ms(out, "50%"),
        "p99_ms": _wrk_ms(out, "99%"),
        "server_cpu_ms": cpu_used * 1000 / max(count, 1),
        "client_cpu_ms": client_cpu * 1000 / max(count, 1),
    }


def _wrk_ms(out: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk gave no {percentile} latency:\n{out}")
    value, unit = found.groups()
    return float(value) * _WRK_UNITS[unit]


# ---------------------------------------------------------------- deployments


def _workers(master_pid: int) -> list[str]:
    return Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()


def server_cpu_seconds(master_pid: int) -> float:
    """CPU time (user + system) the master and its workers have used so far.

    The difference over a scenario, per request, is what the server spends on one request,
    whatever the clients sharing the machine cost: the figure machine noise moves least.
    """
    return cpu_seconds([master_pid, *map(int, _workers(master_pid))])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system, every thread) the processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """The resident memory of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def worker_rss_mib(master_pid: int) -> list[float]:
    return [rss_mib(int(pid)) for pid in _workers(master_pid)]


def deploy(stack: contextlib.ExitStack, name: str, port: int) -> Deployment:
    """A fresh deployment on backend ``name`` for a server on ``port``, removed when ``stack`` closes.

    Made with the ``idp`` command (migrations, keys, one citizen, an RS256 relying party),
    with production Argon2id parameters and codes that live long enough to be prepared
    before the clock starts.
    """
    settings: dict[str, str] = {}
    if name == "postgres":
        from tests.production.backends import postgres_redis

        settings = stack.enter_context(postgres_redis()).env
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idp-bench-")))
    deployment = prepare(
        tmp,
        issuer=f"http://127.0.0.1:{port}",
        IDP_TOKENS_AUTHORIZATION_CODE_SECONDS="900",
        **settings,
    )
    # Production Argon2id: drop the harness's cheap test parameters so config.toml's
    # defaults apply, and give the citizen a hash made with them.
    env = {k: v for k, v in deployment.env.items() if not k.startswith("IDP_PASSWORDS_")}
    idp(env, "users", "set-password", deployment.pid, "--password", PASSWORD)
    return Deployment(env=env, issuer=deployment.issuer, pid=deployment.pid, rp=deployment.rp)


def bench_backend(name: str, args: argparse.Namespace, limits: dict[str, float], cores: int) -> list[dict]:
    with contextlib.ExitStack() as stack:
        port = free_port()
        deployment = deploy(stack, name, port)
        env = deployment.env
        es_rp = RelyingParty("rp-es", secrets.token_urlsafe(24))
        idp(
            env,
            "clients",
            "add",
            "--name",
            "ES256 RP",
            "--client-id",
            es_rp.client_id,
            "--client-secret",
            es_rp.secret,
            "--redirect-uri",
            es_rp.redirect_uri,
            "--id-token-alg",
            "ES256",
            "--scope",
            es_rp.scope,
        )
        # Full logins use the second factor too (TOTP); a code is good once per time step,
        # so each login gets a citizen of its own: more than the Argon2id limit allows in the run.
        pool = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.citizens",
                    "--count",
                    str(int(args.duration * 100) + 50),
                    "--password",
                    PASSWORD,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        server = start_server(env, port, args.workers or 2 * cores)
        stack.callback(server.close)

        rows = []
        cookies = {rp.client_id: sso_cookie(server.url, deployment, rp) for rp in (deployment.rp, es_rp)}
        for scenario in args.scenarios:
            rp = es_rp if scenario == "token_es256" else deployment.rp
            job = Job(
                scenario,
                server.url,
                args.duration,
                rp,
                cookies[rp.client_id],
                deployment,
                args.codes,
                tuple(map(tuple, pool)),
            )
            result = run_scenario(job, args.clients, server.process.pid)
            limit, of = _limit(scenario, limits, cores)
            rows.append({"backend": name, "scenario": scenario, **result, "limit": limit, "of_limit": of(result)})
            print(_row_text(rows[-1]), flush=True)
        if args.wrk:
            rows.extend(_wrk_rows(name, server, deployment.rp, cookies[deployment.rp.client_id], args, limits))
        rss = worker_rss_mib(server.process.pid)
        rows.append({"backend": name, "scenario": "worker_rss_mib", "max": max(rss), "workers": len(rss)})
        print(f"{name:8} worker RSS: max {max(rss):.0f} MiB over {len(rss)} workers", flush=True)
        return rows


def _wrk_rows(name: str, server, rp: RelyingParty, cookie: str, args: argparse.Namespace, limits: dict) -> list:
    """The GET scenarios again, driven by wrk and compared with the null app under wrk."""
    split = urlsplit(server.url)
    target = Target(split.hostname, split.port)
    rows = []
    for scenario in (s for s in args.scenarios if s in WRK_PATHS):
        headers = None
        if scenario == "userinfo":
            code, login = fresh_code(target, rp, cookie)
            status, data = exchange_code(target, rp, code, login)
            if status != 200:
                raise RuntimeError(f"token gave {status}: {data[:200]!r}")
            headers = {"Authorization": f"Bearer {json.loads(data)['access_token']}"}
        result = run_wrk(
            server.url + WRK_PATHS[scenario],
            connections=args.clients,
            duration=args.duration,
            cpu_seconds=lambda: server_cpu_seconds(server.process.pid),
            headers=headers,
        )
        limit = limits["http_wrk"]
        rows.append(
            {
                "backend": name,
                "scenario": f"{scenario} (wrk)",
                **result,
                "limit": limit,
                "of_limit": result["per_second"] / limit,
            }
        )
        print(_row_text(rows[-1]), flush=True)
    return rows


def start_server(env: dict[str, str], port: int, workers: int):
    """``idp serve`` with the requested number of workers."""

    class Server(LiveServer):
        def __init__(self) -> None:
            self.port = port
            self.url = f"http://127.0.0.1:{port}"
            self.env = {**env, "IDP_SERVER_PORT": str(port), "IDP_SERVER_WORKERS": str(workers)}
            self.log = open(Path(env["IDP_SERVER_DATA_DIR"]).parent / f"server-{port}.log", "w")  # noqa: SIM115
            self.process = subprocess.Popen(
                [sys.executable, "-m", "idp.cli", "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
            )
            self._wait()

    return Server()


def _limit(scenario: str, limits: dict[str, float], cores: int) -> tuple[float, Callable[[dict], float]]:
    kind = {"token_rs256": "RS256", "refresh": "RS256", "token_es256": "ES256", "full_login": "Argon2id"}.get(scenario)
    limit = limits[kind] * cores if kind else limits["http"]
    return limit, lambda r: r["per_second"] / limit


def http_ceiling(args: argparse.Namespace, cores: int, client: str = "python") -> tuple[float, float]:
    """Requests/s of granian serving bench/null_app.py to the same clients (no app can be faster
    here), and the server CPU ms that each of those requests cost."""
    port = free_port()
    log = open(os.devnull, "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--workers",
            str(args.workers or 2 * cores),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ws",
            "bench.null_app:app",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        target = Target("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while True:
            try:
                target.request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if client == "wrk":
            result = run_wrk(
                f"http://127.0.0.1:{port}{WRK_PATHS['ceiling']}",
                connections=args.clients,
                duration=args.duration,
                cpu_seconds=lambda: server_cpu_seconds(server.pid),
            )
        else:
            job = Job("ceiling", f"http://127.0.0.1:{port}", args.duration, None, "", None, 0)
            result = run_scenario(job, args.clients, server.pid)
        return result["per_second"], result["server_cpu_ms"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _row_text(row: dict) -> str:
    return (
        f"{row['backend']:8} {row['scenario']:12} {row['per_second']:8.1f}/s  p50 {row['p50_ms']:7.1f} ms  "
        f"p99 {row['p99_ms']:7.1f} ms  CPU server {row['server_cpu_ms']:6.2f} ms, "
        f"clients {row['client_cpu_ms']:5.2f} ms  "
        f"{row['of_limit']:6.1%} of {row['limit']:.0f}/s  "
        f"({row['requests']} requests, {row['errors']} errors)"
    )


# healthz is the floor: the same app, server and hooks with no work in the view.
SCENARIOS = (
    "healthz",
    "discovery",
    "jwks",
    "token_rs256",
    "token_es256",
    "refresh",
    "userinfo",
    "introspection",
    "full_login",
)


def markdown(rows: list[dict], limits: dict[str, float], cores: int, args: argparse.Namespace) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: {cores} cores "
        f"({cpu_model()}), Python {platform.python_version()}, {args.workers or 2 * cores} idp serve workers, "
        f"{args.clients} client processes on the same machine, {args.duration:g} s per scenario.",
        "",
        "Limits measured in the same run, on one core: "
        + ", ".join(f"{k} {limits[k]:,.0f}/s" for k in ("RS256", "ES256", "Argon2id"))
        + f" (the limit of token, refresh and login rows is that rate x {cores} cores); "
        f"HTTP ceiling (granian serving a null WSGI app to the same clients) {limits['http']:,.0f}/s "
        f"at {limits['http_cpu_ms']:.2f} ms of server CPU per request, the limit of the rows without a "
        "signature or hash. *Server CPU ms* is the CPU time the server's processes used per request "
        "(per login for full_login), whatever the clients cost; *client CPU ms* is what the load "
        "generator's processes used per request on the same cores."
        + (
            f" Rows marked (wrk) were driven by wrk instead, with {args.clients} connections; their limit is "
            f"the null app under wrk, {limits['http_wrk']:,.0f}/s."
            if args.wrk
            else ""
        ),
        "",
        "| backend | scenario | requests/s | p50 ms | p99 ms | server CPU ms | client CPU ms | limit /s | of limit "
        "| errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["scenario"] == "worker_rss_mib":
            continue
        lines.append(
            f"| {row['backend']} | {row['scenario']} | {row['per_second']:,.1f} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['server_cpu_ms']:.2f} | {row['client_cpu_ms']:.2f} | {row['limit']:,.0f} | "
            f"{row['of_limit']:.1%} | "
            f"{row['errors']} |"
        )
    for row in rows:
        if row["scenario"] == "worker_rss_mib":
            lines.append(f"\nWorker RSS ({row['backend']}): max {row['max']:.0f} MiB over {row['workers']} workers.")
    return "\n".join(lines)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("all", *NAMES), default="all")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=0, help="idp serve workers (default 2 x cores)")
    parser.add_argument("--codes", type=int, default=400, help="codes prepared per client for token scenarios")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--markdown", action="store_true", help="also print a table for docs/benchmarks.md")
    parser.add_argument("--json", dest="json_out", type=Path, help="write all figures to this file")
    parser.add_argument(
        "--wrk", action="store_true", help="also drive the GET scenarios with wrk (a C load generator) and compare"
    )
    args = parser.parse_args()

    os.chdir(ROOT)
    cores = os.cpu_count() or 1
    limits = machine_limits()
    print("one core: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in limits.items()), flush=True)
    if args.wrk and shutil.which("wrk") is None:
        parser.error("--wrk needs wrk on PATH (Debian: apt-get install wrk)")
    limits["http"], limits["http_cpu_ms"] = http_ceiling(args, cores)
    if args.wrk:
        limits["http_wrk"], limits["http_wrk_cpu_ms"] = http_ceiling(args, cores, client="wrk")
        print(f"HTTP ceiling with wrk: {limits['http_wrk']:,.0f}/s", flush=True)
    print(
        f"HTTP ceiling (granian + null WSGI app, same clients): {limits['http']:,.0f}/s, "
        f"server CPU {limits['http_cpu_ms']:.2f} ms per request",
        flush=True,
    )
    rows: list[dict] = []
    for name in NAMES if args.backend == "all" else (args.backend,):
        rows.extend(bench_backend(name, args, limits, cores))
    if args.json_out:
        args.json_out.write_text(json.dumps({"limits": limits, "cores": cores, "rows": rows}, indent=2))
    if args.markdown:
        print()
        print(markdown(rows, limits, cores, args))


if __name__ == "__main__":
    main()
