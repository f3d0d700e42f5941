"""`make run`'s demo has a guardian with a ward of each kind, tried as the README says, in a real Chromium.

The first demo citizen is the guardian: she logs in with her ward Ragnhild's own account (the code
by SMS comes to her own phone), and at the demo service she acts for her ward Henrik (RFC 9396).
"""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from demo_rp.app import create_rp
from idp.demo import CITIZENS
from tests.e2e.test_browser_login import page  # noqa: F401 - the Chromium fixture
from tests.e2e.test_demo_rp import _claims, _log_in
from tests.live import LiveServer, base_env, free_port, idp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo-guardians")
    env = base_env(data)
    rp_url = f"http://127.0.0.1:{free_port()}"
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    loaded = json.loads(idp(env, "demo", "--rp-url", rp_url, "--json").stdout)
    server = LiveServer(env)
    rp = create_rp(
        issuer=server.url,
        client_id=loaded["client"]["client_id"],
        client_secret=loaded["client"]["client_secret"],
        scope="openid profile pid",
    )
    rp_server = make_server("127.0.0.1", int(rp_url.rsplit(":", 1)[1]), rp, threaded=True)
    threading.Thread(target=rp_server.serve_forever, daemon=True).start()
    yield {"env": env, "rp_url": rp_url, "loaded": loaded}
    rp_server.shutdown()
    server.close()


def citizen(demo, person: dict) -> dict:
    return {**person, "password": person.get("password", demo["loaded"]["citizens"][0]["password"]),
            "sms_outbox": demo["loaded"]["sms"]["outbox"]}  # fmt: skip


def test_running_the_demo_again_changes_nothing(demo):
    again = json.loads(idp(demo["env"], "demo", "--rp-url", demo["rp_url"], "--json").stdout)
    assert again["guardianship"] == demo["loaded"]["guardianship"]
    listed = json.loads(idp(demo["env"], "guardians", "list", "--json").stdout)
    assert sorted(m["reference"] for m in listed) == ["VM-DEMO-1", "VM-DEMO-2"]


def test_the_guardian_logs_in_with_the_operated_wards_account(demo, page):  # noqa: F811
    guardianship = demo["loaded"]["guardianship"]
    ward = citizen(demo, guardianship["operated"])
    page.goto(demo["rp_url"])
    page.click("#login")
    _log_in(page, ward)
    page.wait_for_url(demo["rp_url"] + "/")
    assert _claims(page)["id_token"]["pid"] == ward["pid"]  # the tokens are the ward's
    with open(ward["sms_outbox"], encoding="utf-8") as outbox:
        sent_to = json.loads(outbox.read().splitlines()[-1])["to"]
    assert sent_to == CITIZENS[0][4]  # the code came to the guardian's own phone (the first demo citizen's)


def test_the_guardian_acts_for_the_represented_ward_at_the_demo_service(demo, page):  # noqa: F811
    guardianship = demo["loaded"]["guardianship"]
    guardian = citizen(demo, demo["loaded"]["citizens"][0])
    assert guardian["pid"] == guardianship["guardian"]["pid"]
    page.goto(demo["rp_url"])
    page.click("#login-for-ward")
    _log_in(page, guardian)
    page.wait_for_url("**/login/represent**")
    page.get_by_label(guardianship["represented"]["name"]).check()
    page.locator("main form button.primary").click()
    page.wait_for_url(demo["rp_url"] + "/")
    claims = _claims(page)["id_token"]
    assert claims["pid"] == guardian["pid"]  # sub and pid stay the guardian's
    [detail] = claims["authorization_details"]
    assert detail["type"] == "idporten:fullmakt"
    assert detail["authorizer"]["name"] == guardianship["represented"]["name"]
    assert detail["authorized_representative"]["pid"] == guardian["pid"]
