"""``idp serve`` (granian) finishes the requests in flight when told to stop; ``--dev`` serves."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

from tests.live import LiveServer, free_port
from tests.production.deployment import PASSWORD, prepare
from tests.production.flows import HttpAgent, Login, authorize, full_login, login_page, submit_password


def test_sigterm_lets_a_password_check_in_flight_finish(tmp_path):
    port = free_port()
    # A deliberately slow Argon2id (about a second or more here) keeps the password
    # request in flight long enough to send SIGTERM while the worker handles it.
    slow = {"IDP_PASSWORDS_TIME_COST": "24", "IDP_PASSWORDS_MEMORY_COST_KIB": "65536"}
    deployment = prepare(tmp_path, issuer=f"http://127.0.0.1:{port}", **slow)
    server = LiveServer(deployment.env, port=port, production=True)
    try:
        agent = HttpAgent(timeout=60)
        login = Login(deployment.rp)
        login_path = authorize(agent, server.url, login)
        page = login_page(agent, server.url, login_path)
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(submit_password, agent, server.url, login_path, page, deployment.pid, PASSWORD)
            time.sleep(0.3)  # let a worker accept it and start hashing
            assert not in_flight.done()  # SIGTERM really arrives mid-request
            server.process.send_signal(signal.SIGTERM)
            reply = in_flight.result(timeout=60)
        assert reply.status == 303, reply
        assert "/authorize/resume" in reply.location
        assert server.process.wait(timeout=60) == 0
    finally:
        server.close()


def test_dev_server_serves(tmp_path):
    # `idp serve --dev` once returned at once: Flask ignores app.run() under its own CLI.
    port = free_port()
    deployment = prepare(tmp_path, issuer=f"http://127.0.0.1:{port}")
    server = LiveServer(deployment.env, port=port)
    try:
        login = full_login(HttpAgent(), [server.url], deployment.rp, deployment.pid, PASSWORD)
        assert login.tokens["id_token"]
    finally:
        server.close()
