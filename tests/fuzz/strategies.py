"""Hypothesis strategies: protocol values a relying party or browser might send, mixed with hostile ones.

A value is drawn either from the parameter's plausible values (a registered
client_id, its redirect URI, real scopes, a PKCE challenge...), so a request
gets past the first check into the real validation, or from the hostile
values every parameter must survive: NUL and control characters, CR/LF,
right-to-left and zero-width characters, digits that are not ASCII digits,
huge numbers, 100 KB strings, deep JSON, malformed URLs, bytes that are not UTF-8.

Values that need the provider's state when sent (a fresh login transaction,
a live authorization code) are drawn as :class:`Fresh` placeholders, which
the sender replaces just before the request.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from hypothesis import strategies as st

# Never on the wire: a lone surrogate cannot be encoded as UTF-8.
_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
_ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=40)

HOSTILE_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x7f\x1b[31m",
    "\r\nSet-Cookie: injected=1",
    "x\r\nLocation: https://evil.example/",
    "\n",
    "\t",
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200d\ufeff",  # zero-width characters and a byte order mark
    "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() is true, the ASCII grammar says no
    "\u00b2",  # superscript two: isdigit() is true, int() refuses it
    "\U0001d7d7",  # mathematical bold nine
    "٣٠٠",
    "9" * 5000,  # more digits than int() converts
    "99999999999999999999999999",  # past timedelta's range
    "-1",
    "1e309",
    "NaN",
    "%00",
    "%0d%0a",
    "%",
    "ø",
    "Ã¸",
    "../../../etc/passwd",
    "javascript:alert(1)",
    "//evil.example",
    "/\\evil.example",
    "/\t/evil.example",  # browsers drop tabs and newlines from URLs: //evil.example
    "https://evil.example/",
    "http://[::1",
    "http://a b/",
    "https://rp.example:99999/",
    "http://",
    "https://rp.example/callback#frag",
    "https://rp.example/callback\x00",
    "https://user:pass@evil.example@rp.example/",
    '"><script>alert(1)</script>',
    "{{7*7}}",
    "null",
    "[]",
    "{}",
    '{"id_token": []}',
    "[" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
)


def big_strings() -> st.SearchStrategy[str]:
    """Long values: past column lengths, past a header's 8 KB, a 100 KB parameter."""
    return st.builds(
        lambda piece, size: (piece * size)[:size],
        st.sampled_from(["A", "é", "\x00", "x\r\n", "\u0661", "%41"]),
        st.sampled_from([129, 513, 1001, 4100, 8300, 100_000]),
    )


def hostile() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_STRINGS), _TEXT, big_strings())


def mixed(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly plausible values, often hostile ones, sometimes both glued together."""
    return st.one_of(
        plausible,
        plausible,
        hostile(),
        st.builds(_glue, plausible, st.sampled_from(HOSTILE_STRINGS)),
    )


def _glue(good: object, bad: str) -> object:
    return good + bad if isinstance(good, str) else good


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def json_text() -> st.SearchStrategy[str]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3))
    return st.one_of(
        st.builds(json.dumps, values),
        st.sampled_from([deep_json(100_000), '{"a":' * 2000 + "1" + "}" * 2000, "{", '{"a": NaN}', "1" * 5000]),
    )


@dataclass(frozen=True)
class Fresh:
    """A value the sender makes just before the request: a new login transaction, a live code..."""

    kind: str


def basic_credentials(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def authorization_headers(client_ids: list[str], secrets: dict[str, str], bearer: list[str]) -> st.SearchStrategy[str]:
    """Authorization values: right and wrong credentials, and bytes that are not UTF-8 once decoded."""
    right = st.sampled_from([basic_credentials(cid, secret) for cid, secret in secrets.items()])
    wrong_basic = st.builds(
        lambda user, password: basic_credentials(user, password), mixed(st.sampled_from(client_ids)), hostile()
    )
    raw_basic = st.builds(lambda raw: "Basic " + base64.b64encode(raw).decode(), st.binary(max_size=40))
    not_base64 = st.builds(lambda text: "Basic " + text, latin1())
    bearer_values = st.builds(lambda token: "Bearer " + token, mixed(st.sampled_from(bearer)))
    return st.one_of(right, wrong_basic, raw_basic, not_base64, bearer_values, latin1())


def latin1(max_size: int = 40) -> st.SearchStrategy[str]:
    """A header value as WSGI hands it over: any bytes but CR and LF (no server passes those), as latin-1."""
    raw = st.one_of(
        st.binary(max_size=max_size),
        st.builds(lambda text: text.encode("utf-8"), _TEXT),
        st.sampled_from([b"\xff\xfe", b"\xc3(", b"\xe2\x80", b"\x00", b"a" * 9000]),
    )
    return raw.map(lambda value: value.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1"))


def scopes(names: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(names), max_size=len(names)).map(" ".join)


def ascii_text() -> st.SearchStrategy[str]:
    return _ASCII
