"""The phase-out letter: every account whose only accepted second factor is being phased out is told, once.

The dates come from the policy (the factor's ``enrol_until`` and ``accept_until``).
A ward with a mandate in force in the guardianship register (a guardian-operated
account's own mandate is one) is told through their guardian(s), in the guardian
version of the letter; everyone else gets the plain version. Each letter is in its
recipient's own language: the one they last logged in with (a login session's
``locale``), else the default (``i18n.default_locale``).

What was sent is recorded (``NoticeSent``), so a re-run sends only what is
missing; every letter sent or not deliverable is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp import audit
from idp.config import Config
from idp.extensions import db
from idp.guardianship.register import DatabaseRegister, MandateRecord
from idp.mfa.gateways.letter import LetterGateway, NoAddress
from idp.models import Citizen, CitizenStatus, EnrolledFactor, LoginSession, NoticeSent
from idp.notices.pdf import Notice, render
from idp.pid import mask_pid
from idp.policy.assurance import AssurancePolicy, FactorRule

CITIZEN = "citizen"
GUARDIAN = "guardian"

# What a letter calls each second factor (plural: "... can be used until ..., then they are refused").
FACTOR_NAMES = {
    "pin": _l("PIN codes from your PIN-code letter"),
    "sms": _l("Codes by SMS"),
    "totp": _l("Codes from an authenticator app"),
    "app": _l("Approvals in the app"),
    "webauthn": _l("Passkeys and security keys"),
}


class NotPhasedOut(ValueError):
    """The factor has no ``accept_until`` (nothing is being phased out), or no letter text."""


@dataclass(frozen=True)
class Letter:
    """One letter to write: about ``account``, to ``recipient`` (the account's citizen or a guardian)."""

    account: Citizen
    recipient: Citizen
    version: str  # CITIZEN or GUARDIAN
    mandate: MandateRecord | None = None


@dataclass
class Plan:
    notice: str  # the name NoticeSent records, e.g. "factor-phase-out:pin"
    rule: FactorRule
    ways: list[str]  # the factors a letter offers instead: configured, not this one, open to new enrolments
    today: date
    to_send: list[Letter] = field(default_factory=list)
    already_sent: int = 0
    no_address: int = 0  # recipients without a registered postal address, or guardians without an account

    def add(self, letter: Letter, sent: set[tuple[int, int]]) -> None:
        """File a letter: sent already (by account and recipient), not deliverable, or to send."""
        if (letter.account.id, letter.recipient.id) in sent:
            self.already_sent += 1
        elif not _has_address(letter.recipient):
            self.no_address += 1
        else:
            self.to_send.append(letter)

    def counts(self) -> dict[str, int]:
        return {
            "citizen_letters": sum(letter.version == CITIZEN for letter in self.to_send),
            "guardian_letters": sum(letter.version == GUARDIAN for letter in self.to_send),
            "already_sent": self.already_sent,
            "no_address": self.no_address,
        }


def plan(policy: AssurancePolicy, factor: str, at: datetime) -> Plan:
    """Who is to be told that ``factor`` is being phased out, and who was told already."""
    if factor not in FACTOR_NAMES:
        raise NotPhasedOut(f"there is no letter for the factor {factor!r}")
    rule = policy.rules.get(factor)
    if rule is None or rule.accept_until is None:
        raise NotPhasedOut(f"{factor} is not being phased out (no {factor}.accept_until in the config)")
    ways = [name for name in policy.rules if name != factor and policy.enrollable(name, at)]
    result = Plan(notice=f"factor-phase-out:{factor}", rule=rule, ways=ways, today=at.date())
    accounts = _only_on(policy, factor, at)
    wards = _mandates_by_ward(at.date())
    guardian_pids = {m.guardian_pid for pid in (a.pid for a in accounts) for m in wards.get(pid, [])}
    guardians = {c.pid: c for c in db.session.scalars(sa.select(Citizen).where(Citizen.pid.in_(guardian_pids)))}
    sent = {
        (account_id, recipient_id)
        for account_id, recipient_id in db.session.execute(
            sa.select(NoticeSent.account_id, NoticeSent.recipient_id).where(NoticeSent.notice == result.notice)
        )
    }
    for account in accounts:
        mandates = _one_per_guardian(account, wards.get(account.pid, []))
        if not mandates:
            result.add(Letter(account, account, CITIZEN), sent)
        for mandate in mandates:
            if mandate.guardian_pid in guardians:
                result.add(Letter(account, guardians[mandate.guardian_pid], GUARDIAN, mandate), sent)
            else:
                result.no_address += 1  # the guardian has no account here, so no address we know
    return result


def _only_on(policy: AssurancePolicy, factor: str, at: datetime) -> list[Citizen]:
    """Usable accounts with ``factor`` enrolled and no other second factor the policy accepts now."""
    enrolled: dict[int, set[str]] = {}
    with_factor = sa.select(EnrolledFactor.citizen_id).where(EnrolledFactor.name == factor)
    for citizen_id, name in db.session.execute(
        sa.select(EnrolledFactor.citizen_id, EnrolledFactor.name).where(EnrolledFactor.citizen_id.in_(with_factor))
    ):
        enrolled.setdefault(citizen_id, set()).add(name)
    only = [
        citizen_id
        for citizen_id, names in enrolled.items()
        if not any(policy.rules[name].accepted(at) for name in names - {factor} if name in policy.rules)
    ]
    return list(
        db.session.scalars(
            sa.select(Citizen)
            .where(Citizen.id.in_(only), Citizen.status != CitizenStatus.disabled)
            .order_by(Citizen.id)
        )
    )


def _mandates_by_ward(day: date) -> dict[str, list[MandateRecord]]:
    """Mandates in force on ``day``, by ward (a guardian-operated account's own mandate is among its ward's)."""
    wards: dict[str, list[MandateRecord]] = {}
    for mandate in DatabaseRegister().all():
        if mandate.in_force(day):
            wards.setdefault(mandate.ward_pid, []).append(mandate)
    return wards


def _one_per_guardian(account: Citizen, mandates: list[MandateRecord]) -> list[MandateRecord]:
    """One letter per guardian and ward, naming the mandate the account is operated under when there is one."""
    chosen: dict[str, MandateRecord] = {}
    for mandate in sorted(mandates, key=lambda m: m.reference != account.operated_under):
        chosen.setdefault(mandate.guardian_pid, mandate)
    return list(chosen.values())


def _has_address(citizen: Citizen) -> bool:
    return bool(citizen.address and citizen.address.get("street_address"))


def compose(letter: Letter, *, locale: str, rule: FactorRule, ways: list[str], config: Config, today: date) -> Notice:
    """The letter's words in ``locale``; ``ways`` are the factors to offer instead, in order."""
    branding = config.branding
    profile = f"{config.server.issuer.rstrip('/')}/profile"
    with force_locale(locale):
        dates = [
            _(
                "%(factor)s can be used when you log in up to and including %(date)s. From then on they are refused.",
                factor=str(FACTOR_NAMES[rule.name]),
                date=format_date(rule.accept_until - timedelta(days=1), format="long"),
            )
        ]
        if rule.enrol_until:
            dates.append(
                _("No new ones are issued from %(date)s on.", date=format_date(rule.enrol_until, format="long"))
            )
        dates.append(_("They are being phased out because they do not meet the security requirements for an eID."))
        if letter.version == GUARDIAN:
            title, before, listed, after = _guardian_words(letter.mandate, dates, ways, profile)
        else:
            title, before, listed, after = _citizen_words(dates, ways, profile)
        after.append(
            _(
                "Questions? Contact %(name)s by e-mail at %(email)s or by phone at %(phone)s.",
                name=branding.name,
                email=branding.support_email,
                phone=branding.support_phone,
            )
        )
        return Notice(
            recipient=letter.recipient.name,
            address=letter.recipient.address["formatted"],
            dated=format_date(today, format="long"),
            title=title,
            before=tuple(before),
            ways=tuple(listed),
            after=tuple(after),
            closing=(_("Kind regards"), branding.name),
        )


Words = tuple[str, list[str], list[str], list[str]]  # title, paragraphs before the list, the list, paragraphs after


def _citizen_words(dates: list[str], ways: list[str], profile: str) -> Words:
    texts = {
        "sms": _(
            'Code by SMS: log in at %(url)s, choose "Set up a code by SMS" and enter your mobile number.', url=profile
        ),
        "totp": _(
            "An authenticator app: log in at %(url)s, choose the authenticator app and scan the code.", url=profile
        ),
        "app": _(
            "The app: install it on your phone, log in at %(url)s, choose the app and scan the activation code "
            "with the phone.",
            url=profile,
        ),
        "webauthn": _("A passkey: log in at %(url)s and add a passkey under Passkeys.", url=profile),
    }
    before = [*dates, _("To keep logging in, set up one of these in Min profil before then:")]
    return _("You need a new way to log in"), before, [texts[name] for name in ways if name in texts], []


def _guardian_words(mandate: MandateRecord, dates: list[str], ways: list[str], profile: str) -> Words:
    """The seed letter's guardian version: the same dates, SMS to the guardian's own phone (the app is personal)."""
    ward = mandate.ward_name
    before = [
        _(
            "You are registered as guardian of %(name)s under guardianship mandate %(reference)s.",
            name=ward,
            reference=mandate.reference,
        ),
        *dates,
        _("Set up a code by SMS to your own mobile phone on %(name)s's account:", name=ward),
    ]
    listed = (
        [_('Log in at %(url)s, choose "Set up a code by SMS" and enter your mobile number.', url=profile)]
        if "sms" in ways
        else []
    )
    after = [
        _(
            "You do not need to send in the guardianship mandate again: it is registered. "
            "The app, authenticator apps and passkeys are personal and cannot be used for someone else."
        )
    ]
    return _("To guardians: %(name)s needs a new way to log in", name=ward), before, listed, after


def language_of(citizen: Citizen, config: Config) -> str:
    """The language ``citizen`` last logged in with, if it is still one of ours; else the default."""
    last = db.session.scalar(
        sa.select(LoginSession.locale)
        .where(LoginSession.citizen_id == citizen.id, LoginSession.locale.is_not(None))
        .order_by(LoginSession.auth_time.desc(), LoginSession.id.desc())
        .limit(1)
    )
    return last if last in config.i18n.locales else config.i18n.default_locale


def send(plan: Plan, gateway: LetterGateway, config: Config) -> int:
    """Send every planned letter, each recorded and audited in its own transaction; how many went."""
    if not (config.branding.support_email and config.branding.support_phone):
        raise NotPhasedOut("the letters name user support: set branding.support_email and branding.support_phone")
    sent = 0
    for letter in plan.to_send:
        locale = language_of(letter.recipient, config)
        notice = compose(letter, locale=locale, rule=plan.rule, ways=plan.ways, config=config, today=plan.today)
        row = NoticeSent(
            notice=plan.notice,
            account_id=letter.account.id,
            recipient_id=letter.recipient.id,
            version=letter.version,
            locale=locale,
            letter="",
        )
        detail = {
            "notice": plan.notice,
            "version": letter.version,
            "account": mask_pid(letter.account.pid),
            "locale": locale,
        }
        if letter.mandate is not None:
            detail["mandate"] = letter.mandate.reference
        db.session.add(row)
        try:
            # Flushed first: a run started beside this one that got here before it fails here, not after posting.
            db.session.flush()
        except sa.exc.IntegrityError:
            db.session.rollback()
            continue
        try:
            path = gateway.send(citizen=letter.recipient, kind="notice", body=notice.text(), pdf=render(notice))
        except NoAddress:
            db.session.rollback()
            audit.record("notice.sent", outcome="failure", citizen=letter.recipient, reason="no_address", **detail)
            db.session.commit()
            continue
        row.letter = path.name if path is not None else ""
        audit.record("notice.sent", outcome="success", citizen=letter.recipient, **detail)
        db.session.commit()
        sent += 1
    return sent
