"""/healthz answers 200 when the database, the cache and the broker answer, and 503 naming what does not."""

import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_it_reports_each_dependency_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok", "cache": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_cache_that_loses_what_is_written_is_a_503_that_says_so(client):
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["cache"].startswith("failing:") and body["database"] == "ok"


def test_a_database_it_cannot_reach_is_a_503_not_a_crash(client):
    # Without the django_db mark every query is refused, as an unreachable database would be.
    response = client.get("/healthz")

    assert response.status_code == 503 and response.json()["database"].startswith("failing:")


CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every connection is refused at once


@pytest.mark.django_db
def test_a_redis_cache_on_a_closed_port_is_a_503_naming_the_cache(client):
    redis_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CLOSED_PORT}
    with override_settings(CACHES={"default": redis_cache}):
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["cache"].startswith("failing: ConnectionError") and body["database"] == body["broker"] == "ok"


@pytest.mark.django_db
def test_a_redis_broker_on_a_closed_port_is_a_503_naming_the_broker(client, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", CLOSED_PORT)
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("failing: ConnectionError") and body["database"] == body["cache"] == "ok"


@pytest.mark.django_db
def test_it_writes_nothing_to_the_database(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(1) as queries:
        assert client.get("/healthz").status_code == 200
    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 1"]
