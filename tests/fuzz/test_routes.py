"""Every route in the app's url_map, with hostile queries, forms, JSON bodies, headers and cookies.

Routes are found in ``app.url_map``, so a new one is fuzzed without a change
here; ``BASES`` only gives some of them the parameters a real request would
carry, so the fuzz gets past their first check. Each route gets its own
Hypothesis run; the failures of all routes are reported together.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as fz
from tests.fuzz.http import BODY_METHODS, Call, fuzz_each, headers, path_for, send
from tests.fuzz.settings import FUZZ

AUTHORIZE = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)
# The parameters a real request to these endpoints carries.
BASES: dict[str, tuple[str, ...]] = {
    "oidc.authorize": AUTHORIZE,
    "oidc.pushed_authorization_request": AUTHORIZE,
    "oidc.token": ("grant_type", "code", "redirect_uri", "code_verifier"),
    "oidc.revoke": ("token", "token_type_hint"),
    "oidc.introspect": ("token", "token_type_hint"),
    "logout.end_session_endpoint": ("id_token_hint", "post_logout_redirect_uri", "state"),
    "oidc.resume": ("tx",),
    "pages.language": ("next",),
    "profile.login": ("acr",),
}
JSON_ENDPOINTS = frozenset({"registration.register", "registration.manage"})


def calls(world, rule) -> st.SearchStrategy[Call]:
    @st.composite
    def build(draw):
        method = draw(st.sampled_from(sorted(rule.methods)))
        call = Call(method, draw(path_for(world, rule)), headers=draw(headers(world)))
        params = draw(world.parameters(BASES.get(rule.endpoint, ())))
        pairs = list(params.items())
        if pairs and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(params)))  # RFC 6749 §3.1: never more than once
            pairs.append((name, draw(fz.mixed(world.plausible(name)))))
        body = "query"
        if method in BODY_METHODS:
            kinds = (
                ["json", "json", "raw", "form"] if rule.endpoint in JSON_ENDPOINTS else ["form", "form", "json", "raw"]
            )
            body = draw(st.sampled_from(kinds))
        if body == "query":
            call.query = pairs
        elif body == "form":
            call.form = pairs
        elif body == "json":
            call.json = (
                draw(st.one_of(world.metadata(), fz.json_text())) if rule.endpoint in JSON_ENDPOINTS else dict(params)
            )
            call.query = [] if rule.endpoint in JSON_ENDPOINTS else pairs[:1]
        else:
            call.raw = draw(st.one_of(st.binary(max_size=200), st.builds(str.encode, fz.big_strings())))
        return call

    return build()


def fuzz_route(world, rule) -> Callable[[], None]:
    @FUZZ
    @given(call=calls(world, rule))
    def run(call: Call) -> None:
        send(world, world.anonymous, call)

    return run


def test_every_route_survives_hostile_requests(app, world):
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    assert len(rules) > 30
    try:
        fuzz_each({rule.rule: fuzz_route(world, rule) for rule in rules})
    finally:
        print(world.summary())
