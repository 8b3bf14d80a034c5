"""API tokens that expire: DRF's ``Authorization: Token <key>``, refused once older than
``API_TOKEN_LIFETIME`` (the key is made anew by POST /api/v1/auth/token/ or .../rotate/)."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import accounts


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if accounts.token_is_expired(token=token):
            raise AuthenticationFailed(
                f"Token expired on {accounts.token_expires_at(token=token):%Y-%m-%d %H:%M} UTC: "
                "get a new one from POST /api/v1/auth/token/ with your username and password."
            )
        return user, token
