"""A hand-built model with two transcoder sources (no model run: graph pages read stored rows only), users, and
a clean cache so that one test's rate limits never throttle the next."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from features.models import Feature, LanguageModel, Source

from .graph_json import circuit_tracer_graph


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
    """`tiny-tc` with sources 0-tc and 1-tc (set `tc`, 8 features each, dictionaries layer0.safetensors and
    layer1.safetensors); features 0-5 of each exist."""
    model = LanguageModel.objects.create(
        slug="tiny-tc", display_name="Tiny TC", path="/tmp/x", architecture="gpt2", n_layers=2, d_model=4, d_mlp=8,
        vocab_size=1000,
    )  # fmt: skip
    for layer in (0, 1):
        source = Source.objects.create(
            model=model, slug=f"{layer}-tc", kind="transcoder", hook_name=f"blocks.{layer}.hook_mlp_in", layer=layer,
            set_name="tc", n_features=8, dictionary_path=f"/data/tc/layer{layer}.safetensors",
        )  # fmt: skip
        Feature.objects.bulk_create(Feature(source=source, index=i) for i in range(6))
    return model


def graph_bytes(**kwargs) -> bytes:
    return json.dumps(circuit_tracer_graph(**kwargs)).encode()
