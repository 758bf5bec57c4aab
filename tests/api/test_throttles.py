"""Request rates: per user when signed in, per IP address otherwise, stricter for live inference and exports."""

import copy

import pytest
from django.conf import settings
from django.test import override_settings

from .conftest import error_of, key_client


def rates(**changes) -> dict:
    config = copy.deepcopy(settings.REST_FRAMEWORK)
    config["DEFAULT_THROTTLE_RATES"].update(changes)
    return config


@pytest.fixture
def low_rates():
    with override_settings(REST_FRAMEWORK=rates(user="3/m", anon="2/m", inference_user="1/m", inference_anon="1/m")):
        yield


def test_anonymous_requests_are_counted_per_ip(anon, toy, low_rates):
    for _ in range(2):
        assert anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.1").status_code == 200
    response = anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled" and error["details"]["retry_after"] > 0
    assert int(response["Retry-After"]) > 0
    assert anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_signed_in_requests_are_counted_per_user(alice_key, bob_key, toy, low_rates):
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # a user's count follows them across addresses
        assert key_client(alice_key).get("/api/v1/models/", REMOTE_ADDR=address).status_code == 200
    assert key_client(alice_key).get("/api/v1/models/", REMOTE_ADDR="10.0.0.4").status_code == 429
    assert key_client(bob_key).get("/api/v1/models/", REMOTE_ADDR="10.0.0.1").status_code == 200


def test_inference_has_its_own_stricter_rate(as_alice, toy, low_rates, monkeypatch):
    from features import inference

    monkeypatch.setattr(inference, "feature_activations", lambda feature, text: _fake_activations())
    url = f"/api/v1/features/{toy['features'][1].pk}/activate/"
    assert as_alice.post(url, {"text": "hi"}, format="json").status_code == 200
    response = as_alice.post(url, {"text": "hi"}, format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert as_alice.get("/api/v1/models/").status_code == 200  # reads are still allowed


def test_neuronpedia_routes_are_throttled_with_429(as_alice, toy, low_rates):
    for _ in range(3):
        assert as_alice.get("/api/feature/toy/0-mlp/1").status_code == 200
    response = as_alice.get("/api/feature/toy/0-mlp/1")
    assert response.status_code == 429
    error_of(response)


def test_exports_have_their_own_rate(anon, toy):
    with override_settings(REST_FRAMEWORK=rates(export="1/h")):
        assert anon.get("/api/v1/export/toy/0-mlp/features.jsonl").status_code == 200
        assert anon.get("/api/v1/export/toy/0-mlp/features.jsonl").status_code == 429


@pytest.fixture
def clock(monkeypatch):
    """The throttles' time, set by the test: now[0] seconds since the epoch."""
    from api import throttles

    now = [6_000_000.0]  # the start of a minute
    monkeypatch.setattr(throttles._SlidingWindowCounts, "timer", staticmethod(lambda: now[0]))
    return now


def test_the_rate_holds_over_a_sliding_period_not_per_calendar_minute(anon, toy, low_rates, clock):
    def status() -> int:
        return anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.9").status_code

    clock[0] += 59  # two requests in the last second of a minute ...
    assert [status(), status()] == [200, 200]
    clock[0] += 2  # ... and one in the first second of the next: three within two seconds, over 2/m
    refused = anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.9")
    assert refused.status_code == 429
    # The previous minute's 2 weigh 2 * (1 - share of this minute gone); one more fits once that is at most 1,
    # half way through the minute: 29 s from now (DRF rounds up whole seconds).
    assert 29 <= int(refused["Retry-After"]) <= 30
    clock[0] += 28
    assert status() == 429
    clock[0] += 2
    assert status() == 200
    assert status() == 429  # 2 * (1 - 31/60) + 1 = 1.97, and one more would be 2.97


def test_refused_requests_do_not_count_against_the_next_period(anon, toy, low_rates, clock):
    def status() -> int:
        return anon.get("/api/v1/models/", REMOTE_ADDR="10.0.0.8").status_code

    assert [status() for _ in range(10)] == [200, 200] + [429] * 8
    clock[0] += 60 + 45  # three quarters into the next minute: the 2 counted weigh 0.5
    assert [status(), status()] == [200, 429]


def _fake_activations():
    from features.inference import TokenActivations

    return TokenActivations(tokens=["a"], values=[1.0], max_value=1.0, max_index=0)
