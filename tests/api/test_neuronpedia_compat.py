"""Neuronpedia's paths and shapes: each request here is byte for byte what the official client (neuronpedia
1.2.1, requests/*.py) sends — its payload keys, its paths with and without a trailing slash, X-Api-Key on
every request — and each assertion reads what the client reads from the answer."""

import pytest

from explanations.models import FeatureList, FeatureListItem
from features.models import ActivationExample, Feature, LanguageModel, Source

from .conftest import error_of

TEXT = "The black cat sat on the warm mat."


def test_get_feature_has_what_the_client_reads(as_alice, toy, explained):
    response = as_alice.get("/api/feature/toy/0-mlp/3")
    assert response.status_code == 200
    result = response.json()
    # FeatureRequest.get: modelId, layer, index, frac_nonzero, explanations[], activations[].
    assert (result["modelId"], result["layer"], result["index"], result["frac_nonzero"]) == ("toy", "0-mlp", "3", 0.03)
    assert {e["description"] for e in result["explanations"]} == {"the letter w before a digit", "tokens after CLS"}
    for explanation in result["explanations"]:
        assert {"modelId", "source", "index", "description", "typeName", "explanationModelName"} <= set(explanation)
    assert len(result["activations"]) == 4
    for activation in result["activations"]:
        assert len(activation["tokens"]) == len(activation["values"])
        assert {"modelId", "source", "index", "binMax", "binMin", "binContains"} <= set(activation)
        assert activation["binContains"] is None or 0 <= activation["binContains"] <= 1
    assert result["activations"][0]["binMax"] is None  # top examples first
    assert result["pos_str"] == ["cat"] and result["neg_values"] == [-0.5]
    assert as_alice.get("/api/feature/toy/0-mlp/3/").status_code == 200


def test_get_feature_errors_are_what_the_client_expects(anon, as_alice, toy):
    assert as_alice.get("/api/feature/toy/0-mlp/99").status_code == 404
    assert as_alice.get("/api/feature/nope/0-mlp/1").status_code == 404
    anon.credentials(HTTP_X_API_KEY="not-a-key")
    response = anon.get("/api/feature/toy/0-mlp/1")
    assert response.status_code == 401
    error_of(response)


def test_activation_new_for_one_text_and_for_several(as_alice, computed_run):
    feature = {"modelId": "tiny-bert", "layer": "0-mlp", "index": "5"}
    response = as_alice.post("/api/activation/new", {"feature": feature, "customText": TEXT}, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert len(result["tokens"]) == len(result["values"]) and result["tokens"][1].strip() == "the"
    response = as_alice.post("/api/activation/new", {"feature": feature, "customText": [TEXT, "cats"]}, format="json")
    results = response.json()
    assert isinstance(results, list) and len(results) == 2 and results[0]["values"] == result["values"]


@pytest.mark.parametrize(
    "payload, status",
    [
        ({"feature": {"modelId": "tiny-bert", "layer": "0-mlp", "index": "999"}, "customText": TEXT}, 404),
        ({"feature": {"modelId": "tiny-bert", "layer": "0-mlp", "index": "x"}, "customText": TEXT}, 400),
        ({"feature": {"modelId": "tiny-bert", "layer": "0-mlp", "index": "1"}, "customText": ""}, 400),
        ({"feature": {"modelId": "tiny-bert", "layer": "0-mlp", "index": "1"}, "customText": [1]}, 400),
        ({"feature": {"modelId": "tiny-bert", "layer": "0-mlp", "index": "1"}, "customText": ["a"] * 9}, 400),
        ({"feature": "tiny-bert/0-mlp/1", "customText": TEXT}, 400),
        ({"customText": TEXT}, 400),
    ],
)
def test_activation_new_errors(as_alice, computed_run, payload, status):
    response = as_alice.post("/api/activation/new", payload, format="json")
    assert response.status_code == status, response.content
    error_of(response)


def test_search_all_for_one_text_and_several(as_alice, computed_run):
    payload = {
        "text": TEXT,
        "modelId": "tiny-bert",
        "sourceSet": "mlp",
        "selectedLayers": ["0-mlp"],
        "ignoreBos": True,
        "sortIndexes": [],
        "densityThreshold": -1,
        "numResults": 5,
    }
    response = as_alice.post("/api/search-all/", payload, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert 0 < len(data["result"]) <= 5
    for item in data["result"]:
        assert item["modelId"] == "tiny-bert" and item["layer"] == "0-mlp"
        assert len(item["values"]) == len(data["tokens"])
    maxima = [max(item["values"]) for item in data["result"]]
    assert maxima == sorted(maxima, reverse=True)
    several = as_alice.post("/api/search-all/", {**payload, "text": [TEXT, "dogs"]}, format="json").json()
    assert [len(r["tokens"]) > 0 for r in several["results"]] == [True, True]
    whole_set = as_alice.post("/api/search-all/", {**payload, "selectedLayers": []}, format="json").json()
    assert {item["layer"] for item in whole_set["result"]} <= {"0-mlp", "2-mlp"}
    sorted_by = as_alice.post("/api/search-all/", {**payload, "sortIndexes": [2]}, format="json").json()
    at_two = [item["values"][2] for item in sorted_by["result"]]
    assert at_two == sorted(at_two, reverse=True)


def test_search_all_runs_the_model_once_per_text_and_gives_each_features_own_values(
    as_alice, computed_run, monkeypatch
):
    from features import inference

    forward_passes = []
    capture = inference.capture_activations
    monkeypatch.setattr(
        inference, "capture_activations", lambda *args, **kwargs: forward_passes.append(1) or capture(*args, **kwargs)
    )
    payload = {"text": [TEXT, "dogs and cats"], "modelId": "tiny-bert", "sourceSet": "mlp", "numResults": 8}
    response = as_alice.post("/api/search-all/", payload, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(forward_passes) == 2  # one per text, for the 16 hits of two sources
    assert [len(result["result"]) for result in results] == [8, 8]
    assert {item["layer"] for result in results for item in result["result"]} == {"0-mlp", "2-mlp"}
    for text, result in zip(payload["text"], results, strict=True):
        for item in result["result"]:
            feature = {"modelId": "tiny-bert", "layer": item["layer"], "index": item["index"]}
            alone = as_alice.post("/api/activation/new", {"feature": feature, "customText": text}, format="json")
            expected = alone.json()
            for key in ("tokens", "values", "maxValue", "maxValueTokenIndex", "minValue"):
                assert item[key] == expected[key], (item["layer"], item["index"], key)


def test_search_all_errors(as_alice, computed_run):
    base = {"text": TEXT, "modelId": "tiny-bert", "sourceSet": "mlp", "selectedLayers": ["0-mlp"]}
    assert as_alice.post("/api/search-all/", {**base, "modelId": "nope"}, format="json").status_code == 404
    assert as_alice.post("/api/search-all/", {**base, "selectedLayers": ["9-mlp"]}, format="json").status_code == 404
    assert (
        as_alice.post("/api/search-all", {**base, "selectedLayers": [], "sourceSet": "x"}, format="json").status_code
        == 404
    )
    assert as_alice.post("/api/search-all", {**base, "numResults": 10**6}, format="json").status_code == 400
    assert as_alice.post("/api/search-all", {**base, "sortIndexes": "0"}, format="json").status_code == 400
    assert as_alice.post("/api/search-all", {**base, "densityThreshold": "x"}, format="json").status_code == 400


def test_search_topk_by_token(as_alice, computed_run):
    payload = {"modelId": "tiny-bert", "source": "2-mlp", "text": TEXT, "numResults": 3, "ignoreBos": True,
               "densityThreshold": 0.0}  # fmt: skip
    data = as_alice.post("/api/search-topk-by-token/", payload, format="json").json()
    assert [item["position"] for item in data["results"]] == list(range(len(data["results"])))
    assert any(item["topFeatures"] for item in data["results"])
    for item in data["results"]:
        assert len(item["topFeatures"]) <= 3
        assert all({"featureIndex", "activationValue"} <= set(f) for f in item["topFeatures"])
    several = as_alice.post("/api/search-topk-by-token/", {**payload, "text": [TEXT, TEXT]}, format="json").json()
    assert len(several["results"]) == 2 and several["results"][0]["results"] == data["results"]
    assert as_alice.post("/api/search-topk-by-token/", {**payload, "source": "x"}, format="json").status_code == 404


def test_list_new_add_get_and_owned(as_alice, as_bob, toy):
    created = as_alice.post("/api/list/new", {"name": "Cats", "description": "feline"}, format="json").json()
    assert created["name"] == "Cats" and created["description"] == "feline"
    items = [
        {"modelId": "toy", "layer": "0-mlp", "index": "3", "description": "w feature"},
        {"modelId": "toy", "layer": "1-mlp", "index": 2, "description": ""},
    ]
    added = as_alice.post("/api/list/add-features", {"listId": created["id"], "featuresToAdd": items}, format="json")
    assert added.status_code == 200, added.content
    assert [(i["modelId"], i["layer"], i["index"]) for i in added.json()] == [
        ("toy", "0-mlp", "3"),
        ("toy", "1-mlp", "2"),
    ]
    got = as_alice.post("/api/list/get", {"listId": created["id"]}, format="json").json()
    assert got["id"] == created["id"] and [n["index"] for n in got["neurons"]] == ["3", "2"]
    assert FeatureListItem.objects.get(feature__index=3, feature__source__slug="0-mlp").note == "w feature"
    owned = as_alice.post("/api/list/list", format="json").json()
    assert [entry["id"] for entry in owned] == [created["id"]]
    # Someone else's private list: not found; and not theirs to change.
    assert as_bob.post("/api/list/get", {"listId": created["id"]}, format="json").status_code == 404
    response = as_bob.post("/api/list/add-features", {"listId": created["id"], "featuresToAdd": items}, format="json")
    assert response.status_code == 404
    FeatureList.objects.filter(pk=created["id"]).update(is_public=True)
    assert as_bob.post("/api/list/get", {"listId": created["id"]}, format="json").status_code == 200
    response = as_bob.post("/api/list/add-features", {"listId": created["id"], "featuresToAdd": items}, format="json")
    assert response.status_code == 403


def test_list_errors(as_alice, anon, toy):
    assert anon.post("/api/list/new", {"name": "x"}, format="json").status_code == 401
    assert as_alice.post("/api/list/get", {"listId": "clxyz"}, format="json").status_code == 404
    list_id = as_alice.post("/api/list/new", {"name": "L"}, format="json").json()["id"]
    missing = [{"modelId": "toy", "layer": "0-mlp", "index": "99"}]
    assert (
        as_alice.post(
            "/api/list/add-features", {"listId": list_id, "featuresToAdd": missing}, format="json"
        ).status_code
        == 404
    )
    assert (
        as_alice.post("/api/list/add-features", {"listId": list_id, "featuresToAdd": []}, format="json").status_code
        == 400
    )


def test_the_upload_flow_model_source_set_features_activations(as_alice, as_bob):
    model = as_alice.post("/api/model/new", {"id": "pup-xl", "layers": 3, "displayName": "Puppy XL", "url": None},
                          format="json")  # fmt: skip
    assert model.status_code == 200, model.content
    assert (model.json()["id"], model.json()["layers"], model.json()["displayName"]) == ("pup-xl", 3, "Puppy XL")
    assert LanguageModel.objects.get(slug="pup-xl").path == ""
    payload = {"name": "puppyscope-res-2k", "modelId": "pup-xl", "description": None, "url": None}
    source_set = as_alice.post("/api/source-set/new", payload, format="json").json()
    assert [s["id"] for s in source_set["sources"]] == [
        "0-puppyscope-res-2k",
        "1-puppyscope-res-2k",
        "2-puppyscope-res-2k",
    ]
    assert source_set["urls"] == []
    fetched = as_alice.get("/api/source-set/pup-xl/puppyscope-res-2k").json()
    assert fetched["name"] == "puppyscope-res-2k" and len(fetched["sources"]) == 3

    features_payload = {
        "modelId": "pup-xl",
        "source": "1-puppyscope-res-2k",
        "features": [
            {
                "index": 0,
                "density": 0.03,
                "activations": [
                    {
                        "tokens": ["my", " border", " collie"],
                        "values": [0, 2.5, 5.3],
                        "quantileMax": 6,
                        "quantileMin": 5,
                        "quantileFraction": 0.1,
                    },
                    {
                        "tokens": ["the", " golden", " retriever"],
                        "values": [0.2, 3.1, 4.8],
                        "quantileMax": 5,
                        "quantileMin": 4,
                        "quantileFraction": 0.05,
                    },
                ],  # fmt: skip
                "explanations": [{"text": "magic dog", "methodName": None, "modelName": None}],
                "topLogits": [{"token": "dog", "value": 0.9}, {"token": "cat", "value": 0.7}],
                "bottomLogits": [{"token": "car", "value": -1.1}],
            },
            {
                "index": 1,
                "density": 0.05,
                "activations": [
                    {
                        "tokens": ["my", " tabby", " cat"],
                        "values": [0, 1.5, 3.2],
                        "quantileMax": None,
                        "quantileMin": None,
                        "quantileFraction": None,
                    },
                ],  # fmt: skip
                "explanations": [{"text": "cats", "methodName": "oai_token-act-pair", "modelName": "gpt-4o"}],
                "topLogits": None,
                "bottomLogits": None,
            },
        ],
    }
    response = as_alice.post("/api/feature/upload-batch", features_payload, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["features"] == 2 and response.json()["activations"] == 3
    dog = Feature.objects.get(source__slug="1-puppyscope-res-2k", index=0)
    assert dog.density == 0.03 and dog.max_activation == pytest.approx(5.3)
    assert dog.top_logits == [{"token": "dog", "value": 0.9}, {"token": "cat", "value": 0.7}]
    assert [(e.kind, e.interval_index, e.bin_min) for e in dog.examples.order_by("interval_index")] == [
        ("interval", 0, 4.0),
        ("interval", 1, 5.0),
    ]
    assert dog.explanations.get().author.username == "alice"
    cat = Feature.objects.get(source__slug="1-puppyscope-res-2k", index=1)
    assert cat.explanations.get().method == "oai_token-act-pair"
    assert Source.objects.get(slug="1-puppyscope-res-2k").n_features == 2
    # The same batch again replaces the examples and adds no explanation.
    as_alice.post("/api/feature/upload-batch", features_payload, format="json")
    assert ActivationExample.objects.count() == 3 and dog.explanations.count() == 1

    more = {"modelId": "pup-xl", "source": "1-puppyscope-res-2k", "index": "1",
            "activations": [{"tokens": ["a", "cat"], "values": [0.5, 9.0]}]}  # fmt: skip
    response = as_alice.post("/api/activation/upload-batch", more, format="json")
    assert response.status_code == 200 and response.json()["count"] == 1
    cat.refresh_from_db()
    assert cat.max_activation == 9.0
    assert [e.rank for e in cat.examples.filter(kind="top").order_by("rank")] == [0, 1]
    fetched = as_alice.get("/api/feature/pup-xl/1-puppyscope-res-2k/1").json()
    assert len(fetched["activations"]) == 2 and fetched["explanations"][0]["description"] == "cats"

    # Only the creator of a source set uploads to it.
    assert as_bob.post("/api/feature/upload-batch", features_payload, format="json").status_code == 403
    assert as_bob.post("/api/activation/upload-batch", more, format="json").status_code == 403


@pytest.mark.parametrize(
    "payload",
    [
        {"modelId": "toy", "source": "0-mlp", "features": []},
        {"modelId": "toy", "source": "0-mlp", "features": [{"index": 0}] * 129},
        {"modelId": "toy", "source": "0-mlp", "features": [{"index": -1}]},
        {"modelId": "toy", "source": "0-mlp", "features": [{"index": 0, "density": 2}]},
        {
            "modelId": "toy",
            "source": "0-mlp",
            "features": [{"index": 0, "activations": [{"tokens": ["a"], "values": [1, 2]}]}],
        },
        {
            "modelId": "toy",
            "source": "0-mlp",
            "features": [{"index": 0, "activations": [{"tokens": ["a"], "values": [1e300]}]}],
        },
        {
            "modelId": "toy",
            "source": "0-mlp",
            "features": [{"index": 0, "activations": [{"tokens": ["a"], "values": [1], "quantileMin": 1}]}],
        },
        {
            "modelId": "toy",
            "source": "0-mlp",
            "features": [{"index": 0, "activations": [{"tokens": ["a"], "values": [1], "quantileFraction": -1}]}],
        },
    ],  # fmt: skip
)
def test_feature_upload_batch_validation(as_staff, toy, payload):
    response = as_staff.post("/api/feature/upload-batch", payload, format="json")
    assert response.status_code == 400, response.content
    error_of(response)


def test_uploads_need_a_key_and_a_source(anon, as_alice, toy):
    payload = {"modelId": "toy", "source": "0-mlp", "features": [{"index": 0}]}
    assert anon.post("/api/feature/upload-batch", payload, format="json").status_code == 401
    assert as_alice.post("/api/feature/upload-batch", payload, format="json").status_code == 403  # a computed source
    missing = {**payload, "source": "5-nothing"}
    assert as_alice.post("/api/feature/upload-batch", missing, format="json").status_code == 404


def test_model_and_source_set_errors(as_alice, as_bob, toy):
    assert as_alice.post("/api/model/new", {"id": "toy", "layers": 2}, format="json").status_code == 400
    assert as_alice.post("/api/model/new", {"id": "api", "layers": 2}, format="json").status_code == 400  # reserved
    assert as_alice.post("/api/model/new", {"id": "Bad Name", "layers": 2}, format="json").status_code == 400
    assert as_alice.post("/api/model/new", {"id": "x", "layers": 0}, format="json").status_code == 400
    assert as_alice.post("/api/model/new", {"id": "mine", "layers": 1}, format="json").status_code == 200
    assert as_alice.post("/api/model/new", {"id": "mine", "layers": 1}, format="json").status_code == 200  # again
    assert as_bob.post("/api/model/new", {"id": "mine", "layers": 1}, format="json").status_code == 400
    taken = as_alice.post("/api/source-set/new", {"name": "mlp", "modelId": "toy"}, format="json")
    assert taken.status_code == 400  # toy already has 0-mlp and 1-mlp
    assert as_alice.post("/api/source-set/new", {"name": "x", "modelId": "nope"}, format="json").status_code == 404
    assert as_alice.get("/api/source-set/toy/none-such").status_code == 404


def test_the_schema_states_the_index_and_slug_rules_the_server_checks(anon, as_alice, toy):
    """The index is a whole number or its digits; model and source-set ids are slugs. The schema says so, and a
    body breaking it is a 400 that names the field."""
    schemas = anon.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    index = schemas["ActivationUploadBatchInRequest"]["properties"]["index"]
    assert index["oneOf"] == [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]
    slug = "^[a-z0-9][a-z0-9._-]*$"
    assert schemas["ModelNewInRequest"]["properties"]["id"]["pattern"] == slug
    assert schemas["SourceSetNewInRequest"]["properties"]["name"]["pattern"] == slug

    batch = {"modelId": "toy", "source": "0-res", "index": "1e3", "activations": [{"tokens": ["a"], "values": [1.0]}]}
    response = as_alice.post("/api/activation/upload-batch", batch, format="json")
    assert response.status_code == 400
    assert error_of(response)["details"]["index"] == ["The index is a whole number (or its string)."]
    response = as_alice.post("/api/model/new", {"id": "Bad Name", "layers": 2}, format="json")
    assert error_of(response)["details"]["id"][0].startswith("Use lowercase letters, digits")
