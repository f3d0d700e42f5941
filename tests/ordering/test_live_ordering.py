"""Issue 11 end to end against a live server on both backends: order → SMS → letter → activate → substantial."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.live import idp
from tests.ordering.live import (
    PASSWORD,
    SUBSTANTIAL,
    browser,
    confirm_phone,
    finish_with_sms,
    login,
    order,
    post,
    start_provider,
)


@pytest.fixture
def provider(tmp_path, backend):
    provider = start_provider(tmp_path, backend.env)
    yield provider
    provider.live.close()


def letter_code(letter: str) -> str:
    return re.search(r"\b([0-9]{4}-[0-9]{4}-[0-9]{4})\b", letter).group(1)


def test_order_letter_activate_then_substantial(provider):
    pid = provider.people[0]
    http = browser()
    phone_page = order(provider, http, pid)
    assert phone_page.url.endswith("/order/phone"), phone_page.text
    assert provider.sms()[-1]["to"] == "+4791234567"
    ordered = confirm_phone(provider, http, phone_page)
    assert ordered.url.endswith("/order/ordered")
    assert "What is missing" in ordered.text
    [letter] = provider.letters()
    assert "Åse0 Ødegård\nStorgata 0\n0155 Oslo" in letter  # the register's name and address, not the citizen's
    assert pid not in letter

    # Before the letter is used the account stops at low: a substantial service is refused.
    unmet = login(provider, browser(), pid)
    assert unmet.status_code == 403

    activate_page = http.get(provider.url + "/order/activate")
    wrong = post(
        http, activate_page, provider.url + "/order/activate", pid=pid, password=PASSWORD, code="0000-0000-0000"
    )
    assert wrong.url.endswith("/order/activate") and "activation code is wrong" in wrong.text
    done = post(http, wrong, provider.url + "/order/activate", pid=pid, password=PASSWORD, code=letter_code(letter))
    assert done.url.endswith("/order/activated"), done.text

    citizen = browser()
    step = login(provider, citizen, pid)
    assert "/login/step" in step.url, step.text
    assert finish_with_sms(provider, citizen, step)["acr"] == SUBSTANTIAL
    assert [outcome for outcome, _ in provider.audit("order.account")] == ["code_sent", "success"]
    assert [outcome for outcome, _ in provider.audit("account.activated")] == ["success"]
    assert all(masked == pid[:6] + "*****" for _, masked in provider.audit("order.account"))
    # The cron job leaves an activated account alone.
    assert idp(provider.env, "accounts", "expire").stdout == "expired 0 account(s)\n"


def test_a_number_with_an_account_gets_the_same_pages_and_a_letter_saying_so(provider):
    pid, stranger = provider.people[1], "ukjent"
    first = browser()
    confirm_phone(provider, first, order(provider, first, pid))
    assert len(provider.letters()) == 1

    again = browser()
    phone_page = order(provider, again, pid, password="en-helt-annen-lang-frase-her", phone="+46 70 123 45 67")
    assert phone_page.url.endswith("/order/phone")
    ordered = confirm_phone(provider, again, phone_page)
    assert ordered.url.endswith("/order/ordered")
    assert "Your order is received" in ordered.text
    warning = provider.letters()[-1]
    assert "someone ordered a new account" in warning and stranger not in warning
    # The first order's password stands: the second orderer has no account to log in to.
    assert "/login/step" in login(provider, browser(), pid, acr="idporten-loa-low").url
    refused = login(provider, browser(), pid, "en-helt-annen-lang-frase-her")
    assert "/login?tx=" in refused.url and refused.status_code == 400  # back on the password page
    assert [outcome for outcome, _ in provider.audit("order.account")][-1] == "account_exists"


def test_forgotten_password_with_sms_totp_and_a_letter(provider):
    pid = provider.people[2]
    http = browser()
    confirm_phone(provider, http, order(provider, http, pid))
    code = letter_code(provider.letters()[-1])
    page = http.get(provider.url + "/order/activate")
    post(http, page, provider.url + "/order/activate", pid=pid, password=PASSWORD, code=code)

    def forgot(method: str, new: str, proof) -> None:
        citizen = browser()
        page = citizen.get(provider.url + "/forgot")
        choices = post(citizen, page, provider.url + "/forgot", pid=pid)
        code_page = post(citizen, choices, provider.url + "/forgot/method", method=method)
        if method == "letter":
            assert code_page.url.endswith("/forgot/letter")
            code_page = citizen.get(provider.url + "/forgot/letter/use")
            done = post(
                citizen, code_page, provider.url + "/forgot/letter/use", pid=pid, code=proof(), password=new, repeat=new
            )
        else:
            password_page = post(citizen, code_page, provider.url + "/forgot/code", code=proof())
            assert password_page.url.endswith("/forgot/password"), password_page.text
            done = post(citizen, password_page, provider.url + "/forgot/password", password=new, repeat=new)
        assert done.url.endswith("/forgot/done"), done.text
        assert "/login/step" in login(provider, browser(), pid, new).url

    forgot("sms", "første-nye-passord-på-fjellet", provider.last_code)
    secret = pyotp.random_base32()
    idp(provider.env, "factors", "add", pid, "totp", "--secret", secret)
    # On SQLite a server's writes after an `idp` command ran beside it are lost (seen on main too,
    # reported to the coordinator); a fresh server sidesteps it here.
    provider.restart()
    forgot("totp", "andre-nye-passord-ved-sjøen", lambda: pyotp.TOTP(secret).now())
    forgot("letter", "tredje-nye-passord-i-skogen", lambda: letter_code(provider.letters()[-1]))
    assert [outcome for outcome, _ in provider.audit("forgot.password")] == ["success"] * 3
    assert "password of your account was changed" in provider.sms()[-1]["text"]
