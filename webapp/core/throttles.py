"""Request rates: writes per user (reads are never throttled) and anonymous requests per address.

Rates come from settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (THROTTLE_USER_WRITE_RATE,
THROTTLE_ANON_RATE), read on each request rather than frozen when the class is imported.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _RateFromSettings:
    scope: str  # set by the throttle class it is mixed into

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AnonymousRateThrottle(_RateFromSettings, AnonRateThrottle):
    """Anonymous requests per client address (in practice the token endpoint: all else needs a login)."""

    scope = "anon"


class UserWriteRateThrottle(_RateFromSettings, UserRateThrottle):
    """Unsafe methods (POST, PUT, PATCH, DELETE) per user."""

    scope = "user_write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
