"""/healthz: whether this server can reach what it needs, for a load balancer or a person. One small check of
each: the database (a query), the cache (a write read back) and the task broker (django-q2's ping: the ORM
broker is the database; Redis is asked). 200 when all answer, 503 naming the ones that do not."""

import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key, value = f"healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("a value written to the cache did not come back")
    cache.delete(key)


def _broker() -> None:
    from django_q.brokers import get_broker

    if not get_broker().ping():
        raise RuntimeError("the broker did not answer its ping")


CHECKS = {"database": _database, "cache": _cache, "broker": _broker}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure of a dependency is the answer, not a crash
            results[name] = f"failing: {type(error).__name__}: {error}"[:300]
        else:
            results[name] = "ok"
    healthy = all(result == "ok" for result in results.values())
    return JsonResponse({"ok": healthy, **results}, status=200 if healthy else 503)
