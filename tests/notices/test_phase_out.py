"""`idp notices factor-phase-out`: who gets which letter, once, audited, on SQLite and PostgreSQL + Redis."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import pypdfium2 as pdfium
import pytest
import sqlalchemy as sa

from idp.cli import main
from idp.extensions import db
from idp.guardianship.register import DatabaseRegister, MandateRecord
from idp.mfa.enrolment import enrol
from idp.models import AuditEvent, Citizen, CitizenStatus, LoginSession, NoticeSent
from idp.pid import generate_pid, mask_pid
from tests.conftest import FakeClock, add_citizen, make_config

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PHASE_OUT = {"IDP_PIN_ENROL_UNTIL": "2026-10-01", "IDP_PIN_ACCEPT_UNTIL": "2027-06-01"}
SUPPORT = {
    "IDP_BRANDING_NAME": "ID-støtte",
    "IDP_BRANDING_SUPPORT_EMAIL": "hjelp@id.example",
    "IDP_BRANDING_SUPPORT_PHONE": "22 00 00 00",
}


@pytest.fixture
def config(tmp_path, backend):
    return make_config(tmp_path, **backend.env, **PHASE_OUT, **SUPPORT)


@pytest.fixture
def clock():
    return FakeClock(NOW)


def person(app, born: date, name: str, *, factors=("pin",), address=True, status=CitizenStatus.active) -> Citizen:
    citizen = add_citizen(app, born=born, given_name=name)
    for factor in factors:
        if factor == "pin":
            app.extensions["idp.chain"].factors["pin"].issue_letter(citizen)
        else:
            enrol(citizen, factor, phone="+4791234567")
    if not address:
        citizen.street_address = citizen.postal_code = citizen.locality = None
    citizen.status = status
    db.session.commit()
    return citizen


def mandate(reference: str, guardian_pid: str, ward: Citizen, **dates) -> MandateRecord:
    return MandateRecord(
        reference=reference,
        guardian_pid=guardian_pid,
        ward_pid=ward.pid,
        ward_name=ward.name,
        roles=("helse",),
        valid_from=dates.get("valid_from", date(2026, 1, 1)),
        valid_to=dates.get("valid_to"),
    )


def notices(app, *args: str) -> tuple[dict, str]:
    result = app.test_cli_runner().invoke(main, ["notices", "factor-phase-out", "--factor", "pin", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else {}, result.output


def outbox(app) -> list:
    config = app.config["IDP"]
    folder = config.path(config.letters.outbox)
    return sorted(folder.glob("*-notice-*")) if folder.exists() else []


def letters(app) -> dict[str, str]:
    """Each notice's text file by the recipient's name (its first line)."""
    texts = [path.read_text(encoding="utf-8") for path in outbox(app) if path.suffix == ".txt"]
    return {text.splitlines()[0]: text for text in texts}


def sent_events() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == "notice.sent")))


def test_citizens_without_guardians_get_the_plain_letter_once(app):
    kari = person(app, date(1950, 2, 3), "Kari")
    person(app, date(1951, 2, 3), "Per", factors=("pin", "sms"))  # has a way in after the cutoff
    nils = person(app, date(1952, 2, 3), "Nils", address=False)  # a letter cannot reach him
    person(app, date(1953, 2, 3), "Siri", factors=("sms",))
    person(app, date(1954, 2, 3), "Dag", status=CitizenStatus.disabled)
    everyone = [c.pid for c in db.session.scalars(sa.select(Citizen))]

    counts, text = notices(app, "--dry-run", "--json")
    assert counts == {"citizen_letters": 1, "guardian_letters": 0, "already_sent": 0, "no_address": 1}
    assert outbox(app) == [] and sent_events() == []
    assert not any(pid in text for pid in everyone)

    counts, text = notices(app)
    assert "sent: 1" in text and not any(pid in text for pid in everyone)
    assert [path.suffix for path in outbox(app)] == [".pdf", ".txt"]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in outbox(app))  # personal details until printed
    letter = letters(app)["Kari Nordmann"]
    for words in (
        "Storgata 1\n0155 Oslo",
        "Du trenger en ny måte å logge inn på",
        "PIN-kodene fra PIN-kodebrevet ditt kan brukes ved innlogging til og med 31. mai 2027.",
        "fra og med 1. oktober 2026",
        "Kode på SMS: logg inn på http://127.0.0.1:5000/profile",
        "En autentiseringsapp",
        "Appen: installer den på telefonen din, logg inn på http://127.0.0.1:5000/profile",
        "En passnøkkel: logg inn på http://127.0.0.1:5000/profile og legg til en passnøkkel under Passnøkler.",
        "Kontakt ID-støtte på e-post hjelp@id.example eller telefon 22 00 00 00.",
    ):
        assert words in letter
    assert kari.pid not in letter
    pdf = pdfium.PdfDocument(next(path for path in outbox(app) if path.suffix == ".pdf"))
    printed = pdf[0].get_textpage().get_text_range()
    assert "Kari Nordmann" in printed and "hjelp@id.example" in printed
    pdf.close()

    [event] = sent_events()
    assert (event.outcome, event.citizen_id, event.pid_masked) == ("success", kari.id, mask_pid(kari.pid))
    assert event.detail == {
        "notice": "factor-phase-out:pin",
        "version": "citizen",
        "account": mask_pid(kari.pid),
        "locale": "nb",
    }
    row = db.session.scalar(sa.select(NoticeSent))
    assert (row.account_id, row.recipient_id, row.version) == (kari.id, kari.id, "citizen")
    assert row.letter == outbox(app)[0].name

    # Run twice: nothing is sent again, nothing more is audited.
    before = outbox(app)
    counts, _text = notices(app, "--json")
    assert counts == {"citizen_letters": 0, "guardian_letters": 0, "already_sent": 1, "no_address": 1, "sent": 0}
    assert outbox(app) == before and len(sent_events()) == 1

    # Nils gets his address registered: the next run sends his letter, and only his.
    nils.street_address, nils.postal_code, nils.locality = "Fjellveien 9", "9990", "Båtsfjord"
    db.session.commit()
    counts, _text = notices(app, "--json")
    assert (counts["sent"], counts["already_sent"]) == (1, 1)
    assert set(letters(app)) == {"Kari Nordmann", "Nils Nordmann"}


def test_wards_are_told_through_their_guardians(app):
    guardian = person(app, date(1960, 4, 5), "Gro", factors=())
    second = person(app, date(1961, 4, 5), "Geir", factors=())
    ward = person(app, date(1930, 6, 7), "Ola")
    revoked = person(app, date(1931, 6, 7), "Anne")
    expired = person(app, date(1932, 6, 7), "Arne")
    orphan = person(app, date(1933, 6, 7), "Liv")
    stranger = generate_pid(birth_date=date(1962, 4, 5), synthetic=True)  # a guardian without an account here
    register = DatabaseRegister()
    register.add_all(
        [
            mandate("VM-1", guardian.pid, ward),
            mandate("VM-1B", guardian.pid, ward, valid_from=date(2026, 6, 1)),  # one letter per guardian and ward
            mandate("VM-2", second.pid, ward, valid_to=date(2027, 1, 31)),
            mandate("VM-3", guardian.pid, revoked),
            mandate("VM-4", guardian.pid, expired, valid_to=NOW.date() - timedelta(days=1)),
            mandate("VM-5", stranger, orphan),
        ]
    )
    register.revoke("VM-3", NOW)
    ward.operated_under = "VM-1B"  # Gro logs in with Ola's own account under VM-1B: the letter names that one
    db.session.commit()

    counts, _text = notices(app, "--dry-run", "--json")
    assert counts == {"citizen_letters": 2, "guardian_letters": 2, "already_sent": 0, "no_address": 1}

    counts, text = notices(app, "--json")
    assert counts["sent"] == 4
    assert guardian.pid not in text and ward.pid not in text
    sent = letters(app)
    assert set(sent) == {"Gro Nordmann", "Geir Nordmann", "Anne Nordmann", "Arne Nordmann"}
    to_gro = sent["Gro Nordmann"]
    for words in (
        "Til verger: Ola Nordmann trenger en ny måte å logge inn på",
        "Du er registrert som verge for Ola Nordmann med vergefullmakt VM-1B.",
        "til og med 31. mai 2027",
        "Sett opp kode på SMS til din egen mobiltelefon på kontoen til Ola Nordmann:",
        "Du trenger ikke sende inn vergefullmakten på nytt",
        "Appen, autentiseringsapper og passnøkler er personlige og kan ikke brukes for andre.",
        "hjelp@id.example",
    ):
        assert words in to_gro
    assert "En autentiseringsapp:" not in to_gro  # the app is not offered to act for someone else
    assert "VM-2" in sent["Geir Nordmann"]
    assert "Til verger" not in sent["Anne Nordmann"] and "Til verger" not in sent["Arne Nordmann"]

    details = {(e.pid_masked, e.detail["version"], e.detail.get("mandate")) for e in sent_events()}
    assert (mask_pid(guardian.pid), "guardian", "VM-1B") in details
    assert (mask_pid(second.pid), "guardian", "VM-2") in details
    assert (mask_pid(revoked.pid), "citizen", None) in details
    for event in sent_events():
        assert event.detail["account"] in {mask_pid(p.pid) for p in (ward, revoked, expired)}
        assert not any(p.pid in json.dumps(event.detail) for p in (guardian, second, ward, revoked, expired))

    counts, _text = notices(app, "--json")
    assert counts == {"citizen_letters": 0, "guardian_letters": 0, "already_sent": 4, "no_address": 1, "sent": 0}
    assert len(sent_events()) == 4


@pytest.mark.parametrize(
    ("factor", "message"),
    [("sms", "sms is not being phased out"), ("nope", "there is no letter for the factor 'nope'")],
)
def test_a_factor_not_being_phased_out_is_refused_in_one_line(app, factor, message):
    result = app.test_cli_runner().invoke(main, ["notices", "factor-phase-out", "--factor", factor])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_a_letter_another_run_sent_meanwhile_or_an_address_gone_meanwhile_is_not_posted(app):
    from idp.notices import phase_out

    kari = person(app, date(1950, 2, 3), "Kari")
    nils = person(app, date(1952, 2, 3), "Nils")
    planned = phase_out.plan(app.extensions["idp.policy"], "pin", NOW)
    assert [letter.recipient.id for letter in planned.to_send] == [kari.id, nils.id]
    # Between this run's plan and its send, a run beside it sent Kari's letter, and Nils's address was removed.
    db.session.add(
        NoticeSent(
            notice=planned.notice, account_id=kari.id, recipient_id=kari.id, version="citizen", locale="nb", letter="x"
        )
    )
    nils.street_address = None
    db.session.commit()

    assert phase_out.send(planned, app.extensions["idp.letters"], app.config["IDP"]) == 0
    assert outbox(app) == []
    assert [(e.outcome, e.citizen_id, e.detail.get("reason")) for e in sent_events()] == [
        ("failure", nils.id, "no_address")
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NoticeSent)) == 1  # only the other run's row


def logged_in(citizen: Citizen, locale: str | None, when: datetime) -> None:
    """A login session of ``citizen`` whose pages were in ``locale`` (the `locale` claim's source)."""
    db.session.add(
        LoginSession(
            cookie_hash=secrets.token_hex(32),
            sid=secrets.token_urlsafe(16),
            citizen=citizen,
            auth_time=when,
            acr="idporten-loa-low",
            amr=["pwd"],
            locale=locale,
            expires_at=when + timedelta(hours=8),
        )
    )
    db.session.commit()


def printed_text(app, name: str) -> str:
    """The words of the PDF posted to ``name``, read back from the page as printed."""
    for path in outbox(app):
        if path.suffix == ".pdf":
            pdf = pdfium.PdfDocument(path)
            text = " ".join(pdf[0].get_textpage().get_text_range().split())
            pdf.close()
            if name in text:
                return text
    raise AssertionError(f"no letter to {name}")


def test_each_letter_is_in_the_language_its_recipient_last_logged_in_with(app):
    nynorsk = person(app, date(1950, 3, 4), "Ingrid")
    logged_in(nynorsk, "en", NOW - timedelta(days=90))
    logged_in(nynorsk, "nn", NOW - timedelta(days=3))  # the latest counts
    logged_in(nynorsk, None, NOW - timedelta(days=1))  # a session from before languages were kept says nothing
    english = person(app, date(1951, 3, 4), "John")
    logged_in(english, "en", NOW - timedelta(days=5))
    person(app, date(1952, 3, 4), "Bjørg")  # never logged in: the default language
    unknown = person(app, date(1953, 3, 4), "Sven")
    logged_in(unknown, "sv", NOW - timedelta(days=5))  # not one of ours (any more): the default
    guardian = person(app, date(1960, 3, 4), "Gunvor", factors=())
    logged_in(guardian, "nn", NOW - timedelta(days=2))
    ward = person(app, date(1930, 3, 4), "Oddvar")
    logged_in(ward, "en", NOW - timedelta(days=2))  # the ward's own language does not word the guardian's letter
    DatabaseRegister().add_all([mandate("VM-NN", guardian.pid, ward)])
    db.session.commit()

    counts, _text = notices(app, "--json")
    assert counts["sent"] == 5
    sent = letters(app)
    assert "Du treng ein ny måte å logge inn på" in sent["Ingrid Nordmann"]
    ingrid = printed_text(app, "Ingrid Nordmann")
    assert "Du treng ein ny måte å logge inn på" in ingrid and "31. mai 2027" in ingrid
    assert "Du trenger en ny måte" not in ingrid and "You need a new way" not in ingrid
    assert "You need a new way to log in" in printed_text(app, "John Nordmann")
    assert "Du trenger en ny måte å logge inn på" in printed_text(app, "Bjørg Nordmann")
    assert "Du trenger en ny måte å logge inn på" in printed_text(app, "Sven Nordmann")
    assert "Til verjer: Oddvar Nordmann treng ein ny måte å logge inn på" in printed_text(app, "Gunvor Nordmann")
    languages = {
        db.session.get(Citizen, e.citizen_id).given_name: (e.detail["locale"], e.detail["version"])
        for e in sent_events()
    }
    assert languages == {
        "Ingrid": ("nn", "citizen"),
        "John": ("en", "citizen"),
        "Bjørg": ("nb", "citizen"),
        "Sven": ("nb", "citizen"),
        "Gunvor": ("nn", "guardian"),
    }
    assert {row.locale for row in db.session.scalars(sa.select(NoticeSent))} == {"nn", "en", "nb"}
