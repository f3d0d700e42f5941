"""Driving the hosted login through Flask's test client, as a browser without JavaScript would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

REDIRECT_URI = "https://rp.example/callback"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no hidden input {name!r} on the page"
    return match.group(1)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def submit_password(client, login_location: str, *, pid: str, password: str):
    """Fill in the login page at ``login_location``; returns the POST's response."""
    page = client.get(login_location)
    assert page.status_code in (200, 400), page.get_data(as_text=True)  # 400: it says why the last try failed
    html = page.get_data(as_text=True)
    return client.post(
        "/login",
        data={"csrf_token": hidden(html, "csrf_token"), "tx": hidden(html, "tx"), "pid": pid, "password": password},
    )


def login_for_code(client, *, pid: str, password: str, **params: str) -> dict[str, str]:
    """authorize → login page → resume → the redirect back; returns its query parameters."""
    response = client.get("/authorize", query_string=authorize_params(**params))
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    if response.location.startswith("/login"):
        response = submit_password(client, response.location, pid=pid, password=password)
        assert response.status_code in (302, 303), response.get_data(as_text=True)
        if response.location.startswith("/login/step"):
            # No second factor reaches the requested level: the page explains, the citizen goes back.
            page = client.get(response.location)
            assert page.status_code == 403, page.get_data(as_text=True)
            html = page.get_data(as_text=True)
            response = client.post(
                "/authorize/unmet", data={"csrf_token": hidden(html, "csrf_token"), "tx": hidden(html, "tx")}
            )
            assert response.status_code in (302, 303)
            return query(response.location)
        response = client.get(response.location)
    assert response.status_code in (302, 303)
    return query(response.location)


def basic(client_id: str, secret: str) -> dict[str, str]:
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
