"""Representation with RFC 9396 authorization_details: the chooser, and the choice in every place a client reads it.

Through Flask's test client, as a browser without JavaScript, on SQLite and on PostgreSQL + Redis.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.models import AuditEvent, Client, Mandate
from tests.conftest import PASSWORD, add_citizen, add_client, build_app, make_config
from tests.flows import REDIRECT_URI, authorize_params, basic, hidden, query, submit_password

FULLMAKT = "idporten:fullmakt"


def details(*roles: str, type_: str = FULLMAKT) -> str:
    return json.dumps([{"type": type_, "permission_roles": list(roles)}])


@pytest.fixture
def world(app, clock):
    """A guardian with wards under mandates of every kind, one other guardian, and two clients."""
    guardian = add_citizen(app, born=date(1960, 4, 1), given_name="Gunnar")
    other = add_citizen(app, born=date(1962, 6, 6), given_name="Olga")
    today = clock().date()
    day = timedelta(days=1)

    def mandate(reference, guardian_pid, ward, roles, *, valid_from=today - day, valid_to=None, revoked=False):
        db.session.add(
            Mandate(
                reference=reference,
                guardian_pid=guardian_pid,
                ward_pid=ward.pid,
                ward_name=ward.name,
                roles=roles,
                valid_from=valid_from,
                valid_to=valid_to,
                revoked_at=clock() if revoked else None,
            )
        )

    wards = {name: add_citizen(app, born=date(1930 + i, 1, 2), given_name=name) for i, name in enumerate("ABCDEF")}
    mandate("VM-A", guardian.pid, wards["A"], ["helse"])
    mandate("VM-B", guardian.pid, wards["B"], ["bank", "skatt"], valid_to=today)
    mandate("VM-C", guardian.pid, wards["C"], ["helse"], revoked=True)
    mandate("VM-D", guardian.pid, wards["D"], ["helse"], valid_to=today - day)
    mandate("VM-E", guardian.pid, wards["E"], ["helse"], valid_from=today + day)
    mandate("VM-F", other.pid, wards["F"], ["helse"])
    db.session.commit()
    add_client(extra_metadata={"authorization_details_types": [FULLMAKT]})
    add_client(client_id="rp2", secret="rp2-secret")
    return {"guardian": guardian, "other": other, "wards": wards}


def start(http, **params):
    return http.get("/authorize", query_string=authorize_params(scope="openid profile pid offline_access", **params))


def log_in(http, response, pid):
    """From the redirect to the login page through the password to the chooser."""
    assert response.status_code == 302 and response.location.startswith("/login?"), response.get_data(as_text=True)
    response = submit_password(http, response.location, pid=pid, password=PASSWORD)
    assert response.status_code == 303
    response = http.get(response.location)  # /authorize/resume
    assert response.status_code == 302 and response.location.startswith("/login/represent"), response.location
    return response.location


def chooser(http, location):
    page = http.get(location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, {"csrf_token": hidden(html, "csrf_token"), "tx": hidden(html, "tx")}


def choose(http, location, choice):
    _html, form = chooser(http, location)
    response = http.post(location, data={**form, "choice": choice})
    assert response.status_code == 303 and response.location.startswith("/authorize/resume"), response.status_code
    response = http.get(response.location)
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI)
    return query(response.location)


def exchange(http, code, client=("rp1", "rp1-secret")):
    answer = http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers=basic(*client),
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def claims_of(id_token):
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def introspect(http, token):
    return http.post("/introspect", data={"token": token}, headers=basic("rp1", "rp1-secret")).get_json()


def test_guardian_acts_for_a_ward_and_every_answer_says_so(app, world):
    http = app.test_client()
    guardian, ward = world["guardian"], world["wards"]["A"]
    location = log_in(http, start(http, authorization_details=details("helse", "pleie")), guardian.pid)
    html, _form = chooser(http, location)
    # Myself, and only the ward whose mandate is in force and covers a role asked for.
    assert "Gunnar Nordmann" in html and "A Nordmann" in html
    for absent in "BCDEF":
        assert f"{absent} Nordmann" not in html
    assert ward.pid not in html  # wards are shown by name; their numbers stay out of the page
    tokens = exchange(http, choose(http, location, "VM-A")["code"])
    expected = [
        {
            "type": FULLMAKT,
            "authorizer": {"name": "A Nordmann", "pid": ward.pid},
            "authorized_representative": {"name": "Gunnar Nordmann", "pid": guardian.pid},
            "permissions": [{"role": "helse"}],
        }
    ]
    assert tokens["authorization_details"] == expected
    id_token = claims_of(tokens["id_token"])
    assert id_token["authorization_details"] == expected
    assert id_token["pid"] == guardian.pid  # sub and pid stay the guardian's
    assert introspect(http, tokens["access_token"])["authorization_details"] == expected
    refreshed = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic("rp1", "rp1-secret"),
    ).get_json()
    assert refreshed["authorization_details"] == expected
    assert claims_of(refreshed["id_token"])["authorization_details"] == expected
    event = db.session.scalars(sa.select(AuditEvent).filter_by(event="representation.chosen")).one()
    assert event.outcome == "ward" and event.detail["reference"] == "VM-A"
    assert ward.pid not in json.dumps(event.detail) and event.pid_masked != guardian.pid


def test_myself_gives_an_empty_list(app, world):
    http = app.test_client()
    location = log_in(http, start(http, authorization_details=details("helse")), world["guardian"].pid)
    tokens = exchange(http, choose(http, location, "myself")["code"])
    assert tokens["authorization_details"] == []
    assert claims_of(tokens["id_token"])["authorization_details"] == []
    assert introspect(http, tokens["access_token"])["authorization_details"] == []
    assert db.session.scalars(sa.select(AuditEvent.outcome).filter_by(event="representation.chosen")).all() == [
        "myself"
    ]


def test_roles_are_ored_and_a_guardian_without_wards_sees_only_themself(app, world):
    http = app.test_client()
    location = log_in(http, start(http, authorization_details=details("bank", "helse")), world["guardian"].pid)
    html, _form = chooser(http, location)
    assert "A Nordmann" in html and "B Nordmann" in html  # B's mandate ends today: still in force
    tokens = exchange(http, choose(http, location, "VM-B")["code"])
    assert tokens["authorization_details"][0]["permissions"] == [{"role": "bank"}]

    other = app.test_client()
    location = log_in(other, start(other, authorization_details=details("skatt")), world["other"].pid)
    html, _form = chooser(other, location)
    assert 'value="myself"' in html and html.count('name="choice"') == 1 and "F Nordmann" not in html


def test_a_forged_or_stale_choice_gets_no_code(app, world):
    http = app.test_client()
    location = log_in(http, start(http, authorization_details=details("helse")), world["guardian"].pid)
    _html, form = chooser(http, location)
    for forged in ("VM-C", "VM-F", "VM-B", "", "myself\x00", "x" * 10_000):
        response = http.post(location, data={**form, "choice": forged})
        assert response.status_code == 400
    assert http.post(location, data={"tx": form["tx"], "choice": "VM-A"}).status_code == 400  # no CSRF token
    # Another browser, without this session, cannot use the transaction.
    stranger = app.test_client()
    refused = stranger.get(location)
    assert refused.status_code == 400 and 'name="choice"' not in refused.get_data(as_text=True)
    assert db.session.scalars(sa.select(AuditEvent).filter_by(event="representation.chosen")).all() == []


def test_the_sso_session_shows_the_chooser_again_each_time(app, world):
    http = app.test_client()
    location = log_in(http, start(http, authorization_details=details("helse")), world["guardian"].pid)
    choose(http, location, "VM-A")
    again = start(http, authorization_details=details("helse"))
    assert again.status_code == 302 and again.location.startswith("/login/represent")  # no password, but a choice
    tokens = exchange(http, choose(http, again.location, "myself")["code"])
    assert tokens["authorization_details"] == []
    plain = start(http)
    assert plain.location.startswith(REDIRECT_URI)  # without the parameter, SSO answers as before
    assert "authorization_details" not in exchange(http, query(plain.location)["code"])
    silent = start(http, authorization_details=details("helse"), prompt="none")
    assert query(silent.location)["error"] == "interaction_required"


@pytest.mark.parametrize(
    ("client_id", "value"),
    [
        ("rp2", details("helse")),  # not registered for the type
        ("rp1", details("helse", type_="payment_initiation")),
        ("rp1", "not json"),
        ("rp1", "{}"),
        ("rp1", "[]"),
        ("rp1", json.dumps([{"type": FULLMAKT}])),
        ("rp1", json.dumps([{"type": FULLMAKT, "permission_roles": ["Helse og omsorg"]}])),
        ("rp1", json.dumps([{"type": FULLMAKT, "permission_roles": ["helse"], "actions": ["read"]}])),
        ("rp1", json.dumps([{"type": FULLMAKT, "permission_roles": ["helse"]}] * 2)),
        ("rp1", "[" * 40 + "]" * 40),
    ],
)
def test_bad_or_unregistered_authorization_details(app, world, client_id, value):
    http = app.test_client()
    response = start(http, client_id=client_id, authorization_details=value)
    assert response.status_code == 302
    assert query(response.location)["error"] == "invalid_authorization_details"
    pushed = http.post(
        "/par",
        data={**authorize_params(client_id=client_id), "authorization_details": value},
        headers=basic(client_id, f"{client_id}-secret"),
    )
    assert pushed.status_code == 400 and pushed.get_json()["error"] == "invalid_authorization_details"


def test_pushed_request_with_authorization_details(app, world):
    http = app.test_client()
    pushed = http.post(
        "/par",
        data={**authorize_params(scope="openid pid"), "authorization_details": details("helse")},
        headers=basic("rp1", "rp1-secret"),
    )
    assert pushed.status_code == 201
    response = http.get(
        "/authorize", query_string={"client_id": "rp1", "request_uri": pushed.get_json()["request_uri"]}
    )
    location = log_in(http, response, world["guardian"].pid)
    tokens = exchange(http, choose(http, location, "VM-A")["code"])
    assert tokens["authorization_details"][0]["authorizer"]["name"] == "A Nordmann"


def test_discovery_lists_the_type(app):
    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert metadata["authorization_details_types_supported"] == [FULLMAKT]


def test_the_lean_token_path_carries_authorization_details(app, world):
    """The lean path answers codes and refresh tokens with authorization_details itself, as the Flask path does."""
    lean = app.wsgi_app
    while not hasattr(lean, "routes"):
        lean = lean._app
    reached = []
    view = app.view_functions["oidc.token"]

    @functools.wraps(view)
    def counted(*args, **kwargs):
        reached.append("oidc.token")
        return view(*args, **kwargs)

    app.view_functions["oidc.token"] = counted
    answers = {}
    for lean_on in (True, False):
        routes = lean.routes
        lean.routes = routes if lean_on else {}
        try:
            http = app.test_client()
            location = log_in(http, start(http, authorization_details=details("helse")), world["guardian"].pid)
            reached.clear()
            tokens = exchange(http, choose(http, location, "VM-A")["code"])
            refreshed = http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                headers=basic("rp1", "rp1-secret"),
            ).get_json()
            answers[lean_on] = (tokens, refreshed, list(reached))
        finally:
            lean.routes = routes
    (lean_tokens, lean_refreshed, lean_views), (flask_tokens, flask_refreshed, flask_views) = (
        answers[True],
        answers[False],
    )
    assert lean_views == [] and flask_views == ["oidc.token", "oidc.token"]
    assert lean_tokens["authorization_details"] == flask_tokens["authorization_details"]
    assert lean_refreshed["authorization_details"] == flask_refreshed["authorization_details"]
    assert claims_of(lean_tokens["id_token"])["authorization_details"] == lean_tokens["authorization_details"]
    assert lean_tokens["authorization_details"][0]["authorizer"]["name"] == "A Nordmann"


@pytest.fixture
def registering_app(tmp_path, backend):
    env = {**backend.env, "IDP_REGISTRATION_ENABLED": "true", "IDP_REGISTRATION_INITIAL_ACCESS_TOKEN": "initial-token"}
    app = build_app(make_config(tmp_path, **env))
    with app.app_context():
        yield app
        db.session.remove()


def test_a_client_registers_for_the_type_dynamically(registering_app):
    def register(**metadata):
        return registering_app.test_client().post(
            "/register",
            json={"redirect_uris": [REDIRECT_URI], **metadata},
            headers={"Authorization": "Bearer initial-token"},
        )

    made = register(authorization_details_types=[FULLMAKT])
    assert made.status_code == 201 and made.get_json()["authorization_details_types"] == [FULLMAKT]
    client = made.get_json()
    response = registering_app.test_client().get(
        "/authorize",
        query_string=authorize_params(client_id=client["client_id"], authorization_details=details("helse")),
    )
    assert response.status_code == 302 and response.location.startswith("/login?")
    for bad in ("idporten:fullmakt", [1], {"type": FULLMAKT}):
        refused = register(authorization_details_types=bad)
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_client_metadata"


def test_the_chooser_of_a_client_no_longer_registered_for_the_type_has_expired(app, world):
    http = app.test_client()
    location = log_in(http, start(http, authorization_details=details("helse")), world["guardian"].pid)
    client = db.session.scalars(sa.select(Client).filter_by(client_id="rp1")).one()
    client.extra_metadata = {}
    db.session.commit()
    response = http.get(location)
    assert response.status_code == 400 and 'name="choice"' not in response.get_data(as_text=True)
