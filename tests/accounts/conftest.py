"""Fixture users and a hand-built feature for the account and profile tests."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.cache import cache

from features.models import Feature, LanguageModel, Source

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """allauth counts logins, signups and confirmation emails in the cache; the local-memory cache
    outlives a test, so without this a test could be throttled by the ones before it."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    user = get_user_model().objects.create_user(username="alice", email="alice@example.com", password=PASSWORD)
    # allauth looks email logins up through its EmailAddress records, as signup would have made them.
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user(username="bob", email="bob@example.com", password=PASSWORD)


@pytest.fixture
def feature(db) -> Feature:
    model = LanguageModel.objects.create(
        slug="m", display_name="m", path="/tmp/x", architecture="bert", n_layers=1, d_model=4, d_mlp=8, vocab_size=10
    )
    source = Source.objects.create(
        model=model,
        slug="0-mlp",
        kind="neurons",
        hook_name="blocks.0.mlp.hook_post",
        layer=0,
        set_name="mlp",
        n_features=8,
    )
    return Feature.objects.create(source=source, index=3)
