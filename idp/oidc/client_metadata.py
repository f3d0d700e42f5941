"""Client metadata (RFC 7591 §2, OIDC Dynamic Client Registration 1.0 §2): the one check of what a client may be.

Every way a client comes to be or changes goes through ``apply_metadata``: dynamic
registration and RFC 7592 (registration.py), the admin API and the ``idp``
command (both through idp/oidc/clients.py).

Dynamically registered clients never get the ``pid`` or the admin scope:
releasing the national identity number, or letting a client manage others, is
an operator's decision (``idp clients add``, the admin API).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.config import is_loopback
from idp.fetch import FetchError
from idp.models import Client
from idp.oidc import parameters
from idp.oidc.claims import SCOPES_SUPPORTED
from idp.oidc.client_credentials import ADMIN_SCOPE
from idp.oidc.request_object import SIGNING_ALGS as REQUEST_OBJECT_ALGS
from idp.oidc.server import TOKEN_ENDPOINT_AUTH_METHODS
from idp.policy.requirement import MAX_AGE_DIGITS

ID_TOKEN_ALGS = ("RS256", "PS256", "ES256")
DEFAULT_SCOPE = "openid profile email phone address offline_access"
OPERATOR_SCOPES = frozenset({*SCOPES_SUPPORTED, ADMIN_SCOPE})
# JWK members that only a private or symmetric key has (RFC 7518 §6): a client registers public keys only.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Kept in extra_metadata and returned as given. Only default_max_age and
# default_acr_values change behaviour (the authorization endpoint applies them);
# require_auth_time needs nothing, since every ID token has auth_time.
_DESCRIPTIVE = (
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
    "application_type",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "initiate_login_uri",
    "software_id",
    "software_version",
    "authorization_details_types",  # RFC 9396 §10: the types the client may ask for (idp/oidc/rich_authorization.py)
)


class RegistrationError(ValueError):
    """Metadata we cannot accept; ``error`` is an RFC 7591 §3.2.2 code."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


# Printable ASCII, no spaces (RFC 3986 §2): urlsplit would quietly drop tabs and newlines, which would
# then reach a Location header. No longer than the columns the URIs go in (idp/models/oauth.py).
_URI_CHARS = re.compile(r"[\x21-\x7e]{1,1000}")
# A DNS name or IP address and a port, no user info: nothing that could end a CSP source (logout.py).
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def _uri(value: object, name: str, *, error: str = "invalid_client_metadata") -> str:
    parts = urlsplit(value) if isinstance(value, str) and _URI_CHARS.fullmatch(value) else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not _AUTHORITY.fullmatch(parts.netloc)
        or parts.fragment
        or not _port_in_range(parts)
    ):
        raise RegistrationError(error, f"{name} must be an absolute http(s) URI without fragment")
    return value


def _port_in_range(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return False
    return True


def _uris(value: object, name: str, *, error: str = "invalid_client_metadata") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RegistrationError(error, f"{name} must be a list of URIs")
    return [_uri(item, name, error=error) for item in value]


def check_sector_identifier(uri: str, redirect_uris: list[str]) -> str:
    """OIDC Core §8.1: the document at ``uri`` must list every redirect URI; returns the sector (its host)."""
    try:
        listed = current_app.extensions["idp.fetcher"].get_json(uri)
    except FetchError as exc:
        raise RegistrationError("invalid_client_metadata", f"sector_identifier_uri: {exc}") from None
    if not isinstance(listed, list) or not set(redirect_uris) <= {u for u in listed if isinstance(u, str)}:
        raise RegistrationError("invalid_client_metadata", "sector_identifier_uri does not list every redirect_uri")
    return urlsplit(uri).hostname or ""


def public_key_error(value: object) -> str | None:
    """What is wrong with ``value`` as a client's JWK set, or None: checked now, not at its first assertion."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        return "jwks must be a JWK set with at least one key"
    if not all(isinstance(key, dict) for key in value["keys"]):
        return "jwks must be a JWK set"
    if any(_PRIVATE_MEMBERS & key.keys() for key in value["keys"]):
        return "jwks must hold public keys only (no private or symmetric key material)"
    try:
        KeySet.import_key_set(value)
    except (JoseError, ValueError, TypeError):
        return "jwks must be a JWK set of keys we can use"
    return None


def _refuse_plain_http(uris: list[str], name: str) -> None:
    """A browser is sent to these: plain http only on loopback and the configured development hosts."""
    development = current_app.config["IDP"].clients.development_hosts
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme == "http" and not (is_loopback(parts.hostname or "") or parts.hostname in development):
            raise RegistrationError(
                "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata",
                f"{name} must use https (plain http only on loopback): {uri}",
            )


def _choice(data: dict, name: str, allowed: tuple[str, ...] | list[str], default: str | None) -> str | None:
    value = data.get(name, default)
    if value is not None and value not in allowed:
        raise RegistrationError("invalid_client_metadata", f"{name} {value!r} is not supported")
    return value


def _flag(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise RegistrationError("invalid_client_metadata", f"{name} must be true or false")
    return value


def apply_metadata(client: Client, data: dict, *, operator: bool = False) -> None:
    """Validate ``data`` (RFC 7591 §2) and set it on ``client``; raises RegistrationError.

    ``operator``: an operator registers it (``idp`` command, admin API), who may grant the
    ``pid`` and admin scopes and the client_credentials grant; dynamic registration may not.
    """
    config = current_app.config["IDP"]
    grant_types = data.get("grant_types", ["authorization_code"])
    known_grants = {"authorization_code", "refresh_token", *(("client_credentials",) if operator else ())}
    if not isinstance(grant_types, list) or not grant_types or set(grant_types) - known_grants:
        raise RegistrationError("invalid_client_metadata", f"grant_types must be some of {sorted(known_grants)}")
    logs_in = "authorization_code" in grant_types
    response_types = data.get("response_types", ["code"] if logs_in else [])
    if not isinstance(response_types, list) or set(response_types) - {"code"}:
        raise RegistrationError("invalid_client_metadata", "only the code response type is supported")
    if logs_in != ("code" in response_types):
        raise RegistrationError("invalid_client_metadata", "the code response type goes with authorization_code")
    redirect_uris = _uris(data.get("redirect_uris"), "redirect_uris", error="invalid_redirect_uri")
    if logs_in and not redirect_uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris is required")
    _refuse_plain_http(redirect_uris, "redirect_uris")
    method = _choice(data, "token_endpoint_auth_method", TOKEN_ENDPOINT_AUTH_METHODS, "client_secret_basic")
    if "client_credentials" in grant_types and method == "none":
        raise RegistrationError("invalid_client_metadata", "client_credentials needs a client that authenticates")
    if (
        data.get("userinfo_signed_response_alg")
        or data.get("id_token_encrypted_response_alg")
        or data.get("userinfo_encrypted_response_alg")
        or data.get("request_object_encryption_alg")
    ):
        raise RegistrationError("invalid_client_metadata", "signed userinfo and encryption are not supported")
    jwks, jwks_uri = data.get("jwks"), data.get("jwks_uri")
    if jwks is not None and jwks_uri is not None:
        raise RegistrationError("invalid_client_metadata", "send jwks or jwks_uri, not both")
    if jwks is not None and (problem := public_key_error(jwks)):
        raise RegistrationError("invalid_client_metadata", problem)
    if method == "private_key_jwt" and not (jwks or jwks_uri):
        raise RegistrationError("invalid_client_metadata", "private_key_jwt needs jwks or jwks_uri")
    scope = data.get("scope", DEFAULT_SCOPE)
    if not isinstance(scope, str):
        raise RegistrationError("invalid_client_metadata", "scope must be a string")
    if operator and set(scope.split()) - OPERATOR_SCOPES:
        unknown = " ".join(sorted(set(scope.split()) - OPERATOR_SCOPES))
        raise RegistrationError("invalid_client_metadata", f"unknown scope: {unknown}")
    scopes = [s for s in scope.split() if operator or s in DEFAULT_SCOPE.split()]
    if ADMIN_SCOPE in scopes and "client_credentials" not in grant_types:
        # The admin API accepts only tokens a client got for itself, never one a citizen's login carries.
        raise RegistrationError("invalid_client_metadata", f"the {ADMIN_SCOPE} scope goes with client_credentials")
    subject_type = _choice(data, "subject_type", ("pairwise", "public"), config.subject.default_type)
    sector_uri = data.get("sector_identifier_uri")
    if sector_uri:
        client.sector_identifier = check_sector_identifier(_uri(sector_uri, "sector_identifier_uri"), redirect_uris)
    elif subject_type == "pairwise" and len({urlsplit(u).hostname for u in redirect_uris}) > 1:
        # OIDC Core §8.1: several hosts need a declared sector, or one sub would differ per host.
        raise RegistrationError("invalid_client_metadata", "pairwise on several hosts needs sector_identifier_uri")
    else:
        client.sector_identifier = None
    name = data.get("client_name") or "Unnamed service"
    if not isinstance(name, str) or not parameters.is_text(name):
        # Shown to citizens on the login and logout pages, stored in a text column.
        raise RegistrationError("invalid_client_metadata", "client_name must be text without control characters")
    client.name = name[:200]
    client.redirect_uris = redirect_uris
    client.post_logout_redirect_uris = _uris(data.get("post_logout_redirect_uris"), "post_logout_redirect_uris")
    _refuse_plain_http(client.post_logout_redirect_uris, "post_logout_redirect_uris")
    client.token_endpoint_auth_method = method
    client.response_types = response_types
    client.grant_types = grant_types
    client.scope = " ".join(scopes)
    client.id_token_signed_response_alg = _choice(
        data, "id_token_signed_response_alg", ID_TOKEN_ALGS, config.tokens.default_id_token_alg
    )
    client.subject_type = subject_type
    client.sector_identifier_uri = sector_uri
    client.jwks = jwks
    client.jwks_uri = _uri(jwks_uri, "jwks_uri") if jwks_uri else None
    client.request_uris = _uris(data.get("request_uris"), "request_uris")
    client.request_object_signing_alg = _choice(
        data, "request_object_signing_alg", ("none", *REQUEST_OBJECT_ALGS), None
    )
    client.backchannel_logout_uri = (
        _uri(data["backchannel_logout_uri"], "backchannel_logout_uri") if data.get("backchannel_logout_uri") else None
    )
    client.backchannel_logout_session_required = _flag(data, "backchannel_logout_session_required")
    client.frontchannel_logout_uri = (
        _uri(data["frontchannel_logout_uri"], "frontchannel_logout_uri")
        if data.get("frontchannel_logout_uri")
        else None
    )
    client.frontchannel_logout_session_required = _flag(data, "frontchannel_logout_session_required")
    client.require_pushed_authorization_requests = _flag(data, "require_pushed_authorization_requests")
    max_age = data.get("default_max_age")
    if max_age is not None and (
        not isinstance(max_age, int) or isinstance(max_age, bool) or not 0 <= max_age < 10**MAX_AGE_DIGITS
    ):
        raise RegistrationError("invalid_client_metadata", "default_max_age must be a whole number of seconds")
    acr_values = data.get("default_acr_values")
    if acr_values is not None and (not isinstance(acr_values, list) or not all(isinstance(a, str) for a in acr_values)):
        raise RegistrationError("invalid_client_metadata", "default_acr_values must be a list of strings")
    types = data.get("authorization_details_types")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
        raise RegistrationError("invalid_client_metadata", "authorization_details_types must be a list of strings")
    for uri_name in ("logo_uri", "client_uri", "policy_uri", "tos_uri", "initiate_login_uri"):
        if data.get(uri_name) is not None:
            _uri(data[uri_name], uri_name)
    client.extra_metadata = {k: data[k] for k in _DESCRIPTIVE if data.get(k) is not None}  # null removes a setting


def client_metadata(client: Client) -> dict:
    """The registration as RFC 7591 §3.2.1 returns it (secrets excepted)."""
    data = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "response_types": client.response_types,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type,
        "request_uris": client.request_uris,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        **client.extra_metadata,
    }
    optional = {
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "sector_identifier_uri": client.sector_identifier_uri,
        "request_object_signing_alg": client.request_object_signing_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    if client.client_secret_hash:
        data["client_secret_expires_at"] = 0
    return data
