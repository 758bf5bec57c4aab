"""A hand-built model with two transcoder sources (no model run: graph pages read stored rows only), users, and
a clean cache so that one test's rate limits never throttle the next."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from features.models import LanguageModel

from .graph_json import circuit_tracer_graph, make_tc_model


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(username="alice", email="alice@example.com", password="pw")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def tc_model(db) -> LanguageModel:
    return make_tc_model()


def graph_bytes(**kwargs) -> bytes:
    return json.dumps(circuit_tracer_graph(**kwargs)).encode()
