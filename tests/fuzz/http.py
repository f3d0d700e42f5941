"""A drawn request, sent through the Flask test client and checked against the invariants."""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from flask.testing import FlaskClient
from hypothesis import note
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

from tests.fuzz import strategies as fz
from tests.fuzz.invariants import check_response
from tests.fuzz.world import World

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Call:
    method: str
    path: str
    query: list[tuple[str, object]] = field(default_factory=list)
    form: list[tuple[str, object]] | None = None
    json: object | None = None  # a value to serialise, or JSON text as a str
    raw: bytes | None = None
    headers: dict = field(default_factory=dict)


def fuzz_each(items: dict[str, Callable[[], None]]) -> None:
    """Run every item's fuzz; report all failures together, not only the first."""
    failures = {}
    for name, run in items.items():
        try:
            run()
        except Exception as exc:  # every item's failure is reported, not only the first
            failures[name] = "".join(traceback.format_exception(exc))
    report = "\n\n".join(f"===== {name}\n{text}" for name, text in failures.items())
    assert not failures, f"{len(failures)} of {len(items)} failed: {sorted(failures)}\n\n{report}"


def send(world: World, browser: FlaskClient, call: Call):
    """Make the call's fresh values, send it in an app context of its own, check the response."""
    # Each example gets its own app context, as each request has in production: a database
    # session broken by one request must not fail the next.
    with world.app.app_context():
        query = world.make(call.query, browser)
        form = world.make(call.form, browser) if call.form is not None else None
        headers = {name: _wire(world.make(value, browser)) for name, value in call.headers.items()}
        kwargs: dict = {"method": call.method, "query_string": query, "headers": headers}
        if form is not None:
            kwargs["data"] = MultiDict(form)
        elif call.json is not None:
            body = call.json if isinstance(call.json, str) else json.dumps(world.make(call.json, browser))
            kwargs["data"] = body.encode("utf-8", "surrogatepass")
            kwargs["content_type"] = "application/json"
        elif call.raw is not None:
            kwargs["data"] = call.raw
            kwargs["content_type"] = headers.pop("Content-Type", "application/x-www-form-urlencoded")
        note(f"{call.method} {call.path} query={_short(query)} form={_short(form)} headers={_short(headers)}")
        response = browser.open(call.path, **kwargs)
        world.seen[(call.path, call.method, response.status_code)] += 1
        check_response(world, response)
        return response


def _wire(value: str) -> str:
    """A header value as a server hands it to WSGI: bytes as latin-1, never CR or LF."""
    value = value.replace("\r", "").replace("\n", "")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        value = value.encode("utf-8").decode("latin-1")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 600 else text[:600] + f"... ({len(text)} chars)"


# ------------------------------------------------------------ strategies for calls


def path_for(world: World, rule: Rule) -> st.SearchStrategy[str]:
    """The rule's path with its variables filled in: plausible values or hostile ones, percent-encoded."""
    plausible = {
        "lang": st.sampled_from(["nb", "en"]),
        "client_id": st.just(world.registered_id),
        "filename": st.sampled_from(["style.css", "form_post.js", "../config.toml"]),
    }

    if not rule.arguments:
        return st.just(rule.rule)

    @st.composite
    def build(draw):
        path = rule.rule
        for name in rule.arguments:
            value = draw(fz.mixed(plausible.get(name, fz.ascii_text())))
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", lambda _m, v=value: quote(v, safe=""), path)
        return path

    return build()


def headers(world: World) -> st.SearchStrategy[dict]:
    bearer = ["unknown", world.registration_token, "fuzz-initial-access-token"]
    cookie = st.one_of(
        st.builds(lambda v: f"idp_session={v}", fz.latin1()),
        st.builds(lambda v: f"idp_csrf={v}; lang=en", fz.latin1()),
        st.builds(lambda v: f"lang={v}", fz.latin1()),
        fz.latin1(),
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "Authorization": st.one_of(
                fz.authorization_headers(world.client_ids, world.secrets, bearer), st.just(fz.Fresh("bearer"))
            ),
            "Cookie": st.one_of(cookie, st.just(fz.Fresh("sso_cookie"))),
            # Mostly ours; another's must never show up in a Location; no host name at all
            # is refused by Werkzeug while routing.
            "Host": st.sampled_from(
                ["127.0.0.1:5000"] * 6 + ["evil.example", "a" * 64 + ".example", "a..example", "a" * 300]
            ),
            "X-Request-ID": fz.latin1(),
            "Accept-Language": st.one_of(st.sampled_from(["nb, en;q=0.5", "*", "en-GB"]), fz.latin1()),
            "If-None-Match": fz.latin1(),
            "User-Agent": fz.latin1(),
            "Content-Type": st.sampled_from(
                ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]
            ),
        },
    )
