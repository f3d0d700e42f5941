"""idp: an OpenID Connect identity provider for national eID logins."""

from idp.app import create_app

__all__ = ["create_app"]
