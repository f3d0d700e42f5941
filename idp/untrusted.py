"""Values from outside, checked at the door, whatever page or endpoint they are for.

* No request value (path, query or form) may hold NUL: no form field or protocol
  parameter has one, and PostgreSQL refuses it in text, so a NUL that got as far
  as a query would fail the request with a 500. Refused here as a 400.
* JSON from outside (request bodies, the ``claims`` parameter, JWT parts before
  their signature is checked) is parsed by :func:`json_loads`: too deep a nesting
  is malformed JSON (a ``ValueError``) rather than a ``RecursionError``, and no
  structure deeper than ``MAX_JSON_DEPTH`` is kept, stored or serialised again.

Protocol parameters have their own, stricter rules: ``idp.oidc.parameters``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, request
from flask.json.provider import DefaultJSONProvider

# Claims requests and client metadata (JWK sets in them) nest four or five levels.
MAX_JSON_DEPTH = 32


def json_loads(text: str | bytes) -> Any:
    """``json.loads`` for text from outside; malformed or nested deeper than ``MAX_JSON_DEPTH`` raises ValueError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError("JSON nested too deeply")
    return value


def _depth(value: Any) -> int:
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with :func:`json_loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_loads(s)


def refuse_nul() -> None:
    """``before_request``: a 400 for a NUL anywhere in the path, query or form."""
    pairs = [*request.args.items(multi=True), *request.form.items(multi=True)]
    if "\x00" in request.path or any("\x00" in name or "\x00" in value for name, value in pairs):
        abort(400)
