"""The admin API, ``/admin/v1``: relying parties managed over JSON (OpenAPI document: admin_openapi.json).

A caller is a client an operator registered with the ``client_credentials`` grant
and the admin scope (``idp clients add --grant-type client_credentials --scope admin``);
it gets a bearer token from our own token endpoint. Every verb is the one the
``idp`` command uses (idp/oidc/clients.py): the same checks, the same audit events.
Errors have the RFC 7591 shape (``error``, ``error_description``).
"""

from __future__ import annotations

import json
from functools import cache, wraps
from pathlib import Path

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint, Response, current_app, g, jsonify, request

from idp.extensions import csrf
from idp.models import Client
from idp.oidc import clients
from idp.oidc.client_credentials import ADMIN_SCOPE, machine_token
from idp.oidc.client_metadata import RegistrationError, client_metadata

bp = Blueprint("admin_api", __name__, url_prefix="/admin/v1")
OPENAPI = Path(__file__).resolve().parent / "admin_openapi.json"


def _answer(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(error: str, description: str, status: int = 400) -> Response:
    response = _answer({"error": error, "error_description": description}, status)
    if status in (401, 403):
        # RFC 6750 §3: which token problem, and the scope that would do.
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}", scope="{ADMIN_SCOPE}"'
    return response


def _caller() -> str | Response:
    """The admin client behind the bearer token, or the refusal to send."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    token = machine_token(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return _error("invalid_token", "A valid bearer token from the client credentials grant is required.", 401)
    caller = current_app.extensions["idp.clients"].get(token.client_id)
    # The client's registration is asked again: removing its admin scope or the client ends its access at once.
    if (
        caller is None
        or ADMIN_SCOPE not in token.scope
        or ADMIN_SCOPE not in scope_to_list(caller.scope)
        or not caller.check_grant_type("client_credentials")
    ):
        return _error("insufficient_scope", f"The token does not carry the {ADMIN_SCOPE} scope.", 403)
    return token.client_id


def _admin(view):
    """Only for an admin client's token; ``g.actor`` names it in audit events."""

    @wraps(view)
    def guarded(*args, **kwargs):
        caller = _caller()
        if isinstance(caller, Response):
            return caller
        g.actor = f"admin:{caller}"
        try:
            return view(*args, **kwargs)
        except clients.ClientNotFound:
            return _error("not_found", "No such client (or key).", 404)
        except RegistrationError as exc:
            return _error(exc.error, exc.description)

    return csrf.exempt(guarded)


def _body() -> dict | Response:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error("invalid_request", "The body must be a JSON object (Content-Type: application/json).")
    return data


def _view(client: Client) -> dict:
    """A client as the API shows it: its RFC 7591 metadata, and until when a rotated-out secret works."""
    data = client_metadata(client)
    if client.previous_client_secret_expires_at is not None:
        data["previous_client_secret_expires_at"] = int(client.previous_client_secret_expires_at.timestamp())
    return data


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API's OpenAPI 3.1 document, its URLs made absolute from the configured issuer."""
    server = current_app.config["IDP"].server
    document = json.loads(_document())
    document["servers"] = [{"url": server.url(bp.url_prefix)}]
    flow = document["components"]["securitySchemes"]["adminToken"]["flows"]["clientCredentials"]
    flow["tokenUrl"] = server.url(flow["tokenUrl"])
    return jsonify(document)


@cache
def _document() -> str:
    return OPENAPI.read_text(encoding="utf-8")


@bp.get("/clients")
@_admin
def list_clients() -> Response:
    return _answer({"clients": [_view(client) for client in clients.all_clients()]})


@bp.post("/clients")
@_admin
def create_client() -> Response:
    data = _body()
    if isinstance(data, Response):
        return data
    client_id = data.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        return _error("invalid_client_metadata", "client_id must be a string.")
    client, issued = clients.create(data, actor=g.actor, client_id=client_id)
    response = _answer({**_view(client), **issued}, 201)
    response.headers["Location"] = current_app.config["IDP"].server.url(f"{bp.url_prefix}/clients/{client.client_id}")
    return response


@bp.get("/clients/<client_id>")
@_admin
def read_client(client_id: str) -> Response:
    return _answer(_view(clients.find(client_id)))


@bp.patch("/clients/<client_id>")
@_admin
def update_client(client_id: str) -> Response:
    client = clients.find(client_id)
    data = _body()
    if isinstance(data, Response):
        return data
    if data.get("client_id", client_id) != client_id:
        return _error("invalid_client_metadata", "client_id cannot change.")
    issued = clients.update(client, data, actor=g.actor)
    return _answer({**_view(client), **issued})


@bp.delete("/clients/<client_id>")
@_admin
def delete_client(client_id: str) -> Response:
    clients.delete(clients.find(client_id), actor=g.actor)
    return Response(status=204)


@bp.post("/clients/<client_id>/secret")
@_admin
def rotate_secret(client_id: str) -> Response:
    client = clients.find(client_id)
    data = _body() if request.content_length else {}
    if isinstance(data, Response):
        return data
    overlap = data.get("overlap_seconds", clients.DEFAULT_OVERLAP_SECONDS)
    secret, until = clients.rotate_secret(client, overlap_seconds=overlap, actor=g.actor)
    return _answer(
        {"client_id": client_id, "client_secret": secret, "previous_client_secret_expires_at": int(until.timestamp())}
    )


@bp.post("/clients/<client_id>/keys")
@_admin
def add_key(client_id: str) -> Response:
    client = clients.find(client_id)
    data = _body()
    if isinstance(data, Response):
        return data
    clients.add_key(client, data, actor=g.actor)
    return _answer(_view(client), 201)


@bp.delete("/clients/<client_id>/keys/<kid>")
@_admin
def remove_key(client_id: str, kid: str) -> Response:
    clients.remove_key(clients.find(client_id), kid, actor=g.actor)
    return Response(status=204)
