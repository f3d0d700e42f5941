"""A live provider in its own process, for end-to-end tests over real HTTP.

``LiveServer`` prepares a data folder (migrated database, keys, demo data
optional), starts ``idp serve --dev`` on a free port with the given
environment, waits until discovery answers, and stops it on ``close()``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment for a provider whose state all lives in ``data``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_") or k == "IDP_REQUIRE_SERVICES"}
    # An empty config file in ``data``: relative settings (the SMS outbox) resolve there, not in the checkout.
    data.mkdir(parents=True, exist_ok=True)
    (data / "config.toml").touch()
    env.update(
        IDP_CONFIG=str(data / "config.toml"),
        IDP_SERVER_DATA_DIR=str(data / "var"),
        IDP_DATABASE_URL=f"sqlite:///{data / 'idp.sqlite3'}",
        IDP_KEYS_DIR=str(data / "keys"),
        IDP_CITIZENS_ALLOW_SYNTHETIC_PIDS="true",
        IDP_SERVER_SECURE_COOKIES="false",
        IDP_PASSWORDS_TIME_COST="1",
        IDP_PASSWORDS_MEMORY_COST_KIB="1024",
        # Protocol tests log in with the password alone; tests of the factor chain set it to false.
        IDP_ASSURANCE_PASSWORD_ONLY="true",
        # Every test logs in from 127.0.0.1: the per-IP limit is tested on its own (tests/policy, tests/mfa).
        IDP_LIMITS_IP_FAILURES="100000",
        # Relying parties' documents and logout receivers are served on 127.0.0.1 in tests.
        IDP_FETCH_ALLOW_NETWORKS="127.0.0.0/8,::1/128",
    )
    env.update(extra)
    return env


def idp(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the ``idp`` command as a user would; raises with its stderr on failure."""
    result = subprocess.run(
        [sys.executable, "-m", "idp.cli", *args], env=env, capture_output=True, text=True, input=input, timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(f"idp {' '.join(args)} failed: {result.stderr.strip()}")
    return result


class LiveServer:
    def __init__(self, env: dict[str, str], *, port: int | None = None, production: bool = False):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **env,
            "IDP_SERVER_ISSUER": env.get("IDP_SERVER_ISSUER", self.url),
            "IDP_SERVER_PORT": str(self.port),
        }
        args = ["serve", "--workers", "2"] if production else ["serve", "--dev"]
        self.log = open(Path(env["IDP_SERVER_DATA_DIR"]).parent / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "idp.cli", *args], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait()

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log.name}")
            try:
                if requests.get(self.url + "/.well-known/openid-configuration", timeout=1).ok:
                    return
            except requests.RequestException:  # not listening yet, or a first slow answer
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"server did not answer within {timeout} s; see {self.log.name}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
