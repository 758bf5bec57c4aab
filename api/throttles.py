"""Request rates, per user for signed-in requests and per IP address otherwise, with stricter scopes for
live inference (every request runs a model) and for whole-source exports. The rates are the
DEFAULT_THROTTLE_RATES of settings.REST_FRAMEWORK, read on every request so that settings overrides apply;
counts live in Django's cache (per process with the local-memory cache, shared with REDIS_URL).

DRF's own throttles keep a list of every request's time in the last period and rewrite it on every request:
at 1,200 an hour that is 1,200 floats read and written per request, and two processes that read the same list
at once lose one of their requests. These count the way the wiki's own rate limits do
(accounts.rate_limits.window_consume): a counter per period (`incr`, atomic on Redis), checked over a sliding
period as this period's count plus the previous one's, weighted by how much of it the sliding period still
covers.
"""

import time

from rest_framework import throttling
from rest_framework.settings import api_settings

from accounts.core.sliding_window import Limit
from accounts.rate_limits import window_consume


class _SlidingWindowCounts:
    """For DRF's SimpleRateThrottle subclasses: the same rates, scopes and keys, counted as above."""

    timer = staticmethod(time.time)

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        limit = Limit(count=self.num_requests, seconds=self.duration)
        self.retry_after = window_consume(self.key, limit, now=self.timer())
        return self.retry_after is None

    def wait(self) -> float:
        return self.retry_after


class UserThrottle(_SlidingWindowCounts, throttling.UserRateThrottle):
    """Signed-in requests (session or API key), counted per user."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class AnonThrottle(_SlidingWindowCounts, throttling.AnonRateThrottle):
    """Anonymous requests, counted per IP address."""

    scope = "anon"


class InferenceUserThrottle(UserThrottle):
    scope = "inference_user"


class InferenceAnonThrottle(AnonThrottle):
    scope = "inference_anon"


class ExportThrottle(_SlidingWindowCounts, throttling.UserRateThrottle):
    """Whole-source exports, per user or (anonymous) per IP address."""

    scope = "export"


INFERENCE_THROTTLES = [UserThrottle, AnonThrottle, InferenceUserThrottle, InferenceAnonThrottle]
EXPORT_THROTTLES = [UserThrottle, AnonThrottle, ExportThrottle]
