"""The admin API as an operator's automation uses it, every answer checked against the served OpenAPI document.

The caller is a real admin client: registered through the same verb the CLI uses,
it gets its bearer token from our own token endpoint (client_credentials).
"""

from __future__ import annotations

import sqlalchemy as sa
from joserfc.jwk import ECKey
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder

from idp.extensions import db
from idp.models import AuditEvent
from idp.oidc import clients
from tests.conftest import add_client, replace
from tests.flows import basic

ISSUER = "http://127.0.0.1:5000"


class AdminApi:
    """An HTTP client of the admin API; each answer is validated against the served document."""

    def __init__(self, app, client_id: str = "ops-robot"):
        self.http = app.test_client()
        admin, issued = clients.create(
            {"client_name": "Drift", "grant_types": ["client_credentials"], "scope": "admin"},
            actor="test",
            client_id=client_id,
        )
        self.client_id, self.secret = admin.client_id, issued["client_secret"]
        served = self.http.get("/admin/v1/openapi.json", base_url=ISSUER)
        assert served.status_code == 200
        self.spec = OpenAPI.from_dict(served.get_json())
        self.token = self.fetch_token()

    def fetch_token(self, **form: str) -> str:
        answer = self.http.post(
            "/token",
            data={"grant_type": "client_credentials", **form},
            headers=basic(self.client_id, self.secret),
            base_url=ISSUER,
        )
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["token_type"].lower() == "bearer" and body["scope"] == "admin" and "refresh_token" not in body
        return body["access_token"]

    def __call__(self, method: str, path: str, *, token: str | None = "mine", **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {self.token if token == 'mine' else token}"
        request = dict(path=f"/admin/v1{path}", method=method, headers=headers, base_url=ISSUER, **kwargs)
        answer = self.http.open(**request)
        assert answer.status_code < 500, answer.data
        # The request again, unread: the app consumed the first one's body.
        sent = EnvironBuilder(**request).get_request()
        self.spec.validate_response(WerkzeugOpenAPIRequest(sent), WerkzeugOpenAPIResponse(answer))
        return answer


def introspect_status(app, client_id: str, secret: str) -> int:
    """200 when the token endpoint family accepts this client secret, 401 when not."""
    answer = app.test_client().post("/introspect", data={"token": "nothing"}, headers=basic(client_id, secret))
    return answer.status_code


def test_create_read_update_list_delete(app):
    api = AdminApi(app)
    made = api(
        "POST",
        "/clients",
        json={"client_name": "Skatteetaten", "redirect_uris": ["https://skatt.example/cb"], "scope": "openid pid"},
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["client_secret"] and body["scope"] == "openid pid"
    assert made.headers["Location"] == f"{ISSUER}/admin/v1/clients/{body['client_id']}"
    assert introspect_status(app, body["client_id"], body["client_secret"]) == 200

    read = api("GET", f"/clients/{body['client_id']}").get_json()
    assert "client_secret" not in read and read["client_name"] == "Skatteetaten"

    changed = api(
        "PATCH",
        f"/clients/{body['client_id']}",
        json={"client_name": "Skatt", "post_logout_redirect_uris": ["https://skatt.example/bye"]},
    ).get_json()
    assert changed["client_name"] == "Skatt"
    assert changed["redirect_uris"] == ["https://skatt.example/cb"]  # untouched members stay
    assert changed["post_logout_redirect_uris"] == ["https://skatt.example/bye"]
    assert "client_secret" not in changed

    listed = api("GET", "/clients").get_json()["clients"]
    assert {c["client_id"] for c in listed} == {api.client_id, body["client_id"]}

    assert api("DELETE", f"/clients/{body['client_id']}").status_code == 204
    assert api("GET", f"/clients/{body['client_id']}").status_code == 404
    assert introspect_status(app, body["client_id"], body["client_secret"]) == 401

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.client_id == body["client_id"])).all()
    assert [(e.event, e.detail["actor"]) for e in events] == [
        ("client.created", "admin:ops-robot"),
        ("client.updated", "admin:ops-robot"),
        ("client.deleted", "admin:ops-robot"),
    ]
    assert events[1].detail["fields"] == ["client_name", "post_logout_redirect_uris"]


def test_rotated_secret_overlaps_then_the_old_one_stops(app, clock):
    api = AdminApi(app)
    add_client(client_id="rp-rot", secret="old-secret")
    rotated = api("POST", "/clients/rp-rot/secret", json={"overlap_seconds": 3600})
    assert rotated.status_code == 200
    new = rotated.get_json()["client_secret"]
    assert rotated.get_json()["previous_client_secret_expires_at"] == int(clock().timestamp()) + 3600
    assert introspect_status(app, "rp-rot", new) == 200
    assert introspect_status(app, "rp-rot", "old-secret") == 200
    clock.advance(seconds=3599)
    assert introspect_status(app, "rp-rot", "old-secret") == 200
    clock.advance(seconds=1)
    assert introspect_status(app, "rp-rot", "old-secret") == 401
    assert introspect_status(app, "rp-rot", new) == 200
    # The admin token lives tokens.access_token_seconds (by the store's clock, Redis's own when used).
    api.token = api.fetch_token()
    # A second rotation without overlap ends the first new secret at once.
    newest = api("POST", "/clients/rp-rot/secret", json={"overlap_seconds": 0}).get_json()["client_secret"]
    assert introspect_status(app, "rp-rot", new) == 401
    assert introspect_status(app, "rp-rot", newest) == 200
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.event == "client.secret_rotated")) == 2


def test_rotation_refuses_bad_overlaps_and_public_clients(app):
    api = AdminApi(app)
    add_client(client_id="rp-rot", secret="old-secret")
    for overlap in (-1, 10**12, "3600", True, None, 1.5):
        answer = api("POST", "/clients/rp-rot/secret", json={"overlap_seconds": overlap})
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_client_metadata", overlap
    assert introspect_status(app, "rp-rot", "old-secret") == 200
    add_client(client_id="rp-public", secret=None, auth_method="none")
    assert api("POST", "/clients/rp-public/secret", json={}).status_code == 400


def test_keys_are_added_and_removed_public_only(app):
    api = AdminApi(app)
    made = api(
        "POST",
        "/clients",
        json={"client_name": "Nøkkel", "redirect_uris": ["https://k.example/cb"], "token_endpoint_auth_method": "none"},
    ).get_json()
    path = f"/clients/{made['client_id']}/keys"
    private = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    refused = api("POST", path, json=private.as_dict(private=True))
    assert refused.status_code == 400 and "public keys only" in refused.get_json()["error_description"]
    added = api("POST", path, json=private.as_dict(private=False))
    assert added.status_code == 201 and [k["kid"] for k in added.get_json()["jwks"]["keys"]] == ["k1"]
    assert api("POST", path, json=private.as_dict(private=False)).status_code == 400  # the same kid again
    assert api("POST", path, json={"kty": "EC", "kid": "k2", "crv": "P-256", "x": "AA", "y": "AA"}).status_code == 400
    assert api("POST", path, json={"kty": "EC"}).status_code == 400  # no kid
    assert api("DELETE", f"{path}/nope").status_code == 404
    assert api("DELETE", f"{path}/k1").status_code == 204
    assert "jwks" not in api("GET", f"/clients/{made['client_id']}").get_json()


def test_a_private_key_jwt_client_keeps_its_last_key(app):
    api = AdminApi(app)
    key = ECKey.generate_key("P-256", parameters={"kid": "only"})
    made = api(
        "POST",
        "/clients",
        json={
            "client_name": "Signert",
            "redirect_uris": ["https://s.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=False)]},
        },
    ).get_json()
    assert "client_secret" not in made
    assert api("DELETE", f"/clients/{made['client_id']}/keys/only").status_code == 400


def test_only_an_admin_clients_own_token_opens_the_api(app):
    api = AdminApi(app)
    missing = api("GET", "/clients", token=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert api("GET", "/clients", token="made-up").status_code == 401
    assert api("GET", "/clients", headers={"Authorization": f"Basic {api.token}"}, token=None).status_code == 401
    # A relying party authenticates, but may not use the grant, nor ask for the admin scope.
    add_client(client_id="rp1", secret="rp1-secret")
    http = app.test_client()
    refused = http.post("/token", data={"grant_type": "client_credentials"}, headers=basic("rp1", "rp1-secret"))
    assert refused.status_code == 400 and refused.get_json()["error"] == "unauthorized_client"
    wrong_scope = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "admin openid"},
        headers=basic(api.client_id, api.secret),
    )
    assert wrong_scope.status_code == 400 and wrong_scope.get_json()["error"] == "invalid_scope"
    # The token is not a citizen's: userinfo does not take it.
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {api.token}"}).status_code == 401
    # Taking the admin scope away from the client ends its token's access at once.
    clients.update(clients.find(api.client_id), {"scope": ""}, actor="test")
    assert api("GET", "/clients").status_code == 403


def test_deleting_the_admin_client_ends_its_access(app):
    api = AdminApi(app)
    assert api("DELETE", f"/clients/{api.client_id}").status_code == 204
    assert api("GET", "/clients").status_code == 403


def test_hostile_input_gets_json_errors(app):
    api = AdminApi(app)
    cases = [
        {"data": "not json", "headers": {"Content-Type": "application/json"}},
        {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
        {"json": ["a", "list"]},
        {"json": {"client_name": "x\u0000y", "redirect_uris": ["https://x.example/cb"]}},
        {"json": {"client_name": 5, "redirect_uris": ["https://x.example/cb"]}},
        {"json": {"client_name": "X", "redirect_uris": "https://x.example/cb"}},
        {"json": {"client_name": "X", "redirect_uris": [{"uri": 1}]}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb\u202e"]}},
        {"json": {"client_name": "X", "redirect_uris": ["https://" + "x" * 5000 + "/cb"]}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "scope": "openid everything"}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "scope": ["openid"]}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "grant_types": "implicit"}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "client_id": 7}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "client_id": "a" * 500}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "client_id": "ops-robot"}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "jwks": {"keys": "none"}}},
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "default_max_age": 1e308}},
        # The admin scope only with client_credentials, and client_credentials only for a client that authenticates.
        {"json": {"client_name": "X", "redirect_uris": ["https://x.example/cb"], "scope": "openid admin"}},
        {"json": {"grant_types": ["client_credentials"], "scope": "admin", "token_endpoint_auth_method": "none"}},
    ]
    for case in cases:
        answer = api("POST", "/clients", **case)
        assert answer.status_code == 400, case
        assert set(answer.get_json()) == {"error", "error_description"}
    assert api("GET", "/clients/%00").status_code == 400
    assert api("GET", "/clients/" + "z" * 300).status_code == 404
    assert api("PATCH", f"/clients/{api.client_id}", json={"client_id": "other"}).status_code == 400
    assert api("PATCH", "/clients/none-such", json={"client_name": "X"}).status_code == 404


def test_plain_http_redirects_only_on_loopback_and_development_hosts(app, config, clock):
    api = AdminApi(app)

    def create(uri: str, **extra):
        return api("POST", "/clients", json={"client_name": "X", "redirect_uris": [uri], **extra})

    for uri in ("http://127.0.0.1:5001/cb", "http://localhost/cb", "http://[::1]:8080/cb", "https://rp.example/cb"):
        assert create(uri).status_code == 201, uri
    refused = create("http://rp.example/cb")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_redirect_uri"
    assert create("http://127.0.0.1.nip.io/cb").status_code == 400
    logout = create("https://rp.example/cb", post_logout_redirect_uris=["http://rp.example/bye"])
    assert logout.status_code == 400


def test_development_hosts_may_use_plain_http(config, clock, tmp_path):
    from tests.conftest import build_app

    app = build_app(replace(config, "clients", development_hosts=("rp.test",)), clock)
    with app.app_context():
        api = AdminApi(app)
        made = api("POST", "/clients", json={"client_name": "Dev", "redirect_uris": ["http://rp.test:8080/cb"]})
        assert made.status_code == 201
        other = api("POST", "/clients", json={"client_name": "X", "redirect_uris": ["http://rp2.test/cb"]})
        assert other.status_code == 400
        db.session.remove()
