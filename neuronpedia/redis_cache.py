"""The Redis cache, tolerant of a Redis outage: the site keeps answering while Redis is down or restarting.

Django's RedisCache raises on every call while Redis is unreachable, which would turn each page that reads the
cache (rendered feature pages, rate limits) into a 500. Here a connection error is logged (once a minute) and
the call answers as an empty cache would: a read misses, a write is dropped, `add` succeeds. So rendered pages
are rendered again, and rate limits are not enforced until Redis is back (they fail open: refusing everyone
would be worse than letting a burst through). /healthz still reports the cache failing (its write does not come
back). Short socket timeouts keep a request from hanging on an unreachable host.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)
LOG_EVERY_S = 60
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


class OutageTolerantRedisCache(RedisCache):
    def __init__(self, server, params):
        params = {**params, "OPTIONS": {**DEFAULT_OPTIONS, **params.get("OPTIONS", {})}}
        super().__init__(server, params)
        self._last_logged = 0.0

    def _outage(self, error: Exception, answer):
        now = time.monotonic()
        if now - self._last_logged > LOG_EVERY_S:
            self._last_logged = now
            logger.warning("Redis cache unreachable (%s): answering as an empty cache", error)
        return answer

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except OUTAGE as error:
            return self._outage(error, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except OUTAGE as error:
            return self._outage(error, {})

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set(key, value, timeout, version)
        except OUTAGE as error:
            return self._outage(error, None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except OUTAGE as error:
            return self._outage(error, list(data))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except OUTAGE as error:
            return self._outage(error, True)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except OUTAGE as error:
            return self._outage(error, delta)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except OUTAGE as error:
            return self._outage(error, False)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except OUTAGE as error:
            return self._outage(error, False)

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except OUTAGE as error:
            return self._outage(error, False)
