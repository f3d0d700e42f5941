"""One live provider for the conformance modules, with the clients the test plans need."""

from __future__ import annotations

import json
from datetime import date

import pytest
from joserfc.jwk import RSAKey

from idp.pid import generate_pid
from tests.conformance.receiver import Receiver
from tests.conformance.suite import RP, Provider
from tests.live import LiveServer, base_env, idp

PASSWORD = "riktig-passord-42"
REDIRECT_URI = "https://rp.example/cb"
INITIAL_ACCESS_TOKEN = "initial-access-token-for-tests"


def _add_citizen(env: dict[str, str], pid: str, given: str) -> None:
    idp(
        env,
        "users",
        "add",
        pid,
        "--given-name",
        given,
        "--family-name",
        "Nordmann",
        "--email",
        f"{given.lower()}@example.org",
        "--phone",
        "+4791234567",
        "--street-address",
        "Storgata 1",
        "--postal-code",
        "0155",
        "--locality",
        "Oslo",
        "--password",
        PASSWORD,
    )


def _add_client(
    env: dict[str, str], client_id: str, *args: str, auth: str = "client_secret_basic", key: RSAKey | None = None
) -> RP:
    out = idp(
        env,
        "clients",
        "add",
        "--json",
        "--name",
        f"Test {client_id}",
        "--client-id",
        client_id,
        "--redirect-uri",
        REDIRECT_URI,
        "--auth-method",
        auth,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile email phone address pid offline_access",
        *args,
    )
    return RP(client_id, json.loads(out.stdout).get("client_secret"), REDIRECT_URI, auth, key)


@pytest.fixture(scope="session")
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def provider(tmp_path_factory, receiver) -> Provider:
    data = tmp_path_factory.mktemp("conformance")
    env = base_env(data, IDP_REGISTRATION_ENABLED="true", IDP_REGISTRATION_INITIAL_ACCESS_TOKEN=INITIAL_ACCESS_TOKEN)
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    pid = generate_pid(birth_date=date(1990, 5, 17), synthetic=True)
    other = generate_pid(birth_date=date(1985, 1, 2), synthetic=True)
    _add_citizen(env, pid, "Kari")
    _add_citizen(env, other, "Ola")
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "use": "sig", "alg": "RS256"})
    jwks_file = data / "rp-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    clients = {
        "basic": _add_client(env, "basic", "--post-logout-redirect-uri", "https://rp.example/logged-out"),
        "post": _add_client(env, "post", auth="client_secret_post"),
        "public": _add_client(env, "public", auth="none"),
        "pkjwt": _add_client(
            env,
            "pkjwt",
            "--jwks",
            str(jwks_file),
            "--request-uri",
            receiver.url + "/request/unsigned",
            "--request-uri",
            receiver.url + "/request/signed",
            auth="private_key_jwt",
            key=key,
        ),
        "backchannel": _add_client(
            env,
            "backchannel",
            "--post-logout-redirect-uri",
            "https://rp.example/logged-out",
            "--backchannel-logout-uri",
            receiver.url + "/backchannel",
        ),
        "slow": _add_client(
            env,
            "slow",
            "--post-logout-redirect-uri",
            "https://rp.example/logged-out",
            "--backchannel-logout-uri",
            receiver.url + "/slow-backchannel",
        ),
        "frontchannel": _add_client(
            env,
            "frontchannel",
            "--post-logout-redirect-uri",
            "https://rp.example/logged-out",
            "--frontchannel-logout-uri",
            "https://rp.example/frontchannel?from=op",
        ),
        "par": _add_client(env, "par", "--require-par"),
    }
    server = LiveServer(env)
    yield Provider(
        url=server.url, env=env, pid=pid, password=PASSWORD, clients=clients, receiver=receiver, other_pid=other
    )
    server.close()
