"""``idp serve``: clients that are slow to send, or idle between requests, do not stop the others.

With gunicorn's sync workers two connections that sent half a request header
held both workers until the 30 s timeout, and /healthz went unanswered.
"""

from __future__ import annotations

import socket

import requests

from tests.live import LiveServer, free_port
from tests.production.deployment import prepare

# More than the two workers the test server runs, fewer than one worker's threads (8): even if
# one worker accepts them all, it has a thread left. More than that is the reverse proxy's job
# (docs/operations.md).
HELD = 3


def _open(port: int, first_bytes: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(first_bytes)
    return conn


def test_slow_and_idle_connections_leave_the_server_answering(tmp_path):
    port = free_port()
    deployment = prepare(tmp_path, issuer=f"http://127.0.0.1:{port}")
    server = LiveServer(deployment.env, port=port, gunicorn=True)
    held: list[socket.socket] = []
    try:
        # Half a request header, never finished (slowloris), and connections that say nothing.
        held += [_open(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(HELD)]
        held += [_open(port, b"") for _ in range(HELD)]
        for _ in range(5):
            answer = requests.get(server.url + "/healthz", timeout=3)
            assert answer.status_code == 200
            assert requests.get(server.url + "/.well-known/openid-configuration", timeout=3).ok
    finally:
        for conn in held:
            conn.close()
        server.close()
