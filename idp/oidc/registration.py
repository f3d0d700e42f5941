"""Dynamic client registration: RFC 7591, RFC 7592 and OIDC Dynamic Client Registration 1.0.

Off by default (``[registration] enabled``). When on, registering needs the
configured initial access token, so only parties the operator gave it to can
register. Each registered client gets a registration access token (stored
hashed) to read, update or delete its own registration. The metadata is checked
by client_metadata.py and changed by clients.py, as for clients an operator adds.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from idp.extensions import csrf, db
from idp.models import Client
from idp.models.oauth import digest
from idp.oidc import clients
from idp.oidc.client_metadata import RegistrationError, client_metadata

bp = Blueprint("registration", __name__)


def _error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


def _bearer() -> str:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _json_body() -> dict | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@bp.route("/register", methods=["POST"])
@csrf.exempt
def register():
    config = current_app.config["IDP"].registration
    if not config.enabled:
        return _error("invalid_request", "Dynamic registration is not enabled here.", 404)
    presented = _bearer()
    # As bytes: compare_digest refuses str with characters beyond ASCII, and the header may have any.
    if not config.initial_access_token or not hmac.compare_digest(
        presented.encode(), config.initial_access_token.encode()
    ):
        return _error("invalid_token", "A valid initial access token is required.", 401)
    data = _json_body()
    if data is None:
        return _error("invalid_client_metadata", "The body must be a JSON object.")
    try:
        client, issued = clients.create(data, actor=clients.SELF)
    except RegistrationError as exc:
        return _error(exc.error, exc.description)
    response = jsonify({**client_metadata(client), **issued, "registration_client_uri": _client_uri(client)})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _client_uri(client: Client) -> str:
    return current_app.config["IDP"].server.url(url_for("registration.manage", client_id=client.client_id))


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
def manage(client_id: str):
    """RFC 7592: the client reads, replaces or deletes its registration with its registration access token."""
    if not current_app.config["IDP"].registration.enabled:
        return _error("invalid_request", "Dynamic registration is not enabled here.", 404)
    client = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    presented = _bearer()
    if (
        client is None
        or not client.registration_access_token_hash
        or not hmac.compare_digest(client.registration_access_token_hash, digest(presented))
    ):
        # The same answer for unknown clients and wrong tokens (RFC 7592 §2).
        return _error("invalid_token", "The registration access token is not valid.", 401)
    if request.method == "DELETE":
        clients.delete(client, actor=clients.SELF)
        return Response(status=204)
    body: dict = {}
    if request.method == "PUT":
        data = _json_body()
        if data is None or data.get("client_id") != client.client_id:
            return _error("invalid_client_metadata", "The body must be the client's metadata with its client_id.")
        if "client_secret" in data and not client.check_client_secret(str(data["client_secret"])):
            return _error("invalid_client_metadata", "client_secret does not match.")
        try:
            body = clients.update(client, data, actor=clients.SELF, replace=True)
        except RegistrationError as exc:
            return _error(exc.error, exc.description)
    # RFC 7592 §3: the registration access token and client URI are part of every answer. Only its digest is
    # kept, so the answer repeats the one just presented (the same token stays valid; it is not rotated).
    response = jsonify(
        {
            **client_metadata(client),
            **body,
            "registration_access_token": presented,
            "registration_client_uri": _client_uri(client),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
