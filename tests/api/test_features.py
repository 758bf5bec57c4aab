"""GET models, sources, features (with dashboards) and activation examples: filters, cursors, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from features.models import Feature

from .conftest import add_explanation, error_of


def test_models_are_listed_with_whether_they_can_run(anon, toy):
    toy["model"].path = ""
    toy["model"].save()
    models = {model["slug"]: model for model in anon.get("/api/v1/models/").json()}
    assert set(models) == {"toy", "other"}
    assert models["toy"]["can_run_inference"] is False and models["other"]["can_run_inference"] is True
    assert anon.get("/api/v1/models/toy/").json()["n_layers"] == 2


def test_sources_filter_by_model_and_kind(anon, toy):
    slugs = [s["slug"] for s in anon.get("/api/v1/sources/?model=toy").json()["results"]]
    assert slugs == ["0-mlp", "1-mlp"]
    assert anon.get("/api/v1/sources/?model=toy&layer=1").json()["results"][0]["slug"] == "1-mlp"
    assert anon.get("/api/v1/sources/?kind=sae").json()["results"] == []
    assert anon.get("/api/v1/sources/?kind=bogus").status_code == 400
    source = anon.get("/api/v1/models/toy/sources/1-mlp/").json()
    assert source["n_features"] == 4 and source["page"] == "/toy/1-mlp/"


def test_features_filter_by_model_source_and_ranges(anon, toy):
    def indices(query: str) -> list[int]:
        response = anon.get(f"/api/v1/features/?{query}")
        assert response.status_code == 200, response.content
        return [(f["source"], f["index"]) for f in response.json()["results"]]

    assert len(indices("model=toy")) == 12
    assert indices("model=other") == [("0-mlp", 0)]
    assert indices("model=toy&source=0-mlp&max_activation_min=5") == [("0-mlp", i) for i in (5, 6, 7)]
    assert indices("model=toy&source=0-mlp&max_activation_min=2&max_activation_max=3.5") == [("0-mlp", 2), ("0-mlp", 3)]
    assert indices("model=toy&source=0-mlp&density_min=0.06") == [("0-mlp", 6), ("0-mlp", 7)]
    assert indices("model=toy&source=0-mlp&density_max=0.01") == [("0-mlp", 0), ("0-mlp", 1)]
    assert indices("model=toy&index_min=2&index_max=3") == [("0-mlp", 2), ("0-mlp", 3), ("1-mlp", 2), ("1-mlp", 3)]
    assert indices(f"source_id={toy['second'].pk}&index=1") == [("1-mlp", 1)]
    assert indices("model=nope") == []


def test_feature_pages_follow_the_cursor(anon, toy):
    seen = []
    url = "/api/v1/features/?model=toy&page_size=5"
    pages = 0
    while url:
        body = anon.get(url).json()
        seen += [(f["source"], f["index"]) for f in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3 and len(seen) == 12 == len(set(seen))
    assert anon.get("/api/v1/features/?page_size=100000").status_code == 200


def test_the_page_size_is_bounded(anon, toy):
    Feature.objects.bulk_create(Feature(source=toy["second"], index=100 + i) for i in range(600))
    assert len(anon.get("/api/v1/features/?page_size=100000").json()["results"]) == 500


def test_a_feature_comes_with_its_whole_dashboard(anon, toy, explained):
    feature = toy["features"][3]
    body = anon.get(f"/api/v1/features/{feature.pk}/").json()
    assert body["model"] == "toy" and body["source"] == "0-mlp" and body["index"] == 3
    assert body["histogram"] == {"bin_width": 0.5, "counts": [5, 3, 3]}
    assert body["top_logits"] == [{"token": "cat", "id": 7, "value": 0.5}]
    assert body["similar"] == [{"index": 4, "similarity": 0.25}]
    assert [e["rank"] for e in body["top_examples"]] == [0, 1]
    top = body["top_examples"][0]
    assert top["tokens"] == ["[CLS]", "w0", "é", "[SEP]"]
    assert top["values"] == [0.0, 10.0, 0.5, 0.0] and top["max_value"] == 10.0 and top["max_token_index"] == 1
    assert [(e["interval_index"], e["bin_min"]) for e in body["interval_examples"]] == [(0, 0.0), (1, 1.0)]
    texts = [e["text"] for e in body["explanations"]]
    assert set(texts) == {"the letter w before a digit", "tokens after CLS"}  # not the hidden one
    human = next(e for e in body["explanations"] if e["author"] == "alice")
    assert {(s["scorer"], s["value"]) for s in human["scores"]} == {("detection", 0.75), ("simulation", 0.5)}
    assert anon.get("/api/v1/features/toy/0-mlp/3/").json() == body


def test_staff_see_hidden_explanations(as_staff, toy, explained):
    body = as_staff.get(f"/api/v1/features/{toy['features'][3].pk}/").json()
    assert "rude words" in [e["text"] for e in body["explanations"]]


def test_the_feature_endpoint_costs_the_same_queries_however_big(anon, toy, explained, alice):
    def queries(feature) -> int:
        from api.selectors import window_tokens

        window_tokens.entries.clear()
        with CaptureQueriesContext(connection) as captured:
            assert anon.get(f"/api/v1/features/{feature.pk}/").status_code == 200
        return len(captured)

    small = queries(toy["features"][3])
    for number in range(5):
        add_explanation(toy["features"][3], f"explanation {number}", author=alice)
    assert queries(toy["features"][3]) == small


def test_the_feature_list_costs_a_fixed_number_of_queries(anon, toy):
    with CaptureQueriesContext(connection) as captured:
        anon.get("/api/v1/features/?page_size=3")
    few = len(captured)
    with CaptureQueriesContext(connection) as captured:
        anon.get("/api/v1/features/?page_size=12")
    assert len(captured) == few


def test_activation_examples_filter_by_feature_and_kind(anon, toy):
    feature = toy["features"][2]
    body = anon.get(f"/api/v1/activations/?feature={feature.pk}&kind=top").json()
    assert [(e["kind"], e["rank"]) for e in body["results"]] == [("top", 0), ("top", 1)]
    assert all(e["feature"] == feature.pk for e in body["results"])
    intervals = anon.get("/api/v1/activations/?model=toy&source=0-mlp&index=2&kind=interval").json()["results"]
    assert [e["interval_index"] for e in intervals] == [0, 1]
    one = anon.get(f"/api/v1/activations/{intervals[1]['id']}/").json()
    assert one["values"] == [0.0, 0.0, 0.0, 3.75] and one["bin_contains"] == 0.25
    assert anon.get("/api/v1/activations/?kind=nope").status_code == 400


@pytest.mark.parametrize("url", ["/api/v1/features/", "/api/v1/activations/", "/api/v1/sources/", "/api/v1/runs/"])
def test_lists_are_paginated_with_a_cursor(anon, toy, url):
    body = anon.get(url).json()
    assert set(body) == {"next", "previous", "results"}


def test_an_address_with_a_huge_index_is_a_404(anon, toy):
    response = anon.get("/api/v1/features/toy/0-mlp/" + "9" * 19 + "/")
    assert response.status_code == 404
    error_of(response)


def test_the_fast_feature_shape_is_the_documented_one(anon, toy, explained):
    from api.serializers import ExampleOut, ExplanationOut, FeatureDetailOut

    body = anon.get(f"/api/v1/features/{toy['features'][3].pk}/").json()
    assert set(body) == set(FeatureDetailOut().fields)
    assert set(body["top_examples"][0]) == set(ExampleOut().fields)
    assert set(body["explanations"][0]) == set(ExplanationOut().fields)


def test_a_windows_tokens_are_read_once_per_process(anon, toy):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    anon.get(f"/api/v1/features/{toy['features'][1].pk}/")
    with CaptureQueriesContext(connection) as captured:
        anon.get(f"/api/v1/features/{toy['features'][2].pk}/")  # the same three windows
    assert not any("features_contextwindow" in query["sql"] for query in captured)


def test_a_feature_costs_two_queries_and_two_more_with_explanations(anon, toy, explained):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for feature, expected in ((toy["features"][1], 2), (toy["features"][3], 4)):
        anon.get(f"/api/v1/features/{feature.pk}/")  # the windows' tokens, read once per process
        with CaptureQueriesContext(connection) as captured:
            assert anon.get(f"/api/v1/features/{feature.pk}/").status_code == 200
        assert len(captured) == expected, [query["sql"] for query in captured]


def test_dates_are_rfc3339_with_a_zone(anon, toy, explained):
    body = anon.get(f"/api/v1/features/{toy['features'][3].pk}/").json()
    for value in (body["updated_at"], body["explanations"][0]["created_at"]):
        assert value.endswith("Z") and "T" in value, value
