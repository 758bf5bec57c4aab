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
