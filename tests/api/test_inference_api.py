"""Live inference through the API: a feature on a text, the top features of a text, steering."""

import pytest

from features import inference
from features.models import Feature
from features.services import activation_runs, registration

from .conftest import error_of, make_model, make_source

TEXT = "The black cat sat on the warm mat."


@pytest.fixture
def gpt2_run(db, tiny_gpt2_dir, sample_corpus_file):
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    run = activation_runs.activation_run_create(
        model=model, layers=[0], corpus=str(sample_corpus_file), n_windows=8, window_len=16, top_k=3, sync=True
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run


def test_a_features_activations_on_a_text(anon, computed_run):
    feature = Feature.objects.select_related("source__model").get(source__slug="0-mlp", index=5)
    response = anon.post(f"/api/v1/features/{feature.pk}/activate/", {"text": TEXT}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    expected = inference.feature_activations(feature, TEXT)
    assert body["tokens"] == expected.tokens and body["values"] == pytest.approx(expected.values)
    assert body["max_index"] == expected.max_index


def test_inference_input_errors_are_400s(anon, computed_run):
    feature = Feature.objects.get(source__slug="0-mlp", index=5)
    url = f"/api/v1/features/{feature.pk}/activate/"
    for payload in ({"text": "   "}, {"text": "x" * 5000}, {}, {"text": ["a"]}):
        response = anon.post(url, payload, format="json")
        assert response.status_code == 400, payload
        assert error_of(response)["code"] == "invalid"
    assert anon.post("/api/v1/features/99999999/activate/", {"text": TEXT}, format="json").status_code == 404


def test_a_model_without_a_checkpoint_cannot_run(anon, db):
    model = make_model("imported", path="")
    feature = Feature.objects.create(source=make_source(model), index=0)
    response = anon.post(f"/api/v1/features/{feature.pk}/activate/", {"text": TEXT}, format="json")
    assert response.status_code == 400
    assert "imported" in error_of(response)["message"]


def test_top_features_for_a_text(anon, computed_run):
    response = anon.post(
        "/api/v1/models/tiny-bert/top-features/", {"text": TEXT, "k": 3, "sources": ["2-mlp"]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["per_token"]) == len(body["tokens"]) and 0 < len(body["overall"]) <= 3
    assert {hit["source"] for hit in body["overall"]} == {"2-mlp"}
    assert body["overall"][0]["page"].startswith("/tiny-bert/2-mlp/")
    assert (
        anon.post(
            "/api/v1/models/tiny-bert/top-features/", {"text": TEXT, "sources": ["9-x"]}, format="json"
        ).status_code
        == 400
    )
    assert anon.post("/api/v1/models/nope/top-features/", {"text": TEXT}, format="json").status_code == 404
    assert anon.post("/api/v1/models/tiny-bert/top-features/", {"text": TEXT, "k": 0}, format="json").status_code == 400


def test_steering_with_strength_zero_is_plain_generation(anon, gpt2_run):
    payload = {
        "prompt": "The cat",
        "features": [{"source": "0-mlp", "index": 3, "strength": 0}],
        "max_new_tokens": 5,
        "temperature": 0,
        "seed": 1,
    }
    response = anon.post("/api/v1/models/tiny-gpt2/steer/", payload, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["steered"] == body["plain"] and body["prompt"] == "The cat"


def test_steering_errors(anon, gpt2_run, computed_run):
    base = {"prompt": "The cat", "max_new_tokens": 5}
    missing = {**base, "features": [{"source": "0-mlp", "index": 999, "strength": 1}]}
    assert anon.post("/api/v1/models/tiny-gpt2/steer/", missing, format="json").status_code == 400
    strong = {**base, "features": [{"source": "0-mlp", "index": 1, "strength": 1e9}]}
    assert anon.post("/api/v1/models/tiny-gpt2/steer/", strong, format="json").status_code == 400
    encoder = {**base, "features": [{"source": "0-mlp", "index": 1, "strength": 1}]}
    response = anon.post("/api/v1/models/tiny-bert/steer/", encoder, format="json")
    assert response.status_code == 400  # BERT has no language-model head
    assert "causal" in error_of(response)["message"]


def test_steering_takes_json_only_and_its_schema_says_so(anon, gpt2_run):
    """Its features are a list of objects, which a form cannot carry: a form body is a 415, not a 400 about a
    missing field the client did send."""
    schema = anon.get("/api/v1/schema/?format=json").json()
    body = schema["paths"]["/api/v1/models/{model_slug}/steer/"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/json"]
    response = anon.post("/api/v1/models/tiny-gpt2/steer/", {"prompt": "The cat", "features": "x"})  # multipart
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"
