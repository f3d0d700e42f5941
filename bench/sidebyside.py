"""Side by side: idp and panva's oidc-provider under the same load, both driven by wrk.

Usage (from the repository root; once: ``npm ci --prefix bench/peer``, and Debian's ``wrk``):

    python -m bench.sidebyside                     # oidc-provider, idp on SQLite, idp on PostgreSQL + Redis
    python -m bench.sidebyside --backend sqlite --duration 5 --json /tmp/side.json

It starts oidc-provider 9 (bench/peer/server.mjs: one Node process, the library's in-memory
adapter) and ``idp serve`` on each backend asked for (granian, the configured defaults), all
on loopback and all running at once. Each scenario then runs on every server in turn, so
the machine's other load hits them alike; with ``--rounds`` the order rotates each round.

Every request is sent by wrk (``--connections``, ``--threads``): GETs as they are, the token,
refresh, userinfo and introspection requests by bench/wrk/prepared.lua from a file of
prepared codes or tokens, each code and refresh token sent once. Codes and tokens come from
a login: for idp, real ``/authorize`` requests on an SSO session (and a code exchange for
tokens); for oidc-provider, its own models, through bench/peer/server.mjs. One of each kind
is tried on every server before any load. A short warm-up run precedes each measurement; for
codes and refresh tokens it also sizes the measured run (its rate x duration x 2).

In the same run: RS256 signatures/s and Argon2id verifications/s on one core, the load average
before and after each run, p50/p99 from wrk's latency distribution, the servers' CPU time per
request from /proc (idp serve's main process and workers; the Node process; for PostgreSQL also the
database backends serving idp) and their resident memory after the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import (  # noqa: E402
    Target,
    client_auth_headers,
    cpu_model,
    cpu_seconds,
    deploy,
    exchange_code,
    fresh_code,
    machine_limits,
    rss_mib,
    run_wrk,
    server_cpu_seconds,
    sso_cookie,
    start_server,
    worker_rss_mib,
)
from tests.live import free_port  # noqa: E402
from tests.production.backends import NAMES  # noqa: E402
from tests.production.flows import RelyingParty  # noqa: E402

PEER = ROOT / "bench" / "peer"
PEER_LABEL = "oidc-provider"
PREPARED_LUA = ROOT / "bench" / "wrk" / "prepared.lua"
WARM_UP_SECONDS = 1
REUSED_TOKENS = 64  # access tokens shared by a userinfo or introspection run's requests


@dataclass(frozen=True)
class Scenario:
    """One measured request. ``kind`` is what a prepared line holds (a code, a refresh or an
    access token), ``once`` whether a line is good for one request only, ``expect`` a Lua
    pattern every good answer's body contains."""

    name: str
    endpoint: str  # a key of Server.endpoints
    kind: str | None = None
    once: bool = False
    method: str = "POST"
    carrier: str = "body"  # or the header that carries the line
    expect: str = ""


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("token", "token", "code", once=True, expect='"id_token"'),
        Scenario("refresh", "token", "refresh", once=True, expect='"id_token"'),
        Scenario("userinfo", "userinfo", "access", method="GET", carrier="Authorization", expect='"sub"'),
        Scenario("introspection", "introspection", "access", expect='"active":%s*true'),
        Scenario("discovery", "discovery", method="GET"),
        Scenario("jwks", "jwks", method="GET"),
    )
}


def payload(scenario: Scenario, item: tuple[str, ...], rp: RelyingParty) -> str:
    """What a request of ``scenario`` carries for one prepared ``item``: a form body or a header value."""
    match scenario.name:
        case "token":
            code, verifier = item
            return urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": rp.redirect_uri,
                    "code_verifier": verifier,
                }
            )
        case "refresh":
            return urlencode({"grant_type": "refresh_token", "refresh_token": item[0]})
        case "introspection":
            return urlencode({"token": item[0], "token_type_hint": "access_token"})
        case "userinfo":
            return f"Bearer {item[0]}"
    raise ValueError(scenario.name)


def endpoints(base: str) -> dict[str, str]:
    """The URLs the scenarios use, from the server's discovery document."""
    url = base + "/.well-known/openid-configuration"
    status, _, data = _target(url).request("GET", urlsplit(url).path)
    if status != 200:
        raise RuntimeError(f"{url} gave {status}")
    document = json.loads(data)
    return {
        "discovery": url,
        "jwks": document["jwks_uri"],
        "token": document["token_endpoint"],
        "userinfo": document["userinfo_endpoint"],
        "introspection": document["introspection_endpoint"],
    }


def _target(url: str) -> Target:
    split = urlsplit(url)
    return Target(split.hostname, split.port)


def _cpu_by_process(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process still running."""
    used = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            used[pid] = cpu_seconds([pid])
    return used


# ---------------------------------------------------------------- the servers


class IdpServer:
    """``idp serve`` (the configured defaults unless ``workers``) on a fresh deployment."""

    def __init__(self, stack: contextlib.ExitStack, backend: str, workers: int, folder: Path) -> None:
        port = free_port()
        deployment = deploy(stack, backend, port)
        self.label = f"idp {backend}"
        self.folder = folder
        self.server = start_server(deployment.env, port, workers)
        stack.callback(self.server.close)
        self.rp = deployment.rp
        self.cookie = sso_cookie(self.server.url, deployment, self.rp)
        self.endpoints = endpoints(self.server.url)
        self._database_url = deployment.env["IDP_DATABASE_URL"] if backend == "postgres" else None

    def prepare(self, kind: str, count: int) -> list[tuple[str, ...]]:
        """``count`` items as a login makes them: codes by /authorize on the SSO session, tokens by exchanging one."""
        processes = 2 * (os.cpu_count() or 1)
        shares = [count // processes + (i < count % processes) for i in range(processes)]
        jobs = [(self.server.url, self.rp, self.cookie, kind, share) for share in shares if share]
        with mp.get_context("fork").Pool(len(jobs)) as pool:
            return [item for made in pool.map(_idp_items, jobs) for item in made]

    def cpu_seconds(self) -> float:
        return server_cpu_seconds(self.server.process.pid)

    def database_cpu(self) -> dict[int, float]:
        """CPU seconds of each PostgreSQL backend serving this deployment (SQLite runs in the workers)."""
        if self._database_url is None:
            return {}
        import sqlalchemy as sa

        url = sa.engine.make_url(self._database_url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                pids = conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": url.query["application_name"]},
                ).scalars()
                return _cpu_by_process(list(pids))
        finally:
            engine.dispose()

    def memory(self) -> dict:
        rss = worker_rss_mib(self.server.process.pid)
        return {"max_mib": max(rss), "processes": len(rss)}


def _idp_items(job: tuple[str, RelyingParty, str, str, int]) -> list[tuple[str, ...]]:
    url, rp, cookie, kind, count = job
    target = _target(url)
    made = []
    for _ in range(count):
        code, login = fresh_code(target, rp, cookie)
        if kind == "code":
            made.append((code, login.verifier))
            continue
        status, data = exchange_code(target, rp, code, login)
        if status != 200:
            raise RuntimeError(f"token gave {status}: {data[:200]!r}")
        made.append((json.loads(data)["refresh_token" if kind == "refresh" else "access_token"],))
    return made


class OidcProvider:
    """bench/peer/server.mjs: oidc-provider in one Node process; prepared items come through its stdin."""

    def __init__(self, stack: contextlib.ExitStack, folder: Path) -> None:
        port = free_port()
        self.label = PEER_LABEL
        self.folder = folder
        self.rp = RelyingParty("rp1", secrets.token_urlsafe(24))
        self.log = open(folder / "oidc-provider.log", "w")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            ["node", str(PEER / "server.mjs"), str(port), self.rp.client_id, self.rp.secret, self.rp.redirect_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        stack.callback(self.close)
        self._answer()  # listening
        self.endpoints = endpoints(f"http://127.0.0.1:{port}")

    def _answer(self) -> list[str]:
        while line := self.process.stdout.readline():
            if not line.startswith("bench-peer "):
                self.log.write(line)  # the library's notices
                continue
            words = line.split()[1:]
            if words[0] == "error":
                raise RuntimeError(line)
            return words
        raise RuntimeError(f"oidc-provider exited with {self.process.wait()}; see {self.log.name}")

    def prepare(self, kind: str, count: int) -> list[tuple[str, ...]]:
        file = self.folder / f"minted-{kind}.txt"
        self.process.stdin.write(f"{kind} {count} {file}\n")
        self.process.stdin.flush()
        self._answer()
        return [tuple(line.split()) for line in file.read_text().splitlines()]

    def cpu_seconds(self) -> float:
        return cpu_seconds([self.process.pid])

    def database_cpu(self) -> dict[int, float]:
        return {}  # its store is in the Node process

    def memory(self) -> dict:
        return {"max_mib": rss_mib(self.process.pid), "processes": 1}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the script exits when its stdin ends
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.log.close()


Server = IdpServer | OidcProvider


def check(server: Server) -> None:
    """Before any load: one prepared item of each kind gets the answer its scenario expects."""
    for name in ("token", "refresh", "userinfo", "introspection"):
        scenario = SCENARIOS[name]
        (item,) = server.prepare(scenario.kind, 1)
        url = server.endpoints[scenario.endpoint]
        line = payload(scenario, item, server.rp)
        if scenario.carrier == "body":
            status, _, data = _target(url).request("POST", urlsplit(url).path, line, client_auth_headers(server.rp))
        else:
            status, _, data = _target(url).request("GET", urlsplit(url).path, headers={scenario.carrier: line})
        answer = json.loads(data) if status == 200 else {}
        good = {
            "token": "id_token" in answer and "refresh_token" in answer,
            "refresh": "id_token" in answer and "refresh_token" in answer,
            "userinfo": "sub" in answer,
            "introspection": answer.get("active") is True,
        }[name]
        if not good:
            raise RuntimeError(f"{server.label} {name}: {status} {data[:300]!r}")


# ---------------------------------------------------------------- measuring


def measure(
    server: Server, scenario: Scenario, items: list[tuple[str, ...]], args: argparse.Namespace, duration: int
) -> dict:
    """One wrk run of ``scenario`` against ``server``, with the load average around it."""
    url = server.endpoints[scenario.endpoint]
    script, headers = None, None
    if scenario.kind is not None:
        lines = server.folder / f"{server.label.replace(' ', '-')}-{scenario.name}.txt"
        lines.write_text("".join(payload(scenario, item, server.rp) + "\n" for item in items))
        script = [
            str(PREPARED_LUA),
            str(lines),
            "once" if scenario.once else "cycle",
            str(args.threads),
            scenario.method,
            scenario.carrier,
            scenario.expect,
        ]
        headers = client_auth_headers(server.rp) if scenario.carrier == "body" else None
    load_before = os.getloadavg()[0]
    database_before = server.database_cpu()
    result = run_wrk(
        url,
        connections=args.connections,
        threads=args.threads,
        duration=duration,
        cpu_seconds=server.cpu_seconds,
        headers=headers,
        script=script,
        timeout=args.timeout,
    )
    database_after = server.database_cpu()
    database = sum(database_after[pid] - used for pid, used in database_before.items() if pid in database_after)
    return {
        **result,
        "database_cpu_ms": database * 1000 / max(result["requests"], 1),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def warm_up(server: Server, scenario: Scenario, args: argparse.Namespace) -> int:
    """A short run before the measured ones; returns how many items a measured run gets.

    For a scenario that uses each item once, that is the warm-up's rate x duration x 2
    (the warm-up grows until it does not run out, so its rate is the server's).
    """
    count = (256 if scenario.once else REUSED_TOKENS) if scenario.kind else 0
    while True:
        items = server.prepare(scenario.kind, count) if scenario.kind else []
        result = measure(server, scenario, items, args, WARM_UP_SECONDS)
        if result["errors"] * 2 > result["requests"]:
            raise RuntimeError(f"{server.label} {scenario.name}: most answers were errors: {result}")
        if not result["exhausted"]:
            break
        count *= 4
    return math.ceil(result["per_second"] * args.duration * 2) + 4 * args.connections if scenario.once else count


def run(servers: list[Server], args: argparse.Namespace) -> list[dict]:
    rows = []
    for scenario in map(SCENARIOS.get, args.scenarios):
        counts = {server.label: warm_up(server, scenario, args) for server in servers}
        for round_ in range(args.rounds):
            order = servers[round_ % len(servers) :] + servers[: round_ % len(servers)]
            # Prepared for every server first, so their measured runs follow each other closely.
            items = {s.label: s.prepare(scenario.kind, counts[s.label]) if scenario.kind else [] for s in order}
            for server in order:
                result = measure(server, scenario, items.pop(server.label), args, args.duration)
                for _ in range(2):  # ran out: the warm-up's rate was too low a guess
                    if not result["exhausted"]:
                        break
                    counts[server.label] *= 2
                    fresh = server.prepare(scenario.kind, counts[server.label])
                    result = measure(server, scenario, fresh, args, args.duration)
                row = {"server": server.label, "scenario": scenario.name, "round": round_ + 1, **result}
                row["items"] = counts[server.label]
                rows.append(row)
                print(_row_text(row), flush=True)
    return rows


def _row_text(row: dict) -> str:
    database = f" (+{row['database_cpu_ms']:.2f} db)" if row["database_cpu_ms"] >= 0.005 else ""
    return (
        f"{row['server']:13} {row['scenario']:13} {row['per_second']:9.1f}/s  p50 {row['p50_ms']:6.1f} ms  "
        f"p99 {row['p99_ms']:6.1f} ms  server CPU {row['server_cpu_ms']:5.2f} ms{database}  "
        f"load {row['load_before']:.2f}->{row['load_after']:.2f}  "
        f"({row['requests']} requests, {_errors_text(row)}{', RAN OUT' if row['exhausted'] else ''})"
    )


def _errors_text(row: dict) -> str:
    kinds = [f"{count} {kind}" for kind, count in row["socket_errors"].items() if count]
    if row["bad_answers"]:
        kinds.insert(0, f"{row['bad_answers']} bad answers")
    return f"{row['errors']} errors" + (f": {', '.join(kinds)}" if kinds else "")


# ---------------------------------------------------------------- the report


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def markdown(report: dict) -> str:
    meta, limits = report["meta"], report["limits"]
    labels = [PEER_LABEL, *(f"idp {backend}" for backend in meta["backends"])]
    short = " / ".join(label.removeprefix("idp ") for label in labels)
    header = f"| scenario | {PEER_LABEL} /s |"
    rule = "|---|---:|"
    for label in labels[1:]:
        header += f" {label} /s | ratio |"
        rule += "---:|---:|"
    header += f" p99 ms ({short}) | server CPU ms ({short}) | load 1 min | errors ({short}) |"
    rule += "---|---|---|---|"
    lines = [
        f"Run {meta['started']} on {meta['host']}: {meta['cores']} cores ({meta['cpu']}), Python {meta['python']}, "
        f"Node {meta['node']}, oidc-provider {meta['oidc_provider']}, {meta['wrk']}; wrk with "
        f"{meta['connections']} connections and {meta['threads']} threads, {meta['duration']:g} s per run, "
        f"{meta['rounds']} round(s) (medians shown).",
        "",
        "Limits measured in the same run, on one core: "
        + ", ".join(f"{name} {limits[name]:,.0f}/s" for name in ("RS256", "ES256", "Argon2id"))
        + f" (x {meta['cores']} cores: RS256 {limits['RS256'] * meta['cores']:,.0f}/s, "
        f"Argon2id {limits['Argon2id'] * meta['cores']:,.0f}/s).",
        "",
        header,
        rule,
    ]
    for name in meta["scenarios"]:
        of = {label: [r for r in report["rows"] if r["server"] == label and r["scenario"] == name] for label in labels}
        peer = _median(of[PEER_LABEL], "per_second")
        cells = [f"| {name} | {peer:,.0f} |"]
        for label in labels[1:]:
            ours = _median(of[label], "per_second")
            cells.append(f" {ours:,.0f} | {ours / peer:.2f} |")
        cells.append(" " + " / ".join(f"{_median(of[label], 'p99_ms'):.1f}" for label in labels) + " |")
        cpu = []
        for label in labels:
            database = _median(of[label], "database_cpu_ms")
            server = f"{_median(of[label], 'server_cpu_ms'):.2f}"
            cpu.append(server + (f"+{database:.2f} db" if database >= 0.005 else ""))
        cells.append(" " + " / ".join(cpu) + " |")
        runs = [r for rows in of.values() for r in rows]
        cells.append(f" {min(r['load_before'] for r in runs):.2f}–{max(r['load_after'] for r in runs):.2f} |")
        cells.append(" " + " / ".join(str(sum(r["errors"] for r in of[label])) for label in labels) + " |")
        lines.append("".join(cells))
    lines += [
        "",
        "*ratio* is idp ÷ oidc-provider. *Server CPU ms* is the CPU time the server's processes used per "
        "request, read from /proc (idp serve's main process and workers; the Node process; +db: the PostgreSQL "
        "backends serving idp; Redis is shared with other work and not counted). *load 1 min* is the "
        "lowest load average before and the highest after the scenario's runs. Errors are non-2xx "
        "answers, answers without what the scenario expects, and socket errors: a run with errors is not valid.",
        "",
        "Resident memory after the run: "
        + "; ".join(
            f"{label} {report['memory'][label]['max_mib']:.0f} MiB"
            + (
                f" (largest of {report['memory'][label]['processes']} workers)"
                if label != PEER_LABEL
                else " (with its store, which keeps every code and token of the run)"
            )
            for label in labels
        )
        + ".",
    ]
    invalid = sorted({f"{r['server']} {r['scenario']}" for r in report["rows"] if r["errors"] or r["exhausted"]})
    if invalid:
        lines += ["", "**Not valid** (errors, or prepared items ran out): " + ", ".join(invalid) + "."]
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    peer = json.loads((PEER / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    return {"wrk": wrk, "node": node, "oidc_provider": peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("all", *NAMES), default="all", help="idp's storage (default: both)")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (wrk takes whole seconds)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument(
        "--timeout", type=int, default=10, help="seconds before wrk counts an answer as a timeout error (wrk: 2)"
    )
    parser.add_argument("--workers", type=int, default=0, help="idp serve workers (default: idp serve's, 2 x cores)")
    parser.add_argument("--rounds", type=int, default=1, help="measured runs per scenario and server (medians shown)")
    parser.add_argument("--json", dest="json_out", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not on PATH (Debian: apt-get install wrk)")
    if shutil.which("node") is None or not (PEER / "node_modules" / "oidc-provider").is_dir():
        parser.error("oidc-provider is not installed: npm ci --prefix bench/peer (needs Node.js)")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")

    os.chdir(ROOT)
    started, clock = datetime.now(UTC), time.monotonic()
    backends = list(NAMES) if args.backend == "all" else [args.backend]
    cores = os.cpu_count() or 1
    limits = machine_limits()
    print("one core: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in limits.items()), flush=True)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idp-sidebyside-")))
        servers: list[Server] = [OidcProvider(stack, folder)]
        servers += [IdpServer(stack, backend, args.workers, folder) for backend in backends]
        for server in servers:
            check(server)
        print("every server answered a prepared code, refresh token and access token", flush=True)
        rows = run(servers, args)
        memory = {server.label: server.memory() for server in servers}
    report = {
        "meta": {
            "started": f"{started:%Y-%m-%d %H:%M} UTC",
            "host": platform.node(),
            "cores": cores,
            "cpu": cpu_model(),
            "python": platform.python_version(),
            **_versions(),
            "backends": backends,
            "scenarios": args.scenarios,
            "connections": args.connections,
            "threads": args.threads,
            "duration": args.duration,
            "rounds": args.rounds,
            "workers": {label: memory[label]["processes"] for label in memory if label != PEER_LABEL},
            "seconds": round(time.monotonic() - clock),
        },
        "limits": limits,
        "memory": memory,
        "rows": rows,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    print()
    print(markdown(report))
    print(f"\n({report['meta']['seconds']} s in all)")


if __name__ == "__main__":
    main()
