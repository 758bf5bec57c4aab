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


@pytest.fixture
def traceable_gpt2(tiny_gpt2_dir, tmp_path, db) -> LanguageModel:
    """The tiny GPT-2 registered with what a graph can be traced from: a transcoder per layer, a residual SAE
    before block 1 (spliced mid-graph when chosen), and an SAE on block 0's MLP output (which cannot stand in a
    graph: not on the residual stream)."""
    from features.services.registration import dictionary_register, model_register
    from tests.circuits.tiny_circuits import save_tiny_transcoders
    from tests.conftest import save_tiny_dictionary

    model = model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    for layer, path in enumerate(save_tiny_transcoders(tmp_path)):
        dictionary_register(model=model, path=str(path), slug=f"{layer}-tc")
    for slug, hook in (("1-res", "blocks.1.hook_resid_pre"), ("0-mlpout", "blocks.0.hook_mlp_out")):
        directory = save_tiny_dictionary(
            tmp_path / slug, "standard", d_in=32, d_sae=24, hook_name=hook, encoder_scale=30.0
        )
        dictionary_register(model=model, path=str(directory), slug=slug)
    return model
