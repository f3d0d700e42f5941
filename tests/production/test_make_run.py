"""`make run` tells the truth: it announces the demo only when the provider (granian, as in production) answers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.live import base_env, free_port

CHECKOUT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path, provider_port: int, rp_port: int) -> tuple[subprocess.Popen, Path]:
    env = base_env(tmp_path, IDP_SERVER_PORT=str(provider_port), IDP_SERVER_ISSUER=f"http://127.0.0.1:{provider_port}")
    out = tmp_path / "make-run.out"
    with open(out, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo_rp.run", "--rp-port", str(rp_port)],
            cwd=CHECKOUT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return process, out


def test_a_taken_port_stops_it_with_one_line_and_no_banner(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        process, out = start(tmp_path, taken, free_port())
        assert process.wait(timeout=60) != 0
    said = out.read_text()
    assert f"port 127.0.0.1:{taken} is taken" in said
    assert "idp is running" not in said


def test_the_banner_comes_once_the_provider_answers_and_stays_readable(tmp_path):
    provider_port, rp_port = free_port(), free_port()
    process, out = start(tmp_path, provider_port, rp_port)
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl+C" not in out.read_text():
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        # The provider is granian (production's server), answering when announced.
        discovery = requests.get(f"http://127.0.0.1:{provider_port}/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == f"http://127.0.0.1:{provider_port}"
        assert "Starting granian" in (tmp_path / "var" / "idp-serve.log").read_text()
        assert requests.get(f"http://127.0.0.1:{rp_port}/", timeout=10).status_code == 200
        # Requests leave no lines after the banner: access logs go to the provider's log file.
        assert out.read_text().rstrip().endswith("Press Ctrl+C to stop."), out.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
