"""Claims about the citizen: the subject identifier and each claim's value.

Which claims a client may receive is the policy's release rule (``idp.policy.release``).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from flask import current_app

from idp.models import Citizen, Client
from idp.pid import InvalidPid, pid_birth_date
from idp.policy import release
from idp.policy.release import SCOPE_CLAIMS

SCOPES_SUPPORTED = ("openid", "offline_access", *SCOPE_CLAIMS)


def sector_of(client: Client) -> str:
    """The pairwise sector (OIDC Core §8.1): registered, or the redirect URIs' one host."""
    if client.sector_identifier:
        return client.sector_identifier
    hosts = {urlsplit(uri).hostname or "" for uri in client.redirect_uris}
    return hosts.pop() if len(hosts) == 1 else client.client_id


def subject_for(citizen: Citizen, client: Client) -> str:
    """``sub``: pairwise by default so relying parties cannot link citizens; public per client."""
    if client.subject_type == "public":
        return citizen.pid
    salt = current_app.extensions["idp.secrets"]["pairwise_salt"]
    material = f"{sector_of(client)}|{citizen.pid}|{salt}".encode()
    return base64.urlsafe_b64encode(hashlib.sha256(material).digest()).rstrip(b"=").decode("ascii")


def _claim(citizen: Citizen, name: str, locale: str | None) -> object:
    match name:
        case "locale":
            # The language of the login (BCP 47), not a register fact: what the citizen used.
            return locale
        case "name":
            return citizen.name
        case "given_name":
            return citizen.given_name
        case "family_name":
            return citizen.family_name
        case "birthdate":
            return _birthdate(citizen.pid)
        case "updated_at":
            return int(citizen.claims_updated_at.timestamp())
        case "email":
            return citizen.email
        case "email_verified":
            return bool(citizen.email_verified) if citizen.email else None
        case "phone_number":
            return citizen.phone
        case "phone_number_verified":
            return bool(citizen.phone_verified) if citizen.phone else None
        case "address":
            return citizen.address
        case "pid":
            return citizen.pid
    raise KeyError(name)


def _birthdate(pid: str) -> str | None:
    """OIDC Core §5.1 ``birthdate`` (YYYY-MM-DD) from the fødselsnummer or d-nummer.

    A stored pid was valid when stored; one the parser no longer reads (a new number series)
    gives no birthdate rather than a wrong one.
    """
    try:
        return pid_birth_date(pid).isoformat()
    except InvalidPid:
        return None


def released_claims(citizen: Citizen, names: frozenset[str], *, locale: str | None) -> dict[str, object]:
    """The citizen's values for ``names``, which the release rule chose; absent values are left out (§5.3.2).

    ``locale`` is the language the login was in.
    """
    claims: dict[str, object] = {}
    for name in sorted(names):
        value = _claim(citizen, name, locale)
        if value is not None:
            claims[name] = value
    return claims


def granted(scope: str, client: Client) -> frozenset[str]:
    """The scopes a token's claims may draw on: its own, and only those its client is still registered for."""
    return release.granted_scopes(registered=client.scope, requested=scope)
