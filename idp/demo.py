"""Demo data for `make run`: synthetic citizens and the demo relying party.

The numbers are synthetic test numbers (month + 80), so they can never be a
real person's; the config must allow them (`citizens.allow_synthetic_pids`).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from idp.extensions import db
from idp.mfa import app as app_factor
from idp.mfa.enrolment import enrol, enrolment, set_preferred
from idp.mfa.password import hash_password
from idp.models import Citizen, Client
from idp.models.oauth import digest
from idp.pid import generate_pid
from idp.population import EmbeddedRegister, Person, import_people

DEMO_PASSWORD = "demo-passord-1"  # noqa: S105 - published demo credential for synthetic citizens
DEMO_APP_PASSPHRASE = "demo-app-pin"  # noqa: S105 - unlocks the demo device key (var/demo-app-key.json)
DEMO_CLIENT_ID = "demo-rp"
DEMO_CLIENT_SECRET = "demo-rp-secret-not-for-production"  # noqa: S105 - the demo RP's published secret

CITIZENS = [
    # given, family, birth date, email, phone, street, postal code, locality
    ("Kari", "Nordmann", date(1985, 3, 14), "kari@example.org", "+4791234567", "Storgata 1", "0155", "Oslo"),
    ("Ola", "Nordmann", date(1979, 11, 2), "ola@example.org", "+4792345678", "Bryggen 5", "5003", "Bergen"),
    ("Aisha", "Hansen", date(2001, 6, 30), "aisha@example.org", "+4793456789", "Nygata 12", "7011", "Trondheim"),
]


# People in the population register without an account yet: they order one at /order.
UNORDERED = [
    # given, family, birth date, street, postal code, locality
    ("Nora", "Berg", date(1992, 8, 21), "Kirkegata 3", "9008", "Tromsø"),
    ("Jonas", "Lie", date(1968, 1, 9), "Fjellveien 7", "4006", "Stavanger"),
]


def demo_pids() -> list[str]:
    """The citizens' numbers, the same on every run (derived from their birth dates)."""
    return _pids([born for _, _, born, *_ in CITIZENS], first_seed=0)


def _pids(birth_dates: list[date], *, first_seed: int) -> list[str]:
    import random

    return [
        generate_pid(birth_date=born, synthetic=True, rng=random.Random(first_seed + i))
        for i, born in enumerate(birth_dates)
    ]


def _register(pids: list[str]) -> list[dict]:
    """Everyone in the demo in the population register (new entries only); those who may order an account."""
    people = [
        Person(pid, given, family, street, postal, locality, "NO")
        for pid, (given, family, _born, _email, _phone, street, postal, locality) in zip(pids, CITIZENS, strict=True)
    ]
    unordered_pids = _pids([born for _, _, born, *_ in UNORDERED], first_seed=len(CITIZENS))
    people += [
        Person(pid, given, family, street, postal, locality, "NO")
        for pid, (given, family, _born, street, postal, locality) in zip(unordered_pids, UNORDERED, strict=True)
    ]
    register = EmbeddedRegister()
    missing = [person for person in people if register.find(person.pid) is None]
    if missing:
        import_people(missing, source="demo")
    return [
        {"pid": pid, "name": f"{given} {family}"}
        for pid, (given, family, *_) in zip(unordered_pids, UNORDERED, strict=True)
    ]


# A guardian's two kinds of ward (the first demo citizen is the guardian): given, family, birth date, mandate.
OPERATED_WARD = ("Ragnhild", "Dahl", date(1931, 5, 8), "VM-DEMO-1")  # her own account, operated by the guardian
REPRESENTED_WARD = ("Henrik", "Dahl", date(1934, 9, 17), "VM-DEMO-2")  # no account: represented at a service
DEMO_ROLES = ("helse",)


def _guardianship(client: Client, *, guardian: Citizen) -> dict:
    """``guardian``'s two wards: one whose own account the guardian operates (SMS to the guardian's phone), one
    the guardian represents at the demo service (RFC 9396 authorization_details, which the client may ask for)."""
    from idp.guardianship import operated
    from idp.guardianship.register import DatabaseRegister, MandateRecord

    config = current_app.config["IDP"]
    first_seed = len(CITIZENS) + len(UNORDERED)
    wards = (OPERATED_WARD, REPRESENTED_WARD)
    pids = _pids([born for _, _, born, _ in wards], first_seed=first_seed)
    register = DatabaseRegister()
    mandates = [
        MandateRecord(
            reference=reference,
            guardian_pid=guardian.pid,
            ward_pid=pid,
            ward_name=f"{given} {family}",
            roles=DEMO_ROLES,
            valid_from=date(2020, 1, 1),
        )
        for pid, (given, family, _born, reference) in zip(pids, wards, strict=True)
    ]
    register.add_all([mandate for mandate in mandates if register.find(mandate.reference) is None])
    given, family, _born, reference = OPERATED_WARD
    ward = db.session.scalar(sa.select(Citizen).filter_by(pid=pids[0]))
    if ward is None:
        ward = Citizen(
            pid=pids[0],
            given_name=given,
            family_name=family,
            street_address="Storgata 1",
            postal_code="0155",
            locality="Oslo",
            country="NO",
            password_hash=hash_password(current_app.extensions["idp.hasher"], DEMO_PASSWORD),
        )
        db.session.add(ward)
        db.session.flush()
    if ward.operated_under != reference:
        operated.start(ward, mandates[0], phone=guardian.phone, by="demo")
    kind = config.representation.authorization_details_type
    client.extra_metadata = {**(client.extra_metadata or {}), "authorization_details_types": [kind]}
    return {
        "guardian": {"pid": guardian.pid, "name": guardian.name},
        "operated": {"pid": ward.pid, "name": ward.name, "password": DEMO_PASSWORD, "mandate": reference},
        "represented": {"name": mandates[1].ward_name, "mandate": mandates[1].reference, "roles": list(DEMO_ROLES)},
    }


def _enrol_app_device(citizen: Citizen, key_file: Path) -> dict:
    """The device of an idp-app key file, enrolled in the app for ``citizen`` and offered first; its key file."""
    document = json.loads(key_file.read_text(encoding="utf-8"))
    key = app_factor.device_key(document["public_jwk"])
    if app_factor.find_device(key.thumbprint()) is None:
        app_factor.enrol_device(citizen, key, document["name"], None)
    set_preferred(citizen, "app")
    return {"pid": citizen.pid, "key_file": str(key_file), "passphrase": DEMO_APP_PASSPHRASE}


def load_demo_data(*, rp_url: str, app_key: Path | None = None) -> dict:
    """Create what is missing and return the credentials to print; running it twice changes nothing.

    ``app_key``: an idp-app key file (made by the reference app's own code, see demo_rp/run.py),
    whose device the third citizen gets in the app.
    """
    if not current_app.config["IDP"].citizens.allow_synthetic_pids:
        raise ValueError("demo citizens have synthetic numbers: set citizens.allow_synthetic_pids = true")
    hasher = current_app.extensions["idp.hasher"]
    config = current_app.config["IDP"]
    people = []
    for pid, (given, family, _born, email, phone, street, postal, locality) in zip(demo_pids(), CITIZENS, strict=True):
        citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=pid))
        if citizen is None:
            citizen = Citizen(
                pid=pid,
                given_name=given,
                family_name=family,
                email=email,
                email_verified=True,
                phone=phone,
                phone_verified=True,
                street_address=street,
                postal_code=postal,
                locality=locality,
                country="NO",
                password_hash=hash_password(hasher, DEMO_PASSWORD),
            )
            db.session.add(citizen)
            db.session.flush()
        # Every login needs a second factor (assurance.password_only = false): codes by SMS to the demo phones.
        if "sms" in config.assurance.factors and enrolment(citizen, "sms") is None:
            enrol(citizen, "sms", phone=phone)
        people.append({"pid": pid, "name": f"{given} {family}", "password": DEMO_PASSWORD})
    app = None
    if app_key is not None and "app" in config.assurance.factors:
        app = _enrol_app_device(db.session.scalar(sa.select(Citizen).filter_by(pid=people[-1]["pid"])), app_key)
    may_order = _register(demo_pids())
    redirect_uri = rp_url.rstrip("/") + "/callback"
    client = db.session.scalar(sa.select(Client).filter_by(client_id=DEMO_CLIENT_ID))
    if client is None:
        client = Client(client_id=DEMO_CLIENT_ID, name="Demotjenesten")
        db.session.add(client)
    client.client_secret_hash = digest(DEMO_CLIENT_SECRET)
    client.redirect_uris = [redirect_uri]
    client.post_logout_redirect_uris = [rp_url.rstrip("/") + "/"]
    client.backchannel_logout_uri = rp_url.rstrip("/") + "/backchannel-logout"
    client.backchannel_logout_session_required = True
    client.token_endpoint_auth_method = "client_secret_basic"
    client.grant_types = ["authorization_code", "refresh_token"]
    client.scope = "openid profile email phone address pid offline_access"
    guardianship = _guardianship(client, guardian=db.session.scalar(sa.select(Citizen).filter_by(pid=people[0]["pid"])))
    db.session.commit()
    return {
        "citizens": people,
        "app": app,
        "may_order": may_order,
        "guardianship": guardianship,
        "client": {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "redirect_uri": redirect_uri},
        "sms": {"gateway": config.sms.gateway, "outbox": str(config.path(config.sms.outbox))},
        "letters": {"gateway": config.letters.gateway, "outbox": str(config.path(config.letters.outbox))},
    }
