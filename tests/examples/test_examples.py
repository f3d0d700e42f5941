"""The integration guide's examples (examples/python, examples/js), run as written against a live provider.

The provider is configured as in production: every login needs the password
and a second factor (demo citizens get their codes by SMS into the file
outbox), so the examples' acr_values=idporten-loa-substantial is met by a
real two-factor login. Each example prints its authorization URL, this test
plays the citizen in a browser without JavaScript (requests), pastes the
address the browser is sent back to, and reads the verified claims.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.conformance.browserless import parse
from tests.live import LiveServer, base_env, idp
from tests.services import service_unavailable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REDIRECT_URI = "http://127.0.0.1:8000/callback"  # where the demo client's browser would go; nothing listens


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("examples")
    env = base_env(data, IDP_ASSURANCE_PASSWORD_ONLY="false")
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    loaded = json.loads(idp(env, "demo", "--rp-url", "http://127.0.0.1:8000", "--json").stdout)
    assert loaded["client"]["redirect_uri"] == REDIRECT_URI
    server = LiveServer(env)
    yield server, loaded
    server.close()


def _sms_code(outbox: str) -> str:
    with open(outbox, encoding="utf-8") as messages:
        text = json.loads(messages.read().splitlines()[-1])["text"]
    return re.search(r"\b\d{5}\b", text).group(0)


def _citizen_logs_in(authorization_url: str, citizen: dict, outbox: str) -> str:
    """Password, then the SMS code, as the hosted pages ask; returns the address the browser is sent back to."""
    browser = requests.Session()
    start = browser.get(authorization_url, allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    page_url = urljoin(authorization_url, start.headers["Location"])
    page = browser.get(page_url, timeout=10)
    form = next(f for f in parse(page.text).forms if "password" in f["fields"])
    posted = browser.post(
        urljoin(page_url, form["action"]),
        data=dict(form["fields"], pid=citizen["pid"], password=citizen["password"]),
        allow_redirects=False,
        timeout=10,
    )
    step_url = urljoin(page_url, posted.headers["Location"])
    step = browser.get(step_url, timeout=10)
    form = next(f for f in parse(step.text).forms if "code" in f["fields"])
    answered = browser.post(
        urljoin(step_url, form["action"]),
        data=dict(form["fields"], code=_sms_code(outbox)),
        allow_redirects=False,
        timeout=10,
    )
    assert answered.status_code == 303, answered.text  # redirect after POST
    resumed = browser.get(urljoin(step_url, answered.headers["Location"]), allow_redirects=False, timeout=10)
    assert resumed.status_code == 302, resumed.text
    return resumed.headers["Location"]


def _run(command: list[str], live, *, cwd: Path) -> dict:
    server, loaded = live
    env = {
        "PATH": "/usr/bin:/bin",
        "IDP_ISSUER": server.url,
        "CLIENT_ID": loaded["client"]["client_id"],
        "CLIENT_SECRET": loaded["client"]["client_secret"],
        "REDIRECT_URI": REDIRECT_URI,
    }
    example = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = example.stdout.readline()
        assert first, example.stderr.read()
        callback = _citizen_logs_in(
            json.loads(first)["authorization_url"], loaded["citizens"][0], loaded["sms"]["outbox"]
        )
        assert callback.startswith(REDIRECT_URI)
        out, err = example.communicate(callback + "\n", timeout=60)
    finally:
        if example.poll() is None:
            example.kill()
    assert example.returncode == 0, err + out
    return json.loads(out)


def _check(result: dict, live) -> None:
    server, loaded = live
    citizen = loaded["citizens"][0]
    claims, userinfo = result["claims"], result["userinfo"]
    assert claims["iss"] == server.url
    assert claims["aud"] == loaded["client"]["client_id"]
    assert claims["acr"] == "idporten-loa-substantial"
    assert claims["pid"] == citizen["pid"]
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["name"] == citizen["name"]
    assert set(result["scope"].split()) == {"openid", "profile", "pid"}


def test_the_python_example_logs_in_and_verifies_the_id_token(live):
    _check(_run([sys.executable, "login.py"], live, cwd=EXAMPLES / "python"), live)


def test_the_javascript_example_logs_in_and_verifies_the_id_token(live):
    if shutil.which("node") is None or shutil.which("npm") is None:
        service_unavailable("Node.js", "node and npm are needed for the JavaScript example")
    here = EXAMPLES / "js"
    if not (here / "node_modules" / "openid-client").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=here, capture_output=True, text=True, timeout=300
        )
        if installed.returncode != 0:
            service_unavailable("npm registry", installed.stderr.strip()[-300:])
    _check(_run(["node", "login.mjs"], live, cwd=here), live)
