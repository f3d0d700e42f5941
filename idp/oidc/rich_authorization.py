"""RFC 9396 Rich Authorization Requests, for one type: representation (ID-porten's "fullmakt").

A client asks with ``authorization_details=[{"type": "idporten:fullmakt",
"permission_roles": ["helse"]}]`` (the type name is configured); it must be
registered for that type (client metadata ``authorization_details_types``,
RFC 9396 §10). After the login the citizen chooses whom they act for; the
choice travels with the code into the token response, the ID token and
introspection as the granted ``authorization_details`` (§7, §9): for a ward,
one object naming the ward (``authorizer``), the citizen
(``authorized_representative``) and the roles used (``permissions``); for the
citizen themself, ``[]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2 import OAuth2Error

from idp.models import Citizen, Client
from idp.models.guardianship import ROLE
from idp.untrusted import json_loads

PARAMETER = "authorization_details"
MAX_ROLES = 32
_FIELDS = frozenset({"type", "permission_roles"})


class InvalidAuthorizationDetailsError(OAuth2Error):
    """RFC 9396 §5: the authorization_details are malformed, of an unknown type, or not allowed to this client."""

    error = "invalid_authorization_details"


@dataclass(frozen=True)
class RepresentationRequest:
    type: str
    roles: tuple[str, ...]  # ORed: a mandate covering any one of them may be used


def asked(params: dict[str, str]) -> bool:
    """Whether the request asks for representation (its authorization_details were checked at /authorize or PAR)."""
    return PARAMETER in params


def registered_types(client: Client) -> list[str]:
    types = (client.extra_metadata or {}).get("authorization_details_types")
    return [t for t in types if isinstance(t, str)] if isinstance(types, list) else []


def requested(params: dict[str, str], client: Client, type_name: str) -> RepresentationRequest | None:
    """The representation asked for, or None when the request has no authorization_details.

    Raises :class:`InvalidAuthorizationDetailsError` for anything RFC 9396 §5 calls invalid.
    """
    raw = params.get(PARAMETER)
    if raw is None:
        return None
    try:
        details = json_loads(raw)
    except ValueError:
        raise InvalidAuthorizationDetailsError("authorization_details is not valid JSON.") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise InvalidAuthorizationDetailsError("authorization_details must be an array of one object.")
    detail = details[0]
    if detail.get("type") != type_name:
        raise InvalidAuthorizationDetailsError("Unknown authorization_details type.")
    if type_name not in registered_types(client):
        raise InvalidAuthorizationDetailsError("The client is not registered for this authorization_details type.")
    if not set(detail) <= _FIELDS:
        raise InvalidAuthorizationDetailsError("authorization_details has a field this type does not know.")
    roles = detail.get("permission_roles")
    if (
        not isinstance(roles, list)
        or not 0 < len(roles) <= MAX_ROLES
        or not all(isinstance(role, str) and ROLE.fullmatch(role) for role in roles)
    ):
        raise InvalidAuthorizationDetailsError("permission_roles must be a list of role names.")
    return RepresentationRequest(type=type_name, roles=tuple(dict.fromkeys(roles)))


def representing(
    request: RepresentationRequest, *, guardian: Citizen, ward_pid: str, ward_name: str, roles: tuple[str, ...]
) -> list[dict]:
    """The granted authorization_details when ``guardian`` acts for a ward with ``roles`` of the request's."""
    return [
        {
            "type": request.type,
            "authorizer": {"name": ward_name, "pid": ward_pid},
            "authorized_representative": {"name": guardian.name, "pid": guardian.pid},
            "permissions": [{"role": role} for role in roles],
        }
    ]
