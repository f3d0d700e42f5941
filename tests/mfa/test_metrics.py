"""The audit-derived metrics (logins by factor, codes sent, throttles), read from /metrics, on each backend."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from idp.extensions import db
from idp.mfa.enrolment import enrol
from tests.conftest import make_config
from tests.mfa.flows import finish, password_step, submit_code, tx_of


@pytest.fixture
def config(tmp_path, env, backend):
    return make_config(tmp_path, **env, **backend.env)


def _scrape(client) -> dict[tuple[str, frozenset], float]:
    page = client.get("/metrics")
    assert page.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page.get_data(as_text=True))
        for sample in family.samples
    }


def _delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_code_sent_counts_as_a_code_and_the_factor_that_used_it_as_a_login(app, citizen, rp, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    before = _scrape(client)
    tx = tx_of(password_step(client, citizen).location)
    client.get(f"/login/step?tx={tx}")
    finish(client, submit_code(client, tx, outbox.last_code()))
    after = _scrape(client)

    assert _delta(before, after, "idp_codes_sent_total", factor="sms", result="success") == 1
    assert _delta(before, after, "idp_logins_total", factor="password", result="success") == 1
    assert _delta(before, after, "idp_logins_total", factor="sms", result="success") == 1
    assert not any(labels & {("factor", "code_sent"), ("factor", "factor")} for _name, labels in after)


def test_a_throttle_is_counted_once_when_it_begins(app, citizen, rp, clock, outbox):
    enrol(citizen, "sms", phone="+4791234567")
    db.session.commit()
    client = app.test_client()
    before = _scrape(client)
    statuses = []
    for wait in (0, 0, 0, 0, 61, 121):  # free failures, then growing waits
        clock.advance(seconds=wait)
        statuses.append(password_step(client, citizen, password="wrong-password").status_code)
    assert statuses == [400, 400, 400, 429, 429, 429]
    after = _scrape(client)

    assert _delta(before, after, "idp_lockouts_total", scope="account_network", stage="delayed") == 1
    assert _delta(before, after, "idp_lockouts_total", scope="account", stage="delayed") == 0
    assert _delta(before, after, "idp_logins_total", factor="password", result="failure") == 6
