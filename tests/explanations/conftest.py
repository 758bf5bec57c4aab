"""Fixture users and hand-built features for the community tests (no model run needed), and a clean
cache so that rate limits counted by one test never throttle the next."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from explanations.services import explanations as explanation_services
from features.models import Feature, LanguageModel, Source


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def make_user(username: str, **fields):
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password="pw", **fields
    )


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def moderator(db):
    return make_user("mod", is_staff=True)


def make_model(slug: str) -> LanguageModel:
    return LanguageModel.objects.create(
        slug=slug, display_name=slug, path="/tmp/x", architecture="bert", n_layers=2, d_model=4, d_mlp=8, vocab_size=10
    )


def make_source(model: LanguageModel, slug: str, layer: int) -> Source:
    return Source.objects.create(
        model=model, slug=slug, kind="neurons", hook_name=f"blocks.{layer}.mlp.hook_post", layer=layer,
        set_name="mlp", n_features=8,
    )  # fmt: skip


@pytest.fixture
def feature(db) -> Feature:
    """tiny/0-mlp/3, with neighbours 0-7 in the same source and a second model `other` to filter by."""
    model = make_model("tiny")
    source = make_source(model, "0-mlp", 0)
    Feature.objects.bulk_create(Feature(source=source, index=i) for i in range(8))
    other = make_model("other")
    other_source = make_source(other, "1-mlp", 1)
    Feature.objects.bulk_create(Feature(source=other_source, index=i) for i in range(8))
    return Feature.objects.select_related("source__model").get(source=source, index=3)


@pytest.fixture
def other_feature(feature) -> Feature:
    return Feature.objects.select_related("source__model").get(source__model__slug="other", index=5)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def explain(feature, author, text: str, **fields):
    return explanation_services.explanation_create(feature=feature, author=author, text=text, **fields)
