"""Request rates, per user for signed-in requests and per IP address otherwise, with stricter scopes for
live inference (every request runs a model) and for whole-source exports. The rates are the
DEFAULT_THROTTLE_RATES of settings.REST_FRAMEWORK, read on every request so that settings overrides apply;
counts live in Django's cache (per process with the local-memory cache, shared with REDIS_URL).

DRF's own throttles keep a list of every request's time in the last period and rewrite it on every request:
at 1,200 an hour that is 1,200 floats read and written per request, and two processes that read the same list
at once lose one of their requests. Here each period is a counter (`incr`, atomic on Redis), and the rate is
checked over a sliding period as this period's count plus the previous period's, weighted by how much of it
the sliding period still covers (the estimate Cloudflare and others use): two small reads and one increment.
"""

import time

from rest_framework import throttling
from rest_framework.settings import api_settings


class _SlidingWindowCounts:
    """For DRF's SimpleRateThrottle subclasses: the same rates, scopes, keys and `wait()`, counted as above."""

    timer = staticmethod(time.time)

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        period = int(now // self.duration)
        self.elapsed = now / self.duration - period  # the share of this period gone, in [0, 1)
        current, previous = f"{self.key}:{period}", f"{self.key}:{period - 1}"
        counts = self.cache.get_many([current, previous])
        self.previous_count = counts.get(previous, 0)
        if current not in counts:
            self.cache.add(current, 0, timeout=2 * self.duration)  # kept while it is the previous period
        try:
            self.count = self.cache.incr(current)
        except ValueError:  # expired between add and incr
            self.cache.set(current, 1, timeout=2 * self.duration)
            self.count = 1
        if self.previous_count * (1 - self.elapsed) + self.count <= self.num_requests:
            return True
        self.cache.decr(current)  # a refused request does not count against the next ones
        self.count -= 1
        return False

    def wait(self) -> float:
        """Seconds until one more request fits: when the previous period's weighted count has fallen enough,
        or, if this period alone is full, into the next period by as much."""
        room = self.num_requests - 1 - self.count
        if room >= 0 and self.previous_count > 0:
            needed = 1 - room / self.previous_count  # the share of this period gone when it fits
            return max((needed - self.elapsed) * self.duration, 1.0)
        next_period_share = 1 - (self.num_requests - 1) / max(self.count, 1)
        return max((1 - self.elapsed + next_period_share) * self.duration, 1.0)


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
