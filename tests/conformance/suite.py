"""The relying party's side of the certification modules, and the checks the suite makes.

``Provider`` is a live ``idp serve`` process with its registered test clients;
``code_flow`` runs one authorization code flow through the hosted login;
``check_id_token`` makes the suite's checks on every ID token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conformance.browserless import login, parse

PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")


def english_browser() -> requests.Session:
    """A cookie jar that asks for English pages, the language the tests read."""
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    return browser


@dataclass
class RP:
    client_id: str
    secret: str | None
    redirect_uri: str
    auth: str = "client_secret_basic"
    private_key: object | None = None  # for private_key_jwt and signed request objects


@dataclass
class Provider:
    url: str
    env: dict[str, str]
    pid: str
    password: str
    clients: dict[str, RP] = field(default_factory=dict)
    receiver: object | None = None
    other_pid: str = ""

    @property
    def metadata(self) -> dict:
        return requests.get(self.url + "/.well-known/openid-configuration", timeout=5).json()

    def jwks(self) -> dict:
        return requests.get(self.metadata["jwks_uri"], timeout=5).json()

    def authorize_url(self, rp: RP, **params: str) -> str:
        return self.metadata["authorization_endpoint"] + "?" + urlencode(self.authorize_params(rp, **params))

    def authorize_params(self, rp: RP, **params: str | None) -> dict[str, str]:
        base = {
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "scope": "openid",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
        }
        base.update(params)
        return {k: v for k, v in base.items() if v is not None}

    def client_auth(self, rp: RP, data: dict, endpoint: str | None = None) -> tuple[dict, tuple[str, str] | None]:
        """Form fields and HTTP Basic credentials for ``rp``'s token endpoint authentication."""
        data = dict(data)
        if rp.auth == "client_secret_basic":
            return data, (rp.client_id, rp.secret)
        if rp.auth == "client_secret_post":
            data.update(client_id=rp.client_id, client_secret=rp.secret)
        elif rp.auth == "private_key_jwt":
            now = int(time.time())
            assertion = jwt.encode(
                {"alg": "RS256", "kid": rp.private_key.kid},
                {
                    "iss": rp.client_id,
                    "sub": rp.client_id,
                    "aud": endpoint or self.metadata["token_endpoint"],
                    "iat": now,
                    "exp": now + 60,
                    "jti": secrets.token_urlsafe(12),
                },
                rp.private_key,
            )
            data.update(
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion=assertion,
                client_id=rp.client_id,
            )
        else:
            data["client_id"] = rp.client_id
        return data, None

    def token(self, rp: RP, **data: str) -> requests.Response:
        form, basic = self.client_auth(rp, data)
        return requests.post(self.metadata["token_endpoint"], data=form, auth=basic, timeout=10)

    def post(self, endpoint: str, rp: RP, **data: str) -> requests.Response:
        url = self.metadata[endpoint]
        form, basic = self.client_auth(rp, data, url)
        return requests.post(url, data=form, auth=basic, timeout=10)


def callback_params(response: requests.Response) -> dict[str, str]:
    """The authorization response's parameters, from a redirect's query or a form_post page."""
    if response.status_code in (302, 303):
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        return {k: v[0] for k, v in query.items()}
    assert response.status_code == 200, response.text[:500]
    form = parse(response.text).forms[0]
    return dict(form["fields"])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Flow:
    params: dict[str, str]
    callback: dict[str, str]
    browser: requests.Session
    tokens: dict | None = None
    claims: dict | None = None


def authorize(
    provider: Provider,
    rp: RP,
    *,
    browser: requests.Session | None = None,
    method: str = "GET",
    expect_login: bool | None = None,
    pid: str | None = None,
    **params: str | None,
) -> Flow:
    """One authorization request; logs in when the provider asks for it (or must, per ``expect_login``)."""
    browser = browser or english_browser()
    full = provider.authorize_params(rp, **params)
    endpoint = provider.metadata["authorization_endpoint"]
    if method == "POST":
        response = browser.post(endpoint, data=full, allow_redirects=False, timeout=10)
        if response.status_code == 303:  # re-sent as GET so a browser includes our SameSite=Lax cookie
            response = browser.get(urljoin(endpoint, response.headers["Location"]), allow_redirects=False, timeout=10)
    else:
        response = browser.get(endpoint, params=full, allow_redirects=False, timeout=10)
    asks_login = response.status_code == 302 and "/login" in urljoin(endpoint, response.headers["Location"]).replace(
        rp.redirect_uri, ""
    )
    if expect_login is not None:
        assert asks_login == expect_login, f"login page {'expected' if expect_login else 'not expected'}"
    if asks_login:
        response = login(browser, response, pid=pid or provider.pid, password=provider.password)
    return Flow(params=full, callback=callback_params(response), browser=browser)


def code_flow(provider: Provider, rp: RP, **kwargs) -> Flow:
    """authorize → token, with every check the suite makes on the results."""
    verifier = kwargs.pop("code_verifier", None)
    flow = authorize(provider, rp, **kwargs)
    check_success_callback(provider, flow)
    data = {"grant_type": "authorization_code", "code": flow.callback["code"], "redirect_uri": rp.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    answer = provider.token(rp, **data)
    assert answer.status_code == 200, answer.text
    check_token_response(answer)
    flow.tokens = answer.json()
    if "id_token" in flow.tokens:
        flow.claims = check_id_token(
            provider,
            flow.tokens["id_token"],
            rp,
            nonce=flow.params.get("nonce"),
            access_token=flow.tokens["access_token"],
            code=flow.callback["code"],
        )
    return flow


def check_success_callback(provider: Provider, flow: Flow) -> None:
    callback = flow.callback
    assert "error" not in callback, callback
    assert callback.get("code")
    if "state" in flow.params:
        assert callback.get("state") == flow.params["state"]
    assert callback.get("iss") == provider.metadata["issuer"]  # RFC 9207


def check_error_callback(provider: Provider, flow: Flow, *allowed: str) -> str:
    """The suite's checks on an error authorization response: an allowed code, state, iss, legal characters."""
    callback = flow.callback
    assert callback.get("error") in allowed, callback
    assert "code" not in callback
    if "state" in flow.params:
        assert callback.get("state") == flow.params["state"]
    assert callback.get("iss") == provider.metadata["issuer"]
    # RFC 6749 §4.1.2.1: error and error_description are %x20-21 / %x23-5B / %x5D-7E.
    for name in ("error", "error_description"):
        for char in callback.get(name, ""):
            assert 0x20 <= ord(char) <= 0x7E and char not in '"\\', f"illegal character in {name}"
    return callback["error"]


def check_token_response(answer: requests.Response) -> None:
    assert "no-store" in answer.headers.get("Cache-Control", "")
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body.get("expires_in"), int) and body["expires_in"] > 0
    assert body.get("access_token")


def _half_hash(value: str, alg: str) -> str:
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[-3:]](value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def check_id_token(
    provider: Provider,
    id_token: str,
    rp: RP,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    code: str | None = None,
) -> dict:
    """What the suite checks on every ID token; returns its claims."""
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] in provider.metadata["id_token_signing_alg_values_supported"]
    assert header["alg"] != "none"
    jwks = provider.jwks()
    matching = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    assert len(matching) == 1, "the kid must name exactly one key in the JWKS"
    claims = dict(jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[header["alg"]]).claims)
    now = time.time()
    assert claims["iss"] == provider.metadata["issuer"]
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert rp.client_id in aud
    if len(aud) > 1 or "azp" in claims:
        assert claims.get("azp") == rp.client_id
    assert isinstance(claims["exp"], int) and claims["exp"] > now
    assert isinstance(claims["iat"], int) and abs(claims["iat"] - now) <= 300
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= now + 300
    if nonce is None:
        assert "nonce" not in claims
    else:
        assert claims.get("nonce") == nonce
    if "acr" in claims:
        assert claims["acr"] in provider.metadata["acr_values_supported"]
    sub = claims["sub"]
    assert isinstance(sub, str) and 0 < len(sub) <= 255 and set(sub) <= PRINTABLE
    if access_token is not None and "at_hash" in claims:
        assert claims["at_hash"] == _half_hash(access_token, header["alg"])
    if code is not None and "c_hash" in claims:
        assert claims["c_hash"] == _half_hash(code, header["alg"])
    return claims


def userinfo(provider: Provider, access_token: str, how: str = "get-header") -> requests.Response:
    url = provider.metadata["userinfo_endpoint"]
    if how == "get-header":
        return requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    if how == "post-header":
        return requests.post(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    return requests.post(url, data={"access_token": access_token}, timeout=10)


def check_userinfo(answer: requests.Response, id_token_claims: dict) -> dict:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["sub"] == id_token_claims["sub"]  # OIDC Core §5.3.2
    return body
