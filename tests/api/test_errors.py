"""Every error has the same JSON body, and bad input is a 4xx: never HTML, never a 500."""

import pytest
from django.test import override_settings

from .conftest import error_of


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nothing-here/",
        "/api/v1/features/abc/",
        "/api/v1/features/9999999/",
        "/api/v1/features/9223372036854775807/",
        "/api/v1/features/9999999999999999999/",  # 19 digits: past the database's integers
        "/api/v1/features/" + "9" * 30 + "/",  # too many digits to be an id at all
        "/api/v1/features/toy/0-mlp/99/",
        "/api/v1/features/toy/0-mlp/" + "9" * 19 + "/",
        "/api/v1/features/toy/0-mlp/2147483648/",
        "/api/v1/features/toy/nope/1/",
        "/api/v1/features/%00/0-mlp/1/",
        "/api/v1/features/to%C3%BF/0-mlp/1/",
        "/api/v1/models/nope/",
        "/api/v1/models/toy/sources/9-mlp/",
        "/api/v1/explanations/123456/",
        "/api/v1/activations/123456/",
        "/api/v1/comments/123456/",
        "/api/v1/lists/123456/",
        "/api/v1/runs/123456/",
        "/api/feature/toy/0-mlp/99",
        "/api/feature/toy/0-mlp/" + "9" * 19,
        "/api/not-an-endpoint",
        "/api/v1/export/toy/nope/features.jsonl",
        "/api/v1/export/toy/0-mlp/neuron-records.csv",
    ],
)
def test_missing_things_are_json_404s(anon, toy, url):
    response = anon.get(url)
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


def test_a_missing_trailing_slash_is_pointed_out(anon, toy):
    response = anon.get("/api/v1/models")
    assert response.status_code == 404
    assert "/api/v1/models/" in error_of(response)["message"]


def test_malformed_json_is_a_400(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", data=b'{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"12"])
def test_json_that_is_not_an_object_is_a_400(as_alice, toy, body):
    response = as_alice.post("/api/v1/lists/", data=body, content_type="application/json")
    assert response.status_code == 400
    error_of(response)


def test_nan_is_not_json(as_alice, toy):
    body = b'{"feature": {"modelId": "toy", "layer": "0-mlp", "index": 1}, "customText": NaN}'
    response = as_alice.post("/api/activation/new", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_deeply_nested_json_is_a_400(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", data=b"[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    error_of(response)


def test_invalid_utf8_is_a_400(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", data=b'{"name": "\xff\xfe"}', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


@override_settings(API_MAX_JSON_BYTES=1000)
def test_a_huge_body_is_a_413(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", {"name": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_huge_form_body_is_a_413(as_alice, toy):
    body = "name=" + "x" * 3_000_000
    response = as_alice.post("/api/v1/lists/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    error_of(response)


def test_an_unknown_media_type_is_a_415(as_alice, toy):
    response = as_alice.post("/api/v1/lists/", data=b"name=x", content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_wrong_method_is_a_405(as_alice, toy):
    response = as_alice.delete("/api/v1/features/")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_validation_errors_say_which_field(as_alice, toy):
    response = as_alice.post("/api/v1/explanations/", {"feature": "x", "text": ""}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"feature", "text"}


@pytest.mark.parametrize(
    "payload",
    [
        {"feature": 10**30, "text": "x"},
        {"feature": -1, "text": "x"},
        {"feature": 9223372036854775807, "text": "x"},
        {"feature": True, "text": "x"},
        {"feature": [1], "text": "x"},
        {"feature": 1, "text": "nul \x00 byte"},
    ],
)
def test_absurd_values_in_a_body_are_400s(as_alice, toy, payload):
    response = as_alice.post("/api/v1/explanations/", payload, format="json")
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "invalid"


def test_a_lone_surrogate_is_a_400(as_alice, toy):
    body = b'{"feature": 1, "text": "lone surrogate \\ud800"}'
    response = as_alice.post("/api/v1/explanations/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "invalid"


@pytest.mark.parametrize(
    "query",
    [
        "index=" + "9" * 30,
        "index=-1",
        "max_activation_min=abc",
        "max_activation_min=nan",
        "density_max=inf",
        "model=%00",
        "source_id=99999999999999999999",
        "page_size=abc",
    ],
)
def test_bad_filters_are_400s_or_ignored(anon, toy, query):
    response = anon.get(f"/api/v1/features/?{query}")
    assert response.status_code in {200, 400}, response.content
    if response.status_code == 400:
        assert error_of(response)["code"] == "invalid"


@pytest.mark.parametrize("cursor", ["garbage", "cD1hYmM=", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "bz0tMQ=="])
def test_a_forged_cursor_is_a_404(anon, toy, cursor):
    # cD1hYmM= is "p=abc"; the next is "p=" followed by 28 nines; bz0tMQ== is "o=-1".
    response = anon.get(f"/api/v1/features/?cursor={cursor}")
    assert response.status_code == 404
    assert "cursor" in error_of(response)["message"]


def test_unicode_survives_the_round_trip(as_alice, toy):
    name = "Ünïcödé 🧠 列表"
    response = as_alice.post("/api/v1/lists/", {"name": name}, format="json")
    assert response.status_code == 201
    assert as_alice.get(f"/api/v1/lists/{response.json()['id']}/").json()["name"] == name


def test_an_unexpected_error_is_a_json_500(as_alice, toy, monkeypatch):
    from api import selectors
    from api.views import inference

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "features_for_list", explode)
    monkeypatch.setattr(inference.FeatureActivate, "post", lambda self, request, pk: explode())
    response = as_alice.post(f"/api/v1/features/{toy['features'][0].pk}/activate/", {"text": "x"}, format="json")
    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"
    assert "boom" not in response.content.decode()


@pytest.mark.parametrize("page_size", ["abc", "0", "-3", "null", "1.5", "９", "", "0" * 30])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(anon, toy, page_size):
    response = anon.get("/api/v1/features/", {"page_size": page_size})
    assert response.status_code == 400
    assert error_of(response)["details"] == {"page_size": ["A whole number from 1 (at most 500)."]}


def test_a_page_size_past_the_maximum_is_capped_however_long(anon, toy):
    assert anon.get("/api/v1/features/", {"page_size": "9" * 30}).status_code == 200


@pytest.mark.parametrize("query", ["is_public=null", "is_public=yes", "is_public=2"])
def test_a_boolean_filter_takes_true_or_false_and_refuses_the_rest(as_alice, query):
    """django-filter read any other value as "no filter", and so answered a typo with every list."""
    as_alice.post("/api/v1/lists/", {"name": "Open", "is_public": True}, format="json")
    as_alice.post("/api/v1/lists/", {"name": "Closed", "is_public": False}, format="json")
    names = {value: {row["name"] for row in as_alice.get(f"/api/v1/lists/?is_public={value}").json()["results"]}
             for value in ("true", "false", "1", "0")}  # fmt: skip
    assert names == {"true": {"Open"}, "false": {"Closed"}, "1": {"Open"}, "0": {"Closed"}}
    response = as_alice.get(f"/api/v1/lists/?{query}")
    assert response.status_code == 400
    assert error_of(response)["details"] == {"is_public": ["Use true or false."]}


def test_a_float_filter_takes_any_finite_number(anon, toy):
    assert anon.get("/api/v1/features/", {"density_max": "1.7976931348623157e308"}).status_code == 200
    assert anon.get("/api/v1/features/", {"density_max": "inf"}).status_code == 400


def test_the_schema_states_the_bounds_the_filters_check(anon, toy):
    """What the schema allows is accepted and one past it refused, so that a client generated from the schema
    never sends a value the server refuses (schemathesis checks this for every parameter)."""
    schema = anon.get("/api/v1/schema/?format=json").json()
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/activations/"]["get"]["parameters"]}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1}
    for name in ("feature", "index", "interval_index"):
        bounds = parameters[name]
        assert bounds["type"] == "integer" and bounds["minimum"] == 0
        assert anon.get("/api/v1/activations/", {name: bounds["maximum"]}).status_code == 200
        assert anon.get("/api/v1/activations/", {name: bounds["maximum"] + 1}).status_code == 400
        assert anon.get("/api/v1/activations/", {name: -1}).status_code == 400
