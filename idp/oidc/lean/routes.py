"""Which requests the lean paths answer before Flask."""

from __future__ import annotations

from flask import Flask

from idp.oidc.lean import LeanRoutes, Route
from idp.oidc.lean.introspection import introspection
from idp.oidc.lean.token import token
from idp.oidc.lean.userinfo import userinfo


def lean_routes(app: Flask) -> LeanRoutes:
    """``app``'s WSGI app behind the lean token, userinfo and introspection paths."""
    return LeanRoutes(
        app.wsgi_app,
        app,
        {
            "/token": Route("oidc.token", frozenset({"POST"}), token),
            "/userinfo": Route("oidc.userinfo", frozenset({"GET"}), userinfo),
            "/introspect": Route("oidc.introspect", frozenset({"POST"}), introspection),
        },
    )
