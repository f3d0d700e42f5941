"""A live provider with a population register, and a citizen's browser without JavaScript, over real HTTP."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa

from idp.pid import generate_pid
from tests.live import LiveServer, base_env, idp

REDIRECT = "http://127.0.0.1:9/callback"
PASSWORD = "blå-hvalross-synger-jazz"
SUBSTANTIAL = "idporten-loa-substantial"


@dataclass
class Provider:
    live: LiveServer
    env: dict[str, str]
    data: Path
    people: list[str]  # pids in the population register, none with an account

    @property
    def url(self) -> str:
        return self.live.url

    def sms(self) -> list[dict]:
        path = self.data / "sms.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    def last_code(self) -> str:
        return re.search(r"\b([0-9]{5})\b", self.sms()[-1]["text"]).group(1)

    def letters(self) -> list[str]:
        folder = self.data / "letters"
        return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))] if folder.exists() else []

    def restart(self) -> None:
        self.live.close()
        self.live = LiveServer(self.env)

    def audit(self, event: str) -> list[tuple[str, str | None]]:
        engine = sa.create_engine(self.env["IDP_DATABASE_URL"], poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT outcome, pid_masked FROM audit_event WHERE event = :e ORDER BY id"), {"e": event}
                )
                return [(row.outcome, row.pid_masked) for row in rows]
        finally:
            engine.dispose()


def start_provider(tmp_path: Path, backend_env: dict[str, str], **extra: str) -> Provider:
    env = base_env(
        tmp_path,
        IDP_SMS_GATEWAY="file",
        IDP_SMS_OUTBOX=str(tmp_path / "sms.jsonl"),
        IDP_LETTERS_OUTBOX=str(tmp_path / "letters"),
        # Ordered accounts are tested as MinID runs: every login needs the second factor.
        IDP_ASSURANCE_PASSWORD_ONLY="false",
        **backend_env,
        **extra,
    )
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    people = [generate_pid(birth_date=date(1980 + i, 4, 2), synthetic=True) for i in range(3)]
    register = tmp_path / "register.csv"
    register.write_text(
        "pid,given_name,family_name,street_address,postal_code,locality,country\n"
        + "".join(f"{pid},Åse{i},Ødegård,Storgata {i},0155,Oslo,NO\n" for i, pid in enumerate(people)),
        encoding="utf-8",
    )
    idp(env, "citizens", "import", str(register))
    idp(
        env,
        "clients",
        "add",
        "--name",
        "Skatt",
        "--redirect-uri",
        REDIRECT,
        "--client-id",
        "skatt",
        "--client-secret",
        "skatt-secret-0123456789abcdef",
    )
    return Provider(LiveServer(env), env, tmp_path, people)


def browser(language: str = "en") -> requests.Session:
    """A citizen's browser without JavaScript, asking for pages in ``language``."""
    http = requests.Session()
    http.headers["Accept-Language"] = language
    return http


def field(html: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1))


def post(http: requests.Session, page: requests.Response, action: str, **data: str) -> requests.Response:
    """Submit a form of ``page`` as a browser does, following the redirect to the GET page."""
    return http.post(action, data={"csrf_token": field(page.text, "csrf_token"), **data})


def order(provider: Provider, http: requests.Session, pid: str, *, password: str = PASSWORD, **fields: str):
    """The order form submitted; returns the page it leads to."""
    page = http.get(provider.url + "/order")
    data = {"pid": pid, "password": password, "repeat": password, "phone": "912 34 567", "email": "", "terms": "y"}
    data.update(fields)
    return post(http, page, provider.url + "/order", **data)


def confirm_phone(provider: Provider, http: requests.Session, page: requests.Response, code: str | None = None):
    return post(http, page, provider.url + "/order/phone", code=code or provider.last_code())


def login(provider: Provider, http: requests.Session, pid: str, password: str = PASSWORD, *, acr: str = SUBSTANTIAL):
    """authorize at ``acr`` and give the password; returns the page after the password."""
    page = http.get(
        provider.url + "/authorize",
        params={
            "response_type": "code",
            "client_id": "skatt",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "s",
            "nonce": "n",
            "acr_values": acr,
        },
    )
    return post(http, page, provider.url + "/login", tx=field(page.text, "tx"), pid=pid, password=password)


def finish_with_sms(provider: Provider, http: requests.Session, step: requests.Response) -> dict:
    """Give the SMS code on the login's factor page; returns the ID token's claims."""
    tx = field(step.text, "tx")
    back = http.post(
        step.url,
        data={"csrf_token": field(step.text, "csrf_token"), "tx": tx, "code": provider.last_code()},
        allow_redirects=False,
    )
    while back.status_code in (302, 303) and not back.headers["Location"].startswith(REDIRECT):
        back = http.get(requests.compat.urljoin(provider.url, back.headers["Location"]), allow_redirects=False)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    tokens = requests.post(  # noqa: S113 - a live test server on loopback
        provider.url + "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=("skatt", "skatt-secret-0123456789abcdef"),
    ).json()
    return id_token_claims(tokens["id_token"])


def id_token_claims(id_token: str) -> dict:
    """The claims, unverified: the signature is the protocol tests' concern."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
