"""Settings, read once from ``config.toml`` and ``IDP_*`` environment variables.

Every setting lives in a section of ``config.toml``; the environment variable
``IDP_<SECTION>_<KEY>`` overrides it (``IDP_DATABASE_URL``, ``IDP_SERVER_ISSUER``,
``IDP_PASSWORDS_TIME_COST`` ...). The file named by ``IDP_CONFIG`` is read
instead of ``./config.toml`` when set. The result is a frozen tree of
dataclasses: code receives the object, it never looks settings up ad hoc.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import tomllib
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class ServerConfig:
    issuer: str = "http://127.0.0.1:5000"
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 0  # 0: 2 × cores
    threads: int = 8  # per worker, running the app; connections are held by granian in Rust
    data_dir: str = "var"
    secret_key: str = ""  # empty: generated once into <data_dir>/secrets.json
    secure_cookies: bool = True
    trust_proxy_headers: bool = False
    # Host headers answered; empty: the issuer's host alone. A leading dot admits subdomains.
    trusted_hosts: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts requests may name: the configured ones, else the issuer's."""
        return self.trusted_hosts or (urlsplit(self.issuer).hostname or "",)

    def url(self, path: str) -> str:
        """An absolute URL of ours: from the configured issuer, never from the request's Host."""
        return self.issuer.rstrip("/") + path


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/idp.sqlite3"


@dataclass(frozen=True)
class RedisConfig:
    url: str = ""  # empty: short-lived state lives in the database
    key_prefix: str = "idp:"  # lets several deployments (or test runs) share one Redis


@dataclass(frozen=True)
class KeysConfig:
    dir: str = "keys"
    kinds: tuple[str, ...] = ("RS256", "ES256")
    rsa_bits: int = 2048
    rotation_delay_seconds: int = 3600
    reload_check_seconds: int = 5  # how often a node looks for a rotation done on another node


@dataclass(frozen=True)
class TokensConfig:
    authorization_code_seconds: int = 60
    access_token_seconds: int = 600
    id_token_seconds: int = 600
    refresh_token_seconds: int = 30 * 24 * 3600
    default_id_token_alg: str = "RS256"  # noqa: S105 - an algorithm name, not a secret


@dataclass(frozen=True)
class SubjectConfig:
    default_type: str = "pairwise"  # or "public"
    pairwise_salt: str = ""  # empty: generated once into <data_dir>/secrets.json


@dataclass(frozen=True)
class PasswordsConfig:
    # Argon2id, OWASP's second recommended set (m=19 MiB, t=2, p=1).
    time_cost: int = 2
    memory_cost_kib: int = 19456
    parallelism: int = 1
    min_length: int = 8
    # A password a citizen chooses (ordering an account, a forgotten password): at most
    # max_length characters, and at least this zxcvbn score (0-4, ~10^(2*score+2) guesses).
    max_length: int = 256
    min_strength: int = 3


@dataclass(frozen=True)
class CitizensConfig:
    allow_synthetic_pids: bool = False


@dataclass(frozen=True)
class SessionConfig:
    cookie_name: str = "idp_session"
    lifetime_seconds: int = 8 * 3600
    idle_seconds: int = 30 * 60
    login_transaction_seconds: int = 900


@dataclass(frozen=True)
class I18nConfig:
    default_locale: str = "nb"
    locales: tuple[str, ...] = ("nb", "nn", "en")
    # Times on the pages (Min profil's recent logins) are shown in this IANA time zone.
    time_zone: str = "Europe/Oslo"


@dataclass(frozen=True)
class AssuranceConfig:
    # Ordered acr values, lowest first.
    levels: tuple[str, ...] = ("idporten-loa-low", "idporten-loa-substantial", "idporten-loa-high")
    # The level the password alone reaches.
    password_level: str = "idporten-loa-low"
    # false (MinID): every login needs a second factor. true: a citizen with no
    # usable second factor may log in with the password alone when that meets the request.
    password_only: bool = False
    # amr vocabulary: "rfc8176" (pwd, sms, otp, pin, hwk, swk, user, mfa) or "idporten" (Minid-OTC,
    # Minid-TOTP, Minid-APP, Minid-WEBAUTHN, Minid-PIN).
    amr_profile: str = "rfc8176"
    # Second factors offered, in this order; each name is a module idp/mfa/<name>.py and a config section.
    factors: tuple[str, ...] = ("sms", "totp", "app", "webauthn", "pin")


@dataclass(frozen=True)
class FactorConfig:
    """What every second factor has: its level and its acceptance dates (YYYY-MM-DD, UTC; empty: none)."""

    level: str = "idporten-loa-substantial"
    enrol_until: str = ""
    accept_from: str = ""
    accept_until: str = ""


@dataclass(frozen=True)
class SmsConfig(FactorConfig):
    code_length: int = 5
    code_seconds: int = 300
    max_tries: int = 3
    # A new code for the same login at most this often, and at most max_sends per login.
    resend_seconds: int = 30
    max_sends: int = 3
    gateway: str = "file"  # console | file | http
    outbox: str = "var/sms-outbox.jsonl"
    http_url: str = ""
    http_token: str = ""
    http_timeout_seconds: int = 5
    http_retries: int = 2
    sender: str = "ID"


@dataclass(frozen=True)
class TotpConfig(FactorConfig):
    # Seals enrolled secrets in the database. Empty: derived from server.secret_key.
    encryption_key: str = ""
    issuer: str = "ID"
    digits: int = 6
    period: int = 30
    valid_window: int = 1


@dataclass(frozen=True)
class AppConfig(FactorConfig):
    # The app's push approval: a login waits this long for the citizen's answer in the app.
    approval_seconds: int = 120
    # A new request to the app for one login at most every resend_seconds, at most max_sends per login.
    resend_seconds: int = 30
    max_sends: int = 3
    # Activation codes shown in Min profil: valid this long, burned after this many wrong tries.
    activation_seconds: int = 900
    activation_max_tries: int = 5
    max_devices: int = 5
    # Signed requests from a device: iat within this many seconds of our clock; each jti used once.
    request_skew_seconds: int = 60
    # Requests per minute from one device and from one network (IPv4 address, IPv6 /64).
    device_requests_per_minute: int = 60
    network_requests_per_minute: int = 600
    # How devices are told a login waits: console | file | http | webpush.
    push_gateway: str = "file"
    push_outbox: str = "var/push-outbox.jsonl"
    push_http_url: str = ""
    push_http_token: str = ""
    push_http_timeout_seconds: int = 5
    push_http_retries: int = 2
    # Web Push (RFC 8030) with VAPID (RFC 8292): the application server's P-256 key (a PEM file) and contact.
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:admin@localhost"


@dataclass(frozen=True)
class PasswordlessConfig(FactorConfig):
    """A factor that may also be the whole login, without the password (a passkey with user verification)."""

    passwordless: bool = False
    passwordless_level: str = "idporten-loa-substantial"


@dataclass(frozen=True)
class WebauthnConfig(PasswordlessConfig):
    # A new challenge (options for the browser) is good this long, and used once.
    challenge_seconds: int = 300
    # Whether the authenticator checks the citizen (PIN, fingerprint): required | preferred | discouraged.
    # A passwordless login always requires it.
    user_verification: str = "preferred"
    # Only "none": we trust no vendor's attestation, so we ask for none (the AAGUID is still kept).
    attestation: str = "none"


@dataclass(frozen=True)
class PinConfig(FactorConfig):
    level: str = "idporten-loa-low"
    enrol_until: str = "2022-10-01"
    accept_until: str = "2023-01-01"
    codes_per_letter: int = 25
    code_length: int = 5


@dataclass(frozen=True)
class LettersConfig:
    gateway: str = "file"  # file (an outbox folder; a print service reads it)
    outbox: str = "var/letters"
    activation_days: int = 60


@dataclass(frozen=True)
class LimitsConfig:
    # Every check of a secret (password, code, PIN, activation code) counts; config.toml says why
    # these numbers. Without a known device: per account and network the first free_failures
    # failures cost nothing, per account over all networks the first account_free_failures; each
    # later one adds delay_step_seconds of wait, at most max_delay_seconds. A scope with
    # max_failures failures refuses attempts until they are forgotten, failure_reset_seconds after
    # the first (or at a complete login). Failures never lock an account.
    free_failures: int = 3
    account_free_failures: int = 10
    delay_step_seconds: int = 60
    max_delay_seconds: int = 900
    max_failures: int = 100
    failure_reset_seconds: int = 24 * 3600
    # A browser that completed a login on an account is a known device for it this long.
    device_days: int = 400
    # Per network (an IPv4 address, an IPv6 /64) within window_seconds: failures on all accounts,
    # and one-time codes really sent (no SMS pumping); codes sent per account in the same window.
    window_seconds: int = 600
    ip_failures: int = 50
    ip_codes_sent: int = 60
    account_codes_sent: int = 10
    # Orders of an account or of a letter without logging in: per network within window_seconds,
    # and per national identity number within account_orders_seconds (whoever orders it).
    ip_orders: int = 10
    account_orders: int = 3
    account_orders_seconds: int = 24 * 3600


@dataclass(frozen=True)
class EmailConfig:
    # Confirming an e-mail address a citizen gave: console (development), file (a JSON lines
    # outbox), smtp. A confirmation link is valid confirm_hours.
    gateway: str = "file"
    outbox: str = "var/email-outbox.jsonl"
    sender: str = "ID <no-reply@localhost>"
    confirm_hours: int = 72
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: int = 10


@dataclass(frozen=True)
class OrderingConfig:
    # An account a citizen ordered reaches at most this level until its activation letter is used.
    unactivated_level: str = "idporten-loa-low"
    # What the pages say about when the letter should arrive (working days of the post).
    letter_arrival_days: int = 5
    # An ordered account never activated is removed this long after the order (`idp accounts expire`).
    expire_days: int = 90


@dataclass(frozen=True)
class ClientsConfig:
    # How long a process keeps a relying party's registration before reading it again.
    cache_seconds: int = 10
    # Hosts a redirect URI may name with plain http besides loopback (development machines only).
    development_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistrationConfig:
    # Dynamic client registration (RFC 7591/7592, OIDC Registration): off unless enabled.
    enabled: bool = False
    # Bearer token a registering client must present; registration refuses everyone while empty.
    initial_access_token: str = ""


@dataclass(frozen=True)
class FetchConfig:
    # Requests to URLs relying parties registered (jwks_uri, request_uri, sector_identifier_uri,
    # back-channel logout): one deadline for the whole request, a body cap, and which
    # non-public networks may be reached (none by default; CIDR strings).
    deadline_seconds: int = 5
    max_bytes: int = 64 * 1024
    allow_networks: tuple[str, ...] = ()
    # An assertion or request object signed with a key we have not seen refetches the
    # client's jwks_uri at most this often.
    jwks_refetch_seconds: int = 60


@dataclass(frozen=True)
class BrandingConfig:
    """Who runs the provider, as the pages and letters show it: name, logo and how to reach user support."""

    name: str = "ID"
    logo: str = ""  # an SVG or PNG file, relative to the config file; empty: the built-in mark
    support_email: str = ""
    support_phone: str = ""
    support_hours: str = ""  # e.g. "08:00–15:30", shown as "weekdays <hours>" in the page's language


@dataclass(frozen=True)
class RepresentationConfig:
    # The RFC 9396 authorization_details type by which a client asks the citizen whom they act for
    # (ID-porten's "fullmakt"). A client must list it in its authorization_details_types.
    authorization_details_type: str = "idporten:fullmakt"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    subject: SubjectConfig = field(default_factory=SubjectConfig)
    passwords: PasswordsConfig = field(default_factory=PasswordsConfig)
    citizens: CitizensConfig = field(default_factory=CitizensConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    i18n: I18nConfig = field(default_factory=I18nConfig)
    assurance: AssuranceConfig = field(default_factory=AssuranceConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    totp: TotpConfig = field(default_factory=TotpConfig)
    app: AppConfig = field(default_factory=AppConfig)
    pin: PinConfig = field(default_factory=PinConfig)
    webauthn: WebauthnConfig = field(default_factory=WebauthnConfig)
    letters: LettersConfig = field(default_factory=LettersConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    ordering: OrderingConfig = field(default_factory=OrderingConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    branding: BrandingConfig = field(default_factory=BrandingConfig)
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / self.server.data_dir

    def path(self, value: str) -> Path:
        """A configured file or folder, relative paths resolved against base_dir."""
        return self.base_dir / value

    @property
    def keys_dir(self) -> Path:
        return self.base_dir / self.keys.dir

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL, a relative SQLite path resolved against base_dir."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            return prefix + str(self.base_dir / url[len(prefix) :])
        return url


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "base_dir"}


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: typing.Mapping[str, str] | None = None
) -> Config:
    """Read the TOML file and the environment into a Config."""
    environ = os.environ if environ is None else environ
    named = environ.get("IDP_CONFIG")
    if path is None and named and not Path(named).is_file():
        raise ConfigError(f"IDP_CONFIG names {named}, which is not a file: create it, or unset IDP_CONFIG")
    path = Path(path or named or "config.toml")
    raw: dict[str, dict[str, object]] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    base_dir = path.resolve().parent
    for name, value in environ.items():
        if not name.startswith("IDP_") or name in ("IDP_CONFIG", "IDP_REQUIRE_SERVICES"):
            continue
        section, _, key = name[4:].lower().partition("_")
        if section in _SECTIONS and key:
            raw.setdefault(section, {})[key] = value
    hints = typing.get_type_hints(Config)
    sections = {}
    for section, values in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"unknown config section [{section}]")
        sections[section] = _build(hints[section], section, values)
    config = Config(base_dir=base_dir, **sections)
    _check_issuer(config.server.issuer)
    try:
        zoneinfo.ZoneInfo(config.i18n.time_zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        zone = config.i18n.time_zone
        raise ConfigError(f"i18n.time_zone must be an IANA time zone such as Europe/Oslo, not {zone!r}") from None
    return config


def _check_issuer(issuer: str) -> None:
    """Every URL we hand out is built from the issuer: it must be absolute, and https off loopback."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"server.issuer must be an absolute URL such as https://login.example.no, not {issuer!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"server.issuer must use https (plain http only on loopback, for development): {issuer}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _build(cls: type, section: str, values: dict[str, object]) -> object:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {section}.{key}")
        kwargs[key] = _coerce(hints[key], value, f"{section}.{key}")
    return cls(**kwargs)


def _coerce(hint: object, value: object, name: str) -> object:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a list")
        return tuple(str(item) for item in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {value!r}")
    if hint is int:
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if hint is str or isinstance(hint, types.UnionType):
        return str(value)
    return value


def load_secrets(config: Config) -> dict[str, str]:
    """The deployment secrets: from config when set, else generated once and kept.

    Several nodes must share them, so production sets them in config; a
    single node keeps generated ones in <data_dir>/secrets.json (mode 0600).
    """
    wanted = {"secret_key": config.server.secret_key, "pairwise_salt": config.subject.pairwise_salt}
    if all(wanted.values()):
        return wanted
    path = config.data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    missing = [name for name, value in wanted.items() if not value and name not in stored]
    if missing:
        for name in missing:
            stored[name] = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stored, handle)
        os.replace(tmp, path)
    return {name: value or stored[name] for name, value in wanted.items()}
