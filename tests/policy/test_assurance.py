"""The assurance policy on its own: levels per factor, acceptance dates, amr profiles, requirements."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from idp.config import Config, ConfigError, load_config
from idp.policy.assurance import AssurancePolicy
from idp.policy.levels import Levels
from idp.policy.requirement import Requirement, essential_acr_values, requirement_for

LOW, SUBSTANTIAL, HIGH = Levels().order
PWD = ["pwd"]
SMS = {"rfc8176": ["sms"], "idporten": ["Minid-OTC"]}
PIN = {"rfc8176": ["pin"], "idporten": ["Minid-PIN"]}


def policy(**sections) -> AssurancePolicy:
    config = Config()
    for name, values in sections.items():
        config = dataclasses.replace(config, **{name: dataclasses.replace(getattr(config, name), **values)})
    return AssurancePolicy(config, Levels(config.assurance.levels))


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T00:00:00+00:00")


def test_levels_reached_by_each_factor():
    rules = policy()
    assert rules.reached([]) == LOW
    assert rules.reached(["pin"]) == LOW  # PIN codes never meet substantial
    assert rules.reached(["sms"]) == SUBSTANTIAL
    assert rules.reached(["totp"]) == SUBSTANTIAL


def test_pin_dates_default_to_minids():
    rules = policy()
    pin = rules.rules["pin"]
    assert pin.enrollable(at("2022-09-30")) and not pin.enrollable(at("2022-10-01"))
    assert pin.accepted(at("2022-12-31")) and not pin.accepted(at("2023-01-01"))
    assert rules.usable(["pin", "sms"], Requirement(LOW), at("2022-12-31")) == ["sms", "pin"]
    assert rules.usable(["pin", "sms"], Requirement(LOW), at("2023-01-01")) == ["sms"]
    assert rules.usable(["pin"], Requirement(SUBSTANTIAL), at("2022-06-01")) == []
    assert rules.phased_out(["pin", "sms"], at("2023-01-01")) == ["pin"]


def test_accept_from_and_notice():
    rules = policy(totp={"accept_from": "2030-01-01"})
    assert rules.usable(["totp"], Requirement(LOW), at("2029-12-31")) == []
    assert rules.usable(["totp"], Requirement(LOW), at("2030-01-01")) == ["totp"]
    assert policy().phase_out_notice("pin", at("2022-06-01")).isoformat() == "2023-01-01"
    assert policy().phase_out_notice("pin", at("2023-06-01")) is None
    assert policy().phase_out_notice("sms", at("2022-06-01")) is None


def test_amr_profiles():
    assert policy().combine_amr(PWD, [SMS]) == ["pwd", "sms", "mfa"]
    assert policy().combine_amr(PWD, []) == ["pwd"]
    idporten = policy(assurance={"amr_profile": "idporten"})
    assert idporten.combine_amr(PWD, [SMS]) == ["Minid-OTC"]
    assert idporten.combine_amr(PWD, [PIN]) == ["Minid-PIN"]


def test_bad_config_is_refused():
    with pytest.raises(ConfigError, match="amr_profile"):
        policy(assurance={"amr_profile": "saml"})
    with pytest.raises(ConfigError, match="sms.level"):
        policy(sms={"level": "very-high"})
    with pytest.raises(ConfigError, match="pin.accept_until"):
        policy(pin={"accept_until": "1 Jan 2023"})
    with pytest.raises(ConfigError, match="no config section"):
        policy(assurance={"factors": ("carrier-pigeon",)})


def test_config_from_environment(tmp_path):
    config = load_config(
        tmp_path / "absent.toml", environ={"IDP_PIN_ACCEPT_UNTIL": "2024-01-01", "IDP_ASSURANCE_FACTORS": "sms,totp"}
    )
    assert config.pin.accept_until == "2024-01-01"
    assert config.assurance.factors == ("sms", "totp")
    assert AssurancePolicy(config, Levels()).rules.keys() == {"sms", "totp"}


def test_requirement_takes_the_stricter_of_acr_values_and_essential_acr():
    levels = Levels()
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [SUBSTANTIAL]}}})
    assert requirement_for(levels=levels, highest=HIGH, acr_values=None, max_age=None, prompt=None).min_acr == LOW
    assert (
        requirement_for(levels=levels, highest=HIGH, acr_values=LOW, max_age=None, prompt=None, claims=claims).min_acr
        == SUBSTANTIAL
    )
    assert (
        requirement_for(levels=levels, highest=HIGH, acr_values=HIGH, max_age=None, prompt=None, claims=claims).min_acr
        == HIGH
    )
    # acr_values is a minimum: the lowest requested value counts (ID-porten).
    assert requirement_for(
        levels=levels, highest=HIGH, acr_values=f"{HIGH} {SUBSTANTIAL}", max_age=None, prompt=None
    ).min_acr == (SUBSTANTIAL)


def test_essential_acr_parsing():
    assert essential_acr_values('{"id_token": {"acr": {"essential": true, "value": "x"}}}') == ["x"]
    assert essential_acr_values('{"id_token": {"acr": {"values": ["x"]}}}') == []  # voluntary: a hint only
    assert essential_acr_values("not json") == []
    assert essential_acr_values('["a"]') == []
    assert essential_acr_values(None) == []


def test_dates_are_utc_days():
    rules = policy()
    assert rules.rules["pin"].accepted(datetime(2022, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not rules.rules["pin"].accepted(datetime(2023, 1, 1, 0, 0, 0, tzinfo=UTC))


def test_reachable_levels_are_those_up_to_the_highest_a_factor_not_retired_reaches():
    assert policy().reachable(at("2026-01-01")) == (LOW, SUBSTANTIAL)
    strong = policy(totp={"level": HIGH})
    assert strong.reachable(at("2026-01-01")) == (LOW, SUBSTANTIAL, HIGH)
    retired = policy(totp={"level": HIGH, "accept_until": "2025-06-01"})
    assert retired.highest_reachable(at("2025-05-31")) == HIGH
    assert retired.highest_reachable(at("2025-06-01")) == SUBSTANTIAL
    assert policy(assurance={"factors": ("pin",)}).reachable(at("2026-01-01")) == (LOW,)
    # A factor accepted only from a later day still counts.
    assert policy(totp={"level": HIGH, "accept_from": "2030-01-01"}).highest_reachable(at("2026-01-01")) == HIGH


def test_voluntary_acr_values_are_capped_at_the_highest_reachable_level_and_essential_ones_not():
    levels = Levels()
    essential = json.dumps({"id_token": {"acr": {"essential": True, "value": HIGH}}})
    assert requirement_for(levels=levels, highest=SUBSTANTIAL, acr_values=HIGH, max_age=None, prompt=None).min_acr == (
        SUBSTANTIAL
    )
    assert (
        requirement_for(
            levels=levels, highest=SUBSTANTIAL, acr_values=None, max_age=None, prompt=None, claims=essential
        ).min_acr
        == HIGH
    )


WEBAUTHN = {"rfc8176": ["hwk", "user"], "idporten": ["Minid-WEBAUTHN"]}


def test_a_passkey_alone_only_where_config_allows():
    assert not policy().may_be_alone("webauthn", at("2026-12-01"))  # passwordless is off by default
    assert policy().reached_alone("webauthn", Requirement(LOW), at("2026-12-01"), activated=True) is None
    rules = policy(webauthn={"passwordless": True, "passwordless_level": SUBSTANTIAL})
    now = at("2026-12-01")
    assert rules.may_be_alone("webauthn", now) and not rules.may_be_alone("sms", now)
    assert rules.reached_alone("webauthn", Requirement(SUBSTANTIAL), now, activated=True) == SUBSTANTIAL
    assert rules.reached_alone("webauthn", Requirement(HIGH), now, activated=True) is None
    # An ordered account not yet activated stays at its ceiling, with a passkey as with a password.
    assert rules.reached_alone("webauthn", Requirement(LOW), now, activated=False) == LOW
    assert rules.reached_alone("webauthn", Requirement(SUBSTANTIAL), now, activated=False) is None
    # A retired factor is no whole login either.
    retired = policy(webauthn={"passwordless": True, "accept_until": "2026-01-01"})
    assert not retired.may_be_alone("webauthn", now)


def test_passwordless_level_must_be_a_level():
    with pytest.raises(ConfigError, match="webauthn.passwordless_level"):
        policy(webauthn={"passwordless": True, "passwordless_level": "gold"})


def test_amr_of_a_passkey():
    rfc, idporten = policy(), policy(assurance={"amr_profile": "idporten"})
    # As the second factor, and alone: a passkey with user verification is two methods on its own.
    assert rfc.combine_amr(PWD, [WEBAUTHN]) == ["pwd", "hwk", "user", "mfa"]
    assert rfc.combine_amr([], [WEBAUTHN]) == ["hwk", "user", "mfa"]
    assert idporten.combine_amr([], [WEBAUTHN]) == ["Minid-WEBAUTHN"]
    assert policy(webauthn={"passwordless": True, "passwordless_level": HIGH}).reachable(at("2026-12-01"))[-1] == HIGH
