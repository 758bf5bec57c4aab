"""The site keeps answering while Redis is down (a redis-server of the test's own, stopped mid-test): the cache
answers as an empty one, rate limits fail open, /healthz names the cache, and a run page says the broker is
not answering (neuronpedia/redis_cache.py, docs/operations.md)."""

import pytest
from django.test import override_settings

from accounts.rate_limits import parse_limit, window_consume
from features.models import PipelineRun
from tests.hosts import RedisServer, needs_redis_server

pytestmark = [needs_redis_server, pytest.mark.django_db]


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def redis_caches(url: str) -> dict:
    backend = {"BACKEND": "neuronpedia.redis_cache.OutageTolerantRedisCache", "LOCATION": url}
    return {"default": backend, "feature_pages": {**backend, "TIMEOUT": 3600}}


def test_pages_keep_answering_while_redis_is_down_and_say_what_is_degraded(client, redis_server, monkeypatch):
    from django_q.conf import Conf

    run = PipelineRun.objects.create(kind=PipelineRun.Kind.ACTIVATIONS, params={"sync": False}, status="running")
    one_a_minute = parse_limit("1/m")
    monkeypatch.setattr(Conf, "ORM", None)  # the broker is this Redis too, as on a site with REDIS_URL
    monkeypatch.setattr(Conf, "REDIS", redis_server.url)
    with override_settings(CACHES=redis_caches(redis_server.url)):
        assert client.get("/healthz").status_code == 200
        assert window_consume("outage-test", one_a_minute) is None
        assert window_consume("outage-test", one_a_minute) is not None  # counted in Redis: the second is refused
        assert "broker is not answering" not in client.get(run.get_absolute_url()).content.decode()

        redis_server.stop()

        for page in ("/", "/search/?q=cat", "/play/leaderboard/", run.get_absolute_url()):
            assert client.get(page).status_code == 200, page
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["cache"].startswith("failing:") and health.json()["broker"].startswith("failing:")
        assert window_consume("outage-test", one_a_minute) is None  # fails open while Redis is away
        assert "broker is not answering" in client.get(run.get_absolute_url()).content.decode()

        redis_server.start()  # back, empty: everything answers again
        assert client.get("/healthz").status_code == 200
        assert "broker is not answering" not in client.get(run.get_absolute_url()).content.decode()
