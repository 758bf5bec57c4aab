"""The one rate limiter: sliding-window counts kept in Django's cache (the arithmetic is in
accounts/core/sliding_window.py). The wiki's writes, the game, live inference on the pages and the API's
throttles all count through window_consume(). allauth limits signups and logins itself.

The wiki's and the game's limits are settings, WIKI_RATE_LIMITS = {action: "count/period"}, so tests and sites
can change them; an action without a limit is not limited."""

import time

from django.conf import settings
from django.core.cache import cache

from .core.sliding_window import (
    Limit,
    describe_period,
    describe_wait,
    parse_limit,
    seconds_until_allowed,
    sliding_count,
    window_index,
)

ACTION_NOUNS = {  # singular, plural
    "explanation": ("explanation edit", "explanation edits"),
    "comment": ("comment", "comments"),
    "vote": ("vote", "votes"),
    "report": ("report", "reports"),
    "list": ("list change", "list changes"),
    "generate": ("request to generate or score an explanation", "requests to generate or score explanations"),
    "run": ("run", "runs"),  # activation runs and attribution graphs started from a page or the API
}


class RateLimited(Exception):
    def __init__(self, action: str, count: int, seconds: int, retry_after: int) -> None:
        self.action = action
        self.retry_after = retry_after
        singular, plural = ACTION_NOUNS.get(action, ("action", "actions"))
        super().__init__(
            f"Slow down a little: you can make {count} {singular if count == 1 else plural} "
            f"{describe_period(seconds)}. Try again in {describe_wait(retry_after)}."
        )


def rate_limit_consume(*, action: str, key: str) -> None:
    """Count one `action` by `key` (a user id); RateLimited, not counted, once over the limit."""
    text = settings.WIKI_RATE_LIMITS.get(action)
    if not text:
        return
    limit = parse_limit(text)
    retry_after = window_consume(f"wiki-rate:{action}:{key}", limit)
    if retry_after is not None:
        raise RateLimited(action, limit.count, limit.seconds, retry_after)


def window_consume(prefix: str, limit: Limit, now: float | None = None) -> int | None:
    """Count one request under `prefix` against `limit`, in the cache: None if it fits, else (not counted) the
    whole seconds until one more would. Also the API's throttles (api/throttles.py)."""
    now = time.time() if now is None else now
    window = window_index(now, limit)
    prefix = f"{prefix}:{limit.seconds}"
    current_key = f"{prefix}:{window}"
    # Counted first and taken back if refused, so that two requests at once cannot both slip under it.
    if cache.add(current_key, 1, timeout=2 * limit.seconds + 1):
        current = 1
    else:
        try:
            current = cache.incr(current_key)
        except ValueError:  # expired between add() and incr()
            cache.add(current_key, 1, timeout=2 * limit.seconds + 1)
            current = 1
    previous = cache.get(f"{prefix}:{window - 1}", 0)
    if sliding_count(previous, current, now, limit) <= limit.count:
        return None
    try:
        cache.decr(current_key)
    except ValueError:
        pass
    return seconds_until_allowed(previous, current - 1, now, limit)
