"""``idp serve``: clients that are slow to send, or idle between requests, do not stop the others.

With gunicorn's sync workers two connections that sent half a request header
held both workers until the 30 s timeout, and /healthz went unanswered. granian
holds connections in Rust and cuts a client off when its headers take too long.
"""

from __future__ import annotations

import socket

import requests

from tests.live import LiveServer, free_port
from tests.production.deployment import prepare

HELD = 20  # far more than the two workers and their threads
SLOW_BODIES = 3  # fewer than one worker's threads (server.threads), even if one worker takes them all


def _open(port: int, first_bytes: bytes) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(first_bytes)
    return conn


def test_slow_and_idle_connections_leave_the_server_answering(tmp_path):
    port = free_port()
    deployment = prepare(tmp_path, issuer=f"http://127.0.0.1:{port}")
    server = LiveServer(deployment.env, port=port, production=True)
    held: list[socket.socket] = []
    try:
        # Half a request header, never finished (slowloris), and connections that say nothing.
        held += [_open(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(HELD)]
        held += [_open(port, b"") for _ in range(HELD)]
        # A body announced and never sent holds one of a worker's threads while the app reads it (a
        # bounded pool: server.threads per worker). Fewer than a worker's threads leave it answering;
        # more is the buffering proxy's to stop (docs/operations.md).
        slow_body = b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        held += [_open(port, slow_body + b"Content-Length: 1000\r\n\r\ngrant_type=") for _ in range(SLOW_BODIES)]
        for _ in range(5):
            answer = requests.get(server.url + "/healthz", timeout=3)
            assert answer.status_code == 200
            assert requests.get(server.url + "/.well-known/openid-configuration", timeout=3).ok
    finally:
        for conn in held:
            conn.close()
        server.close()
