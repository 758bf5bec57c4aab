"""Fixtures for the API tests: users with API keys, a hand-built source (no model run, so most tests are
quick), and a clean cache so that the throttles and the wiki's rate limits of one test never reach the next."""

from array import array

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import api_key_create
from explanations.models import Comment, Explanation, ExplanationRevision
from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, Source
from scoring.models import ExplanationScore


@pytest.fixture(autouse=True)
def fresh_cache():
    """Also forget the process's window tokens: test databases roll back, so window ids come round again."""
    from api.selectors import window_tokens

    cache.clear()
    window_tokens.entries.clear()
    yield
    cache.clear()
    window_tokens.entries.clear()


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
def staff(db):
    return make_user("staff", is_staff=True)


@pytest.fixture
def alice_key(alice) -> str:
    return api_key_create(user=alice, name="tests")[1]


@pytest.fixture
def bob_key(bob) -> str:
    return api_key_create(user=bob, name="tests")[1]


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def key_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


@pytest.fixture
def as_alice(alice_key) -> APIClient:
    return key_client(alice_key)


@pytest.fixture
def as_bob(bob_key) -> APIClient:
    return key_client(bob_key)


@pytest.fixture
def as_staff(staff) -> APIClient:
    return key_client(api_key_create(user=staff, name="tests")[1])


def pack(values) -> bytes:
    return array("f", values).tobytes()


def make_model(slug: str = "toy", path: str = "/nonexistent/toy") -> LanguageModel:
    return LanguageModel.objects.create(
        slug=slug, display_name=slug.title(), path=path, architecture="bert", n_layers=2, d_model=4, d_mlp=8,
        vocab_size=10,
    )  # fmt: skip


def make_source(model: LanguageModel, slug: str = "0-mlp", layer: int = 0, **fields) -> Source:
    defaults = {"kind": "neurons", "hook_name": f"blocks.{layer}.mlp.hook_post", "set_name": "mlp", "n_features": 8}
    return Source.objects.create(model=model, slug=slug, layer=layer, **{**defaults, **fields})


def make_examples(feature: Feature, windows: list[ContextWindow], *, scale: float = 1.0) -> None:
    """Two top examples and two intervals of one sample each, on shared windows."""
    rows = [
        ("top", 0, None, [0.0, 2.5 * scale, 0.5, 0.0]),
        ("top", 1, None, [0.0, 0.0, 1.5 * scale, 0.25]),
        ("interval", 0, 0, [0.0, 0.125, 0.0, 0.0]),
        ("interval", 0, 1, [0.0, 0.0, 0.0, 1.25 * scale]),
    ]
    for position, (kind, rank, interval, values) in enumerate(rows):
        ActivationExample.objects.create(
            feature=feature,
            window=windows[position % len(windows)],
            kind=kind,
            rank=rank,
            values=pack(values),
            max_value=max(values),
            max_token_index=values.index(max(values)),
            interval_index=interval,
            bin_min=None if interval is None else interval * 1.0,
            bin_max=None if interval is None else interval * 1.0 + 1.0,
            bin_contains=None if interval is None else 0.5 - interval * 0.25,
        )


@pytest.fixture
def toy(db):
    """Model `toy` with sources 0-mlp (features 0-7, each with examples; feature 3 explained, scored and
    commented) and 1-mlp (features 0-3), and a second model `other` with one source, to filter by."""
    model = make_model("toy")
    source = make_source(model, "0-mlp", 0)
    second = make_source(model, "1-mlp", 1, n_features=4)
    windows = [
        ContextWindow.objects.create(
            model=model,
            corpus_key="k",
            position=i,
            token_ids=[101, i, i + 1, 102],
            tokens=["[CLS]", f"w{i}", "é", "[SEP]"],
        )
        for i in range(3)
    ]
    features = Feature.objects.bulk_create(
        Feature(
            source=source,
            index=i,
            max_activation=float(i),
            density=i / 100,
            histogram={"bin_width": 0.5, "counts": [5, 3, i]},
            top_logits=[{"token": "cat", "id": 7, "value": 0.5}],
            bottom_logits=[{"token": "dog", "id": 8, "value": -0.5}],
            similar=[{"index": (i + 1) % 8, "similarity": 0.25}],
        )
        for i in range(8)
    )
    Feature.objects.bulk_create(Feature(source=second, index=i, max_activation=1.0) for i in range(4))
    for feature in features:
        make_examples(feature, windows, scale=1 + feature.index)
    other = make_model("other")
    make_source(other, "0-mlp", 0)
    Feature.objects.create(source=other.sources.get(), index=0)
    return {"model": model, "source": source, "second": second, "features": features, "windows": windows}


def add_explanation(feature: Feature, text: str, *, author=None, method: str = "", **fields) -> Explanation:
    explanation = Explanation.objects.create(feature=feature, author=author, method=method, **fields)
    revision = ExplanationRevision.objects.create(explanation=explanation, text=text, author=author)
    explanation.current_revision = revision
    explanation.save(update_fields=["current_revision"])
    return explanation


@pytest.fixture
def explained(toy, alice):
    """Feature toy/0-mlp/3 with a human explanation (alice, scored twice by `simulation`), a machine one
    (token-stats) and a hidden one; and a comment by alice."""
    feature = toy["features"][3]
    human = add_explanation(feature, "the letter w before a digit", author=alice)
    ExplanationScore.objects.create(explanation=human, scorer="simulation", value=0.25)
    ExplanationScore.objects.create(explanation=human, scorer="simulation", value=0.5)
    ExplanationScore.objects.create(explanation=human, scorer="detection", value=0.75)
    machine = add_explanation(feature, "tokens after CLS", method="token-stats", explainer_model="")
    hidden = add_explanation(feature, "rude words", author=alice, hidden=True)
    comment = Comment.objects.create(feature=feature, author=alice, body="Fires on *w* tokens.")
    return {"feature": feature, "human": human, "machine": machine, "hidden": hidden, "comment": comment}


def error_of(response) -> dict:
    """The error body every API error has; fails if the response has any other shape."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
