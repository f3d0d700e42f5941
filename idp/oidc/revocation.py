"""Token revocation (RFC 7009) with client authentication."""

from __future__ import annotations

import sqlalchemy as sa
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint

from idp.clock import now
from idp.extensions import db
from idp.models import Token
from idp.models.oauth import digest
from idp.oidc.token_lookup import find_token


class RevocationEndpoint(_RevocationEndpoint):
    # Public clients may revoke their own tokens too (RFC 7009 §5).
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        # One query finds either kind, so the hint has nothing left to speed up (RFC 7009 §2.1 lets us ignore it).
        return find_token(token_string)

    def revoke_token(self, token: Token, request) -> None:
        moment = now()
        if token.refresh_token_hash and token.refresh_token_hash == digest(request.form["token"]):
            # A revoked refresh token ends the whole grant, access tokens included (RFC 7009 §2.1).
            db.session.execute(
                sa.update(Token)
                .where(Token.grant_id == token.grant_id, Token.revoked_at.is_(None))
                .values(revoked_at=moment)
            )
        else:
            # Access and refresh token share a row: revoking the access token ends that refresh token too.
            token.revoked_at = moment
        db.session.commit()
