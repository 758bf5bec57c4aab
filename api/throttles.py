"""Request rates, per user for signed-in requests and per IP address otherwise, with stricter scopes for
live inference (every request runs a model) and for whole-source exports. The rates are the
DEFAULT_THROTTLE_RATES of settings.REST_FRAMEWORK, read on every request so that settings overrides apply;
counts live in Django's cache (per process with the local-memory cache, shared with REDIS_URL)."""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _Rates:
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(_Rates, throttling.UserRateThrottle):
    """Signed-in requests (session or API key), counted per user."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class AnonThrottle(_Rates, throttling.AnonRateThrottle):
    """Anonymous requests, counted per IP address."""

    scope = "anon"


class InferenceUserThrottle(UserThrottle):
    scope = "inference_user"


class InferenceAnonThrottle(AnonThrottle):
    scope = "inference_anon"


class ExportThrottle(_Rates, throttling.UserRateThrottle):
    """Whole-source exports, per user or (anonymous) per IP address."""

    scope = "export"


INFERENCE_THROTTLES = [UserThrottle, AnonThrottle, InferenceUserThrottle, InferenceAnonThrottle]
EXPORT_THROTTLES = [UserThrottle, AnonThrottle, ExportThrottle]
