"""Two server processes sharing PostgreSQL, Redis and the keys folder behave as one provider."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
from joserfc import jws

from idp.pid import generate_pid
from tests.live import free_port, idp
from tests.production.backends import postgres_redis
from tests.production.deployment import PASSWORD, Deployment, prepare
from tests.production.flows import (
    HttpAgent,
    Login,
    authorize,
    complete_login_pages,
    exchange_code,
    full_login,
    login_page,
    refresh,
    resume,
    submit_password,
    userinfo,
    verify_id_token,
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    with postgres_redis() as backend:
        port = free_port()
        yield prepare(
            tmp_path_factory.mktemp("cluster"),
            issuer=f"http://127.0.0.1:{port}",
            # Quick enough that the rotation test waits about a second, not five.
            IDP_KEYS_RELOAD_CHECK_SECONDS="1",
            **backend.env,
        )


@pytest.fixture(scope="module")
def nodes(deployment) -> Iterator[list[str]]:
    # The first node's address is the issuer, as a load balancer's would be.
    first = deployment.start_node(urlsplit(deployment.issuer).port)
    try:
        second = deployment.start_node(free_port())
    except BaseException:
        first.close()
        raise
    try:
        yield [first.url, second.url]
    finally:
        first.close()
        second.close()


def test_each_step_of_a_login_on_the_other_node(deployment, nodes):
    # A citizen with an authenticator app: password on one node, one-time code on the other.
    pid = generate_pid(birth_date=date(1977, 7, 7), synthetic=True)
    secret = pyotp.random_base32()
    idp(deployment.env, "users", "add", pid, "--given-name", "Tone", "--family-name", "Totp", "--password", PASSWORD)
    idp(deployment.env, "factors", "add", pid, "totp", "--secret", secret)
    a, b = nodes
    agent = HttpAgent()
    login = Login(deployment.rp)
    login_path = authorize(agent, a, login)
    resume_path = complete_login_pages(agent, itertools.cycle([b, a]), login_path, pid, PASSWORD, totp_secret=secret)
    resume(agent, b, login, resume_path)
    tokens = exchange_code(agent, a, login)
    claims = {}
    for node in nodes:  # both nodes publish the key that signed it
        jwks = requests.get(node + "/jwks", timeout=10).json()
        claims = verify_id_token(tokens["id_token"], jwks, issuer=deployment.issuer, login=login)
    assert claims["pid"] == pid
    assert claims["acr"] == "idporten-loa-substantial"
    assert "otp" in claims["amr"]
    assert userinfo(agent, b, tokens["access_token"])["sub"] == claims["sub"]
    refreshed = refresh(agent, a, login)
    assert userinfo(agent, b, refreshed["access_token"])["sub"] == claims["sub"]


def test_concurrent_logins_on_both_nodes(deployment, nodes):
    def one(i: int) -> Login:
        route = nodes if i % 2 else list(reversed(nodes))
        return full_login(HttpAgent(), route, deployment.rp, deployment.pid, PASSWORD)

    with ThreadPoolExecutor(max_workers=8) as pool:
        logins = list(pool.map(one, range(16)))
    assert len({login.code for login in logins}) == 16
    assert len({login.tokens["access_token"] for login in logins}) == 16
    for login in logins[:4]:
        assert userinfo(HttpAgent(), nodes[0], login.tokens["access_token"])["given_name"] == "Ola"


def test_a_key_rotated_on_one_node_is_served_and_used_by_both(deployment, nodes):
    before = {k["kid"] for k in requests.get(nodes[0] + "/jwks", timeout=10).json()["keys"]}
    output = idp(deployment.env, "keys", "rotate", "--kind", "RS256", "--delay", "0").stdout
    new_kid = next(kid for kid in output.split() if kid not in before and len(kid) == 43)

    deadline = time.monotonic() + 30
    seen: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        seen = {n: {k["kid"] for k in requests.get(n + "/jwks", timeout=10).json()["keys"]} for n in nodes}
        if all(new_kid in kids for kids in seen.values()):
            break
        time.sleep(0.2)
    assert all(new_kid in kids and before <= kids for kids in seen.values()), seen

    # Both nodes now sign with the new key (delay 0 makes it active at once); both
    # the workers of each node must have reloaded, so log in several times.
    for i in range(4):
        login = full_login(HttpAgent(), nodes[i % 2 :] + nodes[: i % 2], deployment.rp, deployment.pid, PASSWORD)
        assert jws.extract_compact(login.tokens["id_token"].encode()).protected["kid"] == new_kid


def test_a_node_stopped_mid_login_is_finished_by_the_other(tmp_path):
    with postgres_redis() as backend:
        port = free_port()
        deployment = prepare(tmp_path, issuer=f"http://127.0.0.1:{port}", **backend.env)
        first = deployment.start_node(port)
        second = deployment.start_node(free_port())
        try:
            agent = HttpAgent()
            login = Login(deployment.rp)
            login_path = authorize(agent, first.url, login)
            page = login_page(agent, first.url, login_path)
            first.close()
            with pytest.raises(requests.ConnectionError):
                requests.get(first.url + "/healthz", timeout=5)

            reply = submit_password(agent, second.url, login_path, page, deployment.pid, PASSWORD)
            assert reply.status == 303, reply
            resume(agent, second.url, login, reply.location)
            tokens = exchange_code(agent, second.url, login)
            assert userinfo(agent, second.url, tokens["access_token"])["given_name"] == "Ola"
        finally:
            first.close()
            second.close()
