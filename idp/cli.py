"""The ``idp`` command: database, keys, citizens, clients, serving, demo data.

Every command prints one readable line and exits non-zero on bad input;
``--json`` on add/show/list gives output for scripts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup
from flask_migrate import upgrade as migrate_upgrade

from idp.clock import now
from idp.config import ConfigError, load_config
from idp.extensions import db
from idp.mfa.password import hash_password
from idp.models import Citizen, CitizenStatus, Client
from idp.oidc import clients
from idp.oidc import keys as signing_keys
from idp.oidc.discovery import ID_TOKEN_ALGS
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS
from idp.pid import InvalidPid, mask_pid, parse_pid


def _make_app() -> Flask:
    from idp.app import create_app

    # Key commands run before any key exists, so the app starts without loading them.
    return create_app(load_keys=False)


class Failure(click.ClickException):
    """A mistake the user can fix, reported as one line."""


class IdpGroup(FlaskGroup):
    def main(self, *args, **kwargs):
        """Report every usage error and failure as one line ``idp: ...`` and a non-zero exit."""
        kwargs.pop("standalone_mode", None)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("idp: aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"idp: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (ConfigError, signing_keys.KeysError) as exc:  # raised while the app is built
            click.echo(f"idp: {exc}", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _friendly(command: Callable) -> Callable:
    """Turn the errors a user can cause into one line instead of a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ConfigError, InvalidPid, signing_keys.KeysError, ValueError) as exc:
            raise Failure(str(exc)) from None
        except sa.exc.OperationalError as exc:
            raise Failure(f"database error: {exc.orig}") from None

    return wrapper


def _emit(data: object, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False) if as_json else text)


@click.group(cls=IdpGroup, create_app=_make_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """idp: an OpenID Connect identity provider."""


# ---------------------------------------------------------------- database
@main.group()
def db_group() -> None:
    """Database schema."""


main.add_command(db_group, "db")


@db_group.command("upgrade")
@_friendly
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    _ensure_sqlite_dir()
    migrate_upgrade()
    click.echo("database is up to date")


def _ensure_sqlite_dir() -> None:
    url = sa.engine.make_url(db.engine.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        os.makedirs(os.path.dirname(url.database) or ".", exist_ok=True)


# ---------------------------------------------------------------- keys
@main.group("keys")
def keys_group() -> None:
    """The provider's signing keys."""


@keys_group.command("init")
@_friendly
def keys_init() -> None:
    """Create one signing key per configured kind if none exists."""
    config = load_config()
    created = signing_keys.init(config.keys_dir, kinds=config.keys.kinds, now=now(), rsa_bits=config.keys.rsa_bits)
    click.echo(
        f"created {len(created)} key(s) in {config.keys_dir}" if created else f"keys already exist in {config.keys_dir}"
    )


@keys_group.command("rotate")
@click.option("--kind", type=click.Choice(["RS256", "ES256"]), required=True, help="Which key family to rotate.")
@click.option("--delay", type=int, default=None, help="Seconds before the new key signs (default from config).")
@_friendly
def keys_rotate(kind: str, delay: int | None) -> None:
    """Publish a new key now; sign with it after the delay; keep the old one published until its tokens expire."""
    config = load_config()
    delay = config.keys.rotation_delay_seconds if delay is None else delay
    longest = max(config.tokens.id_token_seconds, config.tokens.access_token_seconds)
    info = signing_keys.rotate(
        config.keys_dir,
        kind=kind,
        now=now(),
        activate_after=timedelta(seconds=delay),
        retain_for=timedelta(seconds=longest),
        rsa_bits=config.keys.rsa_bits,
    )
    click.echo(f"new {kind} key {info.kid} published; it signs from {info.active_from.isoformat()}")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def keys_list(as_json: bool) -> None:
    """Every key with its state: pending, active, retired or expired."""
    config = load_config()
    rows = signing_keys.list_keys(config.keys_dir, now=now())
    text = "\n".join(f"{r['kid']}  {r['kind']:5}  {r['state']:8}  active from {r['active_from']}" for r in rows)
    _emit(rows, as_json, text or "no keys")


# ---------------------------------------------------------------- citizens
@main.group("users")
def users_group() -> None:
    """Citizens."""


def _citizen(raw_pid: str) -> Citizen:
    pid = parse_pid(raw_pid, allow_synthetic=True)
    citizen = db.session.scalar(sa.select(Citizen).filter_by(pid=pid))
    if citizen is None:
        raise Failure(f"no citizen with number {mask_pid(pid)}")
    return citizen


def _citizen_json(citizen: Citizen) -> dict:
    return {
        "pid": citizen.pid,
        "given_name": citizen.given_name,
        "family_name": citizen.family_name,
        "email": citizen.email,
        "phone": citizen.phone,
        "address": citizen.address,
        "status": citizen.status.value,
        "created_at": citizen.created_at.isoformat(),
    }


def _read_password(password: str | None) -> str:
    from flask import current_app

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    minimum = current_app.config["IDP"].passwords.min_length
    if len(password) < minimum:
        raise Failure(f"the password must have at least {minimum} characters")
    return password


@users_group.command("add")
@click.argument("pid")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--email")
@click.option("--phone", help="Mobile number, E.164 (+4791234567).")
@click.option("--street-address")
@click.option("--postal-code")
@click.option("--locality")
@click.option("--country", default="NO", show_default=True)
@click.option(
    "--password",
    help="Omit to be asked (safer: not kept in shell history). Or set IDP_NEW_PASSWORD.",
    envvar="IDP_NEW_PASSWORD",
)
@click.option("--json", "as_json", is_flag=True)
@_friendly
def users_add(
    pid, given_name, family_name, email, phone, street_address, postal_code, locality, country, password, as_json
) -> None:
    """Add a citizen."""
    from flask import current_app

    config = current_app.config["IDP"]
    pid = parse_pid(pid, allow_synthetic=config.citizens.allow_synthetic_pids)
    if db.session.scalar(sa.select(Citizen).filter_by(pid=pid)) is not None:
        raise Failure(f"a citizen with number {mask_pid(pid)} exists already")
    citizen = Citizen(
        pid=pid,
        given_name=given_name,
        family_name=family_name,
        email=email,
        phone=phone,
        street_address=street_address,
        postal_code=postal_code,
        locality=locality,
        country=country,
        password_hash=hash_password(current_app.extensions["idp.hasher"], _read_password(password)),
    )
    db.session.add(citizen)
    db.session.commit()
    _emit(_citizen_json(citizen), as_json, f"added {citizen.name} ({mask_pid(pid)})")


@users_group.command("show")
@click.argument("pid")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def users_show(pid: str, as_json: bool) -> None:
    """Show one citizen."""
    citizen = _citizen(pid)
    data = _citizen_json(citizen)
    _emit(data, as_json, "\n".join(f"{k}: {v}" for k, v in data.items()))


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def users_list(as_json: bool) -> None:
    """List citizens."""
    citizens = db.session.scalars(sa.select(Citizen).order_by(Citizen.family_name, Citizen.given_name)).all()
    text = "\n".join(f"{c.pid}  {c.status.value:8}  {c.name}" for c in citizens)
    _emit([_citizen_json(c) for c in citizens], as_json, text or "no citizens")


@users_group.command("set-password")
@click.argument("pid")
@click.option("--password", envvar="IDP_NEW_PASSWORD", help="Omit to be asked. Or set IDP_NEW_PASSWORD.")
@_friendly
def users_set_password(pid: str, password: str | None) -> None:
    """Set a citizen's password."""
    from flask import current_app

    citizen = _citizen(pid)
    citizen.password_hash = hash_password(current_app.extensions["idp.hasher"], _read_password(password))
    db.session.commit()
    click.echo(f"password set for {mask_pid(citizen.pid)}")


@users_group.command("disable")
@click.argument("pid")
@_friendly
def users_disable(pid: str) -> None:
    """Disable a citizen: no new logins, existing sessions end."""
    citizen = _citizen(pid)
    citizen.status = CitizenStatus.disabled
    db.session.commit()
    click.echo(f"disabled {mask_pid(citizen.pid)}")


@users_group.command("lock")
@click.argument("pid")
@_friendly
def users_lock(pid: str) -> None:
    """Lock an account until `idp users unlock`: support's decision; failed attempts only slow an account down."""
    from idp import audit

    citizen = _citizen(pid)
    if citizen.status == CitizenStatus.disabled:
        raise Failure(f"{mask_pid(citizen.pid)} is disabled")
    was = citizen.status
    citizen.status = CitizenStatus.locked
    audit.record("account.locked", outcome="success", citizen=citizen, by="cli")
    db.session.commit()
    click.echo(
        f"{mask_pid(citizen.pid)} was already locked"
        if was == CitizenStatus.locked
        else f"locked {mask_pid(citizen.pid)}"
    )


@users_group.command("unlock")
@click.argument("pid")
@_friendly
def users_unlock(pid: str) -> None:
    """Lift support's lock; also forgets the account's failed attempts over all networks."""
    from flask import current_app

    from idp import audit

    citizen = _citizen(pid)
    if citizen.status == CitizenStatus.disabled:
        raise Failure(f"{mask_pid(citizen.pid)} is disabled, not locked")
    current_app.extensions["idp.limits"].forget(citizen.pid)
    was = citizen.status
    citizen.status = CitizenStatus.active
    audit.record("account.unlocked", outcome="success", citizen=citizen, by="cli")
    db.session.commit()
    click.echo(
        f"unlocked {mask_pid(citizen.pid)}"
        if was == CitizenStatus.locked
        else f"{mask_pid(citizen.pid)} was not locked; its failure count is cleared"
    )


# ---------------------------------------------------------------- population register
@main.group("citizens")
def citizens_group() -> None:
    """The population register: the people the provider may serve, with name and postal address."""


@citizens_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_friendly
def citizens_import(file: Path) -> None:
    """Load people from a CSV or JSON file: all of it, or nothing when a row is wrong."""
    from flask import current_app

    from idp.population import import_people, read_people

    people = read_people(file, allow_synthetic=current_app.config["IDP"].citizens.allow_synthetic_pids)
    result = import_people(people, source=file.name)
    click.echo(f"imported {len(people)} people: {result.added} added, {result.updated} updated")


# ---------------------------------------------------------------- factors
@main.group("factors")
def factors_group() -> None:
    """Citizens' second factors (SMS, TOTP, PIN letters)."""


def _factor(name: str):
    from flask import current_app

    factor = current_app.extensions["idp.chain"].factors.get(name)
    if factor is None:
        raise Failure(f"no factor {name!r} is configured (assurance.factors)")
    return factor


@factors_group.command("list")
@click.argument("pid")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def factors_list(pid: str, as_json: bool) -> None:
    """List a citizen's enrolled factors."""
    from flask import current_app

    from idp.mfa.enrolment import enrolments

    citizen = _citizen(pid)
    policy = current_app.extensions["idp.policy"]
    data = [
        {
            "name": row.name,
            "phone": row.phone,
            "preferred": row.preferred,
            "unused_pin_codes": sum(1 for code in row.pin_codes if code.used_at is None) if row.name == "pin" else None,
            "accepted_now": row.name in policy.rules and policy.rules[row.name].accepted(now()),
            "created_at": row.created_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        }
        for row in enrolments(citizen)
    ]
    text = "\n".join(
        f"{d['name']:6} {d['phone'] or ''} {'preferred ' if d['preferred'] else ''}"
        f"{'' if d['accepted_now'] else '(no longer accepted)'}".rstrip()
        for d in data
    )
    _emit(data, as_json, text or "no factors")


@factors_group.command("add")
@click.argument("pid")
@click.argument("name", type=click.Choice(["sms", "totp"]))
@click.option("--phone", help="For sms: the mobile number (E.164, or 8 digits for Norway).")
@click.option("--secret", help="For totp: a base32 secret (default: a new random one).")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def factors_add(pid: str, name: str, phone: str | None, secret: str | None, as_json: bool) -> None:
    """Enrol SMS or TOTP for a citizen (support and tests; citizens use their profile)."""
    import base64
    import binascii

    from flask import current_app

    from idp import audit

    citizen = _citizen(pid)
    factor = _factor(name)
    if not current_app.extensions["idp.policy"].enrollable(name, now()):
        raise Failure(f"{name} accepts no new enrolments (see [{name}] enrol_until)")
    data: dict[str, object] = {"name": name}
    if name == "sms":
        from idp.mfa.enrolment import enrol
        from idp.mfa.sms import normalise_phone

        if not phone:
            raise Failure("sms needs --phone")
        number = normalise_phone(phone)
        enrol(citizen, "sms", phone=number)
        data["phone"] = number
    else:
        secret = (secret or factor.new_secret()).upper().replace(" ", "")
        try:
            base64.b32decode(secret + "=" * (-len(secret) % 8))
        except binascii.Error:
            raise Failure("--secret must be base32") from None
        factor.enrol(citizen, secret)
        data.update(secret=secret, otpauth_uri=factor.provisioning_uri(citizen, secret))
    audit.record("factor.added", outcome="success", citizen=citizen, factor=name, by="cli")
    db.session.commit()
    text = f"enrolled {name} for {mask_pid(citizen.pid)}"
    if name == "totp":
        text += f"\nsecret: {data['secret']}\n{data['otpauth_uri']}"
    _emit(data, as_json, text)


@factors_group.command("remove")
@click.argument("pid")
@click.argument("name")
@_friendly
def factors_remove(pid: str, name: str) -> None:
    """Remove one of a citizen's factors."""
    from flask import current_app

    from idp import audit
    from idp.mfa.enrolment import enrolment, remove

    citizen = _citizen(pid)
    if enrolment(citizen, name) is None:
        raise Failure(f"{mask_pid(citizen.pid)} has no {name} factor")
    factor = current_app.extensions["idp.chain"].factors.get(name)
    # Through the factor where it is configured: what it keeps beside the row (devices, passkeys) goes too.
    factor.remove(citizen) if factor is not None else remove(citizen, name)
    audit.record("factor.removed", outcome="success", citizen=citizen, factor=name, by="cli")
    db.session.commit()
    click.echo(f"removed {name} from {mask_pid(citizen.pid)}")


@main.group("pins")
def pins_group() -> None:
    """Legacy PIN-code letters."""


@pins_group.command("issue")
@click.argument("pid")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def pins_issue(pid: str, as_json: bool) -> None:
    """Issue a new PIN-code letter (replacing the old one) to the citizen's registered address."""
    from flask import current_app

    from idp import audit
    from idp.mfa.gateways.letter import NoAddress

    citizen = _citizen(pid)
    factor = _factor("pin")
    if not current_app.extensions["idp.policy"].enrollable("pin", now()):
        raise Failure(f"no new PIN letters are issued (pin.enrol_until = {current_app.config['IDP'].pin.enrol_until})")
    _row, codes = factor.issue_letter(citizen)
    body = "PIN codes / PIN-koder\n\n" + "\n".join(f"{number:>3}  {code}" for number, code in codes)
    try:
        path = current_app.extensions["idp.letters"].send(citizen=citizen, kind="pin", body=body)
    except NoAddress as exc:
        db.session.rollback()
        raise Failure(str(exc)) from None
    audit.record("pin.issued", outcome="success", citizen=citizen, codes=len(codes))
    db.session.commit()
    _emit({"letter": str(path), "codes": len(codes)}, as_json, f"PIN letter with {len(codes)} codes: {path}")


# ---------------------------------------------------------------- clients
@main.group("clients")
def clients_group() -> None:
    """Relying parties (OAuth clients)."""


def _client_json(client: Client) -> dict:
    return {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type,
        "jwks_uri": client.jwks_uri,
        "has_jwks": client.jwks is not None,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "request_uris": client.request_uris,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "sector_identifier_uri": client.sector_identifier_uri,
        "authorization_details_types": (client.extra_metadata or {}).get("authorization_details_types", []),
    }


def _client(client_id: str) -> Client:
    try:
        return clients.find(client_id)
    except clients.ClientNotFound:
        raise Failure(f"no client {client_id}") from None


def _metadata_options(command: Callable) -> Callable:
    """The client metadata options ``add`` and ``update`` share; an option not given changes nothing."""
    options = [
        click.option("--name", help="Shown to citizens on the login page."),
        click.option("--redirect-uri", "redirect_uris", multiple=True, help="https, or http on loopback."),
        click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True),
        click.option(
            "--auth-method",
            type=click.Choice(TOKEN_ENDPOINT_AUTH_METHODS),
            help="Token endpoint authentication (default client_secret_basic); 'none' for public clients (PKCE).",
        ),
        click.option(
            "--grant-type",
            "grant_types",
            multiple=True,
            type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
            help="Default authorization_code; client_credentials with the admin scope for the admin API.",
        ),
        click.option("--scope", help="Scopes the client may ask for (add: default 'openid profile')."),
        click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), help="Default from config (RS256)."),
        click.option("--subject-type", type=click.Choice(["pairwise", "public"]), help="Default from config."),
        click.option("--jwks", "jwks_file", type=click.File("r"), help="JSON file with the client's public keys."),
        click.option("--jwks-uri"),
        click.option("--backchannel-logout-uri", help="Receives logout tokens (OIDC Back-Channel Logout)."),
        click.option("--frontchannel-logout-uri", help="Loaded in an iframe at logout (OIDC Front-Channel Logout)."),
        click.option("--request-uri", "request_uris", multiple=True, help="A request object URI the client may send."),
        click.option(
            "--request-object-alg",
            type=click.Choice(["none", "RS256", "PS256", "ES256"]),
            help="Only accept request objects with this alg (default: any supported).",
        ),
        click.option("--require-par/--no-require-par", default=None, help="Accept only pushed authorization requests."),
        click.option("--sector-identifier-uri", help="JSON list of redirect URIs sharing one pairwise sector."),
        click.option(
            "--authorization-details-type",
            "authorization_details_types",
            multiple=True,
            help="A Rich Authorization Requests type the client may ask for (RFC 9396), such as idporten:fullmakt.",
        ),
        click.option(
            "--no-authorization-details-types",
            "no_authorization_details_types",
            is_flag=True,
            default=None,
            help="The client may ask for no authorization_details type.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Option name -> RFC 7591 metadata name.
_METADATA_NAMES = {
    "name": "client_name",
    "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
    "auth_method": "token_endpoint_auth_method",
    "grant_types": "grant_types",
    "scope": "scope",
    "id_token_alg": "id_token_signed_response_alg",
    "subject_type": "subject_type",
    "jwks_uri": "jwks_uri",
    "backchannel_logout_uri": "backchannel_logout_uri",
    "frontchannel_logout_uri": "frontchannel_logout_uri",
    "request_uris": "request_uris",
    "request_object_alg": "request_object_signing_alg",
    "require_par": "require_pushed_authorization_requests",
    "sector_identifier_uri": "sector_identifier_uri",
    "authorization_details_types": "authorization_details_types",
}


def _metadata(options: dict) -> dict:
    """The metadata the given options say (lists as lists; an option left out is left out)."""
    data = {
        _METADATA_NAMES[name]: list(value) if isinstance(value, tuple) else value
        for name, value in options.items()
        if name in _METADATA_NAMES and value not in (None, ())
    }
    if options.get("jwks_file"):
        try:
            data["jwks"] = json.load(options["jwks_file"])
        except json.JSONDecodeError as exc:
            raise Failure(f"--jwks: not JSON: {exc}") from None
    types = data.get("authorization_details_types", [])
    if types and options.get("no_authorization_details_types"):
        raise Failure("--authorization-details-type and --no-authorization-details-types contradict each other")
    supported = current_app.config["IDP"].representation.authorization_details_type
    if unknown := sorted(set(types) - {supported}):
        raise Failure(f"unknown authorization_details type {unknown[0]!r}: this provider supports {supported!r}")
    if options.get("no_authorization_details_types"):
        data["authorization_details_types"] = None  # a key set to null removes the setting
    return data


@clients_group.command("add")
@_metadata_options
@click.option("--client-id", help="Default: random.")
@click.option("--client-secret", envvar="IDP_NEW_CLIENT_SECRET", help="Default: random (printed once).")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def clients_add(client_id: str | None, client_secret: str | None, as_json: bool, **options) -> None:
    """Register a relying party. The secret is shown once; only its hash is kept."""
    if not options["name"]:
        raise Failure("--name is required")
    data = {"scope": "openid profile", **_metadata(options)}
    client, issued = clients.create(data, actor="cli", client_id=client_id, client_secret=client_secret)
    secret = issued.get("client_secret")
    text = f"client_id: {client.client_id}" + (f"\nclient_secret: {secret}  (shown once)" if secret else "")
    _emit({**_client_json(client), **issued}, as_json, text)


@clients_group.command("update")
@click.argument("client_id")
@_metadata_options
@click.option("--json", "as_json", is_flag=True)
@_friendly
def clients_update(client_id: str, as_json: bool, **options) -> None:
    """Change a relying party's registration: only the options given change."""
    client = _client(client_id)
    changes = _metadata(options)
    if not changes:
        raise Failure("nothing to change: give at least one option")
    issued = clients.update(client, changes, actor="cli")
    data = {**_client_json(client), **issued}
    _emit(data, as_json, "\n".join(f"{k}: {v}" for k, v in data.items()))


@clients_group.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--overlap",
    "overlap_seconds",
    type=int,
    default=clients.DEFAULT_OVERLAP_SECONDS,
    show_default=True,
    help="Seconds the current secret keeps working beside the new one.",
)
@click.option("--json", "as_json", is_flag=True)
@_friendly
def clients_rotate_secret(client_id: str, overlap_seconds: int, as_json: bool) -> None:
    """A new client secret, printed once; the old one works until the overlap ends."""
    secret, until = clients.rotate_secret(_client(client_id), overlap_seconds=overlap_seconds, actor="cli")
    data = {"client_id": client_id, "client_secret": secret, "previous_secret_valid_until": until.isoformat()}
    _emit(
        data,
        as_json,
        f"client_secret: {secret}  (shown once)\nthe previous secret works until {until:%Y-%m-%d %H:%M:%S} UTC",
    )


@clients_group.command("add-key")
@click.argument("client_id")
@click.argument("jwk_file", type=click.File("r"))
@_friendly
def clients_add_key(client_id: str, jwk_file) -> None:
    """Add one public key (a JWK with a kid, in a JSON file) to the client's keys."""
    try:
        jwk = json.load(jwk_file)
    except json.JSONDecodeError as exc:
        raise Failure(f"not JSON: {exc}") from None
    click.echo(f"added key {clients.add_key(_client(client_id), jwk, actor='cli')}")


@clients_group.command("remove-key")
@click.argument("client_id")
@click.argument("kid")
@_friendly
def clients_remove_key(client_id: str, kid: str) -> None:
    """Remove the client's key ``kid``."""
    try:
        clients.remove_key(_client(client_id), kid, actor="cli")
    except clients.ClientNotFound:
        raise Failure(f"client {client_id} has no key {kid}") from None
    click.echo(f"removed key {kid}")


@clients_group.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client."""
    data = _client_json(_client(client_id))
    _emit(data, as_json, "\n".join(f"{k}: {v}" for k, v in data.items()))


@clients_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def clients_list(as_json: bool) -> None:
    """List clients."""
    found = clients.all_clients()
    text = "\n".join(f"{c.client_id}  {c.token_endpoint_auth_method:20}  {c.name}" for c in found)
    _emit([_client_json(c) for c in found], as_json, text or "no clients")


@clients_group.command("remove")
@click.argument("client_id")
@_friendly
def clients_remove(client_id: str) -> None:
    """Remove a client; its tokens stop working."""
    clients.delete(_client(client_id), actor="cli")
    click.echo(f"removed {client_id}")


# ---------------------------------------------------------------- sessions
@main.group("sessions")
def sessions_group() -> None:
    """SSO login sessions."""


@sessions_group.command("end-expired")
@_friendly
def sessions_end_expired() -> None:
    """End sessions past their lifetime or idle limit and send their clients logout tokens (run from cron)."""
    from idp.oidc.logout import end_expired_sessions

    click.echo(f"ended {end_expired_sessions()} session(s)")


# ---------------------------------------------------------------- accounts
@main.group("accounts")
def accounts_group() -> None:
    """Accounts citizens ordered themselves."""


@accounts_group.command("expire")
@_friendly
def accounts_expire() -> None:
    """Close accounts ordered ordering.expire_days ago and never activated (run from cron)."""
    from idp.ordering import expire_unactivated

    click.echo(f"expired {expire_unactivated()} account(s)")


# ---------------------------------------------------------------- serving
GRACEFUL_SECONDS = 30  # a request in flight at SIGTERM gets this long to finish
HEADER_READ_MILLISECONDS = 10_000  # a client slower than this to send its headers is cut off
HTTP1_BUFFER_BYTES = 65_536  # request line and headers together; larger ones get granian's own 431
MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default; setting it also turns off its raising


@main.command("serve")
@click.option("--dev", is_flag=True, help="Flask's development server (reloader off) instead of granian.")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--workers", type=int, default=None)
@_friendly
def serve(dev: bool, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the provider."""
    from flask import current_app

    from idp.app import check_schema

    config = load_config()
    check_schema(current_app)
    host = host or config.server.host
    port = port or config.server.port
    from idp import ops

    if dev:
        from werkzeug.serving import run_simple

        from idp.app import create_app

        ops.configure_logging()
        # Not app.run(): Flask ignores it inside its own CLI.
        run_simple(host, port, create_app(config), threaded=True)
        return
    workers = workers or config.server.workers or 2 * (os.cpu_count() or 1)
    # Set before the workers import prometheus-client, so each writes its metrics to files /metrics sums.
    os.environ[ops.MULTIPROC_ENV] = ops.prepare_multiprocess_dir(config.data_dir)
    # Each Argon2id check allocates its memory cost (19 MiB) in the thread that runs it. glibc
    # serves a block that large with mmap and returns it, but after the first such free it raises
    # its mmap threshold and keeps later ones in the thread's arena: with 8 threads a worker grew
    # to 194 MiB after a run of logins. A fixed threshold stops that (118 MiB, docs/benchmarks.md).
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MALLOC_MMAP_THRESHOLD_BYTES))
    # granian: HTTP is parsed and connections are held in Rust, so slow or idle clients cost no
    # Python thread, and a request costs a third of what gunicorn's Python HTTP layer did
    # (docs/benchmarks.md). No access log of its own: it would print query strings (login hints,
    # transaction ids); idp.access lines replace it. On SIGTERM, requests in flight finish.
    os.execvp(  # noqa: S606 - replaces this process with granian, arguments are ours
        sys.executable,
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(config.server.threads),
            "--no-ws",
            "--no-access-log",
            "--respawn-failed-workers",
            "--workers-kill-timeout",
            str(GRACEFUL_SECONDS),
            "--http1-header-read-timeout",
            str(HEADER_READ_MILLISECONDS),
            "--http1-buffer-size",
            str(HTTP1_BUFFER_BYTES),
            "--log-config",
            str(ops.write_server_log_config(config.data_dir)),
            "idp.wsgi:app",
        ],
    )


@main.command("demo")
@click.option("--rp-url", default="http://127.0.0.1:5001", show_default=True, help="Where the demo relying party runs.")
@click.option(
    "--app-key",
    type=click.Path(exists=True, dir_okay=False),
    help="An idp-app key file: its device is enrolled in the app for the third demo citizen.",
)
@click.option("--json", "as_json", is_flag=True)
@_friendly
def demo(rp_url: str, app_key: str | None, as_json: bool) -> None:
    """Load demo data (synthetic citizens and the demo relying party); running it again reuses them."""
    from idp.demo import load_demo_data

    data = load_demo_data(rp_url=rp_url, app_key=Path(app_key) if app_key else None)
    _emit(data, as_json, json.dumps(data, indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- guardians
@main.group("guardians")
def guardians_group() -> None:
    """The guardianship register: mandates by which a guardian acts for a ward."""


def _register():
    from idp.guardianship.register import DatabaseRegister

    return DatabaseRegister()


def _mandate_json(record) -> dict:
    return {
        "reference": record.reference,
        "guardian_pid": record.guardian_pid,
        "ward_pid": record.ward_pid,
        "ward_name": record.ward_name,
        "roles": list(record.roles),
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat() if record.valid_to else None,
        "revoked": record.revoked,
    }


def _mandate_line(record) -> str:
    # Masked: this text is read on screens and pasted into tickets.
    until = record.valid_to.isoformat() if record.valid_to else "-"
    state = "revoked" if record.revoked else "registered"
    return (
        f"{record.reference}  {mask_pid(record.guardian_pid)} for {mask_pid(record.ward_pid)} {record.ward_name}"
        f"  {','.join(record.roles)}  {record.valid_from.isoformat()}..{until}  {state}"
    )


def _register_mandates(records: list, how: str) -> None:
    """Add the mandates and their audit events in one transaction: all of them or none."""
    from idp import audit
    from idp.guardianship.register import DuplicateReference

    try:
        _register().add_all(records)
    except DuplicateReference as exc:
        db.session.rollback()
        raise Failure(str(exc)) from None
    for record in records:
        audit.record(
            "guardianship.added",
            outcome="success",
            pid=record.guardian_pid,
            ward=mask_pid(record.ward_pid),
            reference=record.reference,
            by=how,
        )
    db.session.commit()


@guardians_group.command("add")
@click.option("--reference", required=True, help="The mandate's reference (the guardianship authority's case number).")
@click.option("--guardian", "guardian_pid", required=True, help="The guardian's national identity number.")
@click.option("--ward", "ward_pid", required=True, help="The ward's national identity number.")
@click.option("--ward-name", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="A role / area the mandate covers (repeatable).")
@click.option("--valid-from", required=True, help="YYYY-MM-DD")
@click.option("--valid-to", default=None, help="YYYY-MM-DD, inclusive (default: until revoked).")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def guardians_add(reference, guardian_pid, ward_pid, ward_name, roles, valid_from, valid_to, as_json) -> None:
    """Register one received mandate."""
    from flask import current_app

    from idp.guardianship.importing import MandateError, mandate

    values = {
        "reference": reference,
        "guardian_pid": guardian_pid,
        "ward_pid": ward_pid,
        "ward_name": ward_name,
        "roles": list(roles),
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    try:
        record = mandate(values, allow_synthetic=current_app.config["IDP"].citizens.allow_synthetic_pids)
    except MandateError as exc:
        raise Failure(str(exc)) from None
    _register_mandates([record], "cli")
    _emit(_mandate_json(record), as_json, f"registered {_mandate_line(record)}")


@guardians_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "kind", type=click.Choice(["csv", "json"]), default=None, help="Default: from the file name.")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def guardians_import(file: str, kind: str | None, as_json: bool) -> None:
    """Register every mandate of a CSV or JSON file, or none if any line is bad."""
    from flask import current_app

    from idp.guardianship.importing import MandateError, parse

    kind = kind or ("json" if file.lower().endswith(".json") else "csv")
    try:
        with open(file, encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise Failure(f"{file} is not UTF-8 text") from None
    try:
        records = parse(text, kind, allow_synthetic=current_app.config["IDP"].citizens.allow_synthetic_pids)
    except MandateError as exc:
        raise Failure(f"{file}: {exc}; nothing was registered") from None
    _register_mandates(records, f"import {kind}")
    _emit({"registered": len(records)}, as_json, f"registered {len(records)} mandate(s) from {file}")


@guardians_group.command("list")
@click.option("--guardian", "guardian_pid", default=None, help="Only this guardian's mandates.")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def guardians_list(guardian_pid: str | None, as_json: bool) -> None:
    """List registered mandates (identity numbers masked, except in --json)."""
    if guardian_pid is not None:
        guardian_pid = parse_pid(guardian_pid, allow_synthetic=True)
    records = _register().all(guardian_pid)
    _emit([_mandate_json(r) for r in records], as_json, "\n".join(map(_mandate_line, records)) or "no mandates")


@guardians_group.command("revoke")
@click.argument("reference")
@_friendly
def guardians_revoke(reference: str) -> None:
    """Revoke a mandate: from now on nobody can act under it."""
    from idp import audit

    record = _register().revoke(reference, now())
    if record is None:
        raise Failure(f"no mandate {reference}")
    audit.record(
        "guardianship.revoked",
        outcome="success",
        pid=record.guardian_pid,
        ward=mask_pid(record.ward_pid),
        reference=record.reference,
        by="cli",
    )
    db.session.commit()
    click.echo(f"revoked {_mandate_line(record)}")


@guardians_group.command("operate")
@click.argument("reference")
@click.option("--phone", required=True, help="The guardian's mobile number: the account's SMS codes go there.")
@_friendly
def guardians_operate(reference: str, phone: str) -> None:
    """Let the guardian of a mandate in force operate the ward's own account, with SMS to the guardian's phone."""
    from idp.guardianship import operated
    from idp.mfa.sms import normalise_phone

    mandate = _register().find(reference)
    if mandate is None:
        raise Failure(f"no mandate {reference}")
    if not mandate.in_force(now().date()):
        raise Failure(f"mandate {reference} is not in force")
    ward = db.session.scalar(sa.select(Citizen).filter_by(pid=mandate.ward_pid))
    if ward is None:
        raise Failure(f"the ward {mask_pid(mandate.ward_pid)} has no account; add it with idp users add")
    if ward.operated_under == reference:
        raise Failure(f"{mask_pid(ward.pid)} is operated under {reference} already")
    operated.start(ward, mandate, phone=normalise_phone(phone), by="cli")
    db.session.commit()
    click.echo(f"{mask_pid(ward.pid)} is operated by {mask_pid(mandate.guardian_pid)} under {reference}")


@guardians_group.command("release")
@click.argument("ward_pid")
@_friendly
def guardians_release(ward_pid: str) -> None:
    """End a guardian's operation of a ward's account: it is the ward's own again."""
    from idp import audit

    ward = _citizen(ward_pid)
    if ward.operated_under is None:
        raise Failure(f"{mask_pid(ward.pid)} is not operated by a guardian")
    audit.record("guardianship.released", outcome="success", citizen=ward, mandate=ward.operated_under, by="cli")
    ward.operated_under = None
    db.session.commit()
    click.echo(f"{mask_pid(ward.pid)} is no longer operated by a guardian")


# ---------------------------------------------------------------- notices
@main.group("notices")
def notices_group() -> None:
    """Letters the provider sends on its own initiative."""


@notices_group.command("factor-phase-out")
@click.option("--factor", required=True, help="The second factor being phased out (its accept_until is set).")
@click.option("--dry-run", is_flag=True, help="Only count the letters that would be sent.")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def notices_factor_phase_out(factor: str, dry_run: bool, as_json: bool) -> None:
    """Send a letter to every account whose only accepted second factor is being phased out (once each)."""
    from flask import current_app

    from idp.notices import phase_out

    planned = phase_out.plan(current_app.extensions["idp.policy"], factor, now())
    counts = planned.counts()
    if not dry_run:
        counts["sent"] = phase_out.send(planned, current_app.extensions["idp.letters"], current_app.config["IDP"])
    text = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items())
    _emit(counts, as_json, ("dry run, nothing sent; " if dry_run else "") + text)


if __name__ == "__main__":
    main()
