"""UserInfo for an access token in the Authorization header: the same answer the Flask view gives."""

from __future__ import annotations

from idp.oidc import token_store
from idp.oidc import userinfo as answers
from idp.oidc.lean import FallBack, LeanAnswer, LeanRequest


def userinfo(request: LeanRequest) -> LeanAnswer:
    scheme, _sep, value = request.authorization.partition(" ")
    if request.method != "GET" or scheme.lower() != "bearer" or not value.strip():
        raise FallBack
    with token_store.autocommit_connection() as connection:
        status, body, headers = answers.answer(value.strip(), connection=connection)
    if status != 200:
        raise FallBack  # errors have one author: the Flask view
    return LeanAnswer(body, [("Content-Type", "application/json"), *headers])
