"""GET /api/v1/features/<model>/<source>/<index>/connections/: a feature's connections, in the schema."""

import pytest

from tests.api.conftest import error_of
from tests.circuits.connections_data import connected_toy

pytestmark = pytest.mark.django_db
URL = "/api/v1/features/toy/{}/connections/"


def test_it_lists_upstream_downstream_and_coactive_features_with_their_measures(anon):
    toy = connected_toy()
    body = anon.get(URL.format("0-mlp/2")).json()
    assert body["computed"] is True and body["run"] == toy["run"].pk
    assert [(row["feature"]["source"], row["feature"]["index"], row["weight"]) for row in body["downstream"]] == [
        ("1-res", 1, -0.9),
        ("1-res", 0, 0.5),
        ("1-res", 2, 0.1),
    ]
    assert body["downstream"][0]["feature"]["url"] == "/toy/1-res/1/"
    assert body["upstream"] == [] and body["coactive"] == []
    sae = anon.get(URL.format("1-res/0")).json()
    assert sae["upstream"][0]["feature"] == {
        "model": "toy", "source": "0-mlp", "index": 2, "url": "/toy/0-mlp/2/", "explanation": None,
    }  # fmt: skip
    assert [(row["feature"]["index"], row["jaccard"], row["together"]) for row in sae["coactive"]] == [
        (3, 0.4, 8),
        (1, 0.2, 8),
    ]


def test_it_takes_a_limit_and_refuses_a_bad_one(anon):
    connected_toy()
    assert len(anon.get(URL.format("0-mlp/2") + "?limit=1").json()["downstream"]) == 1
    response = anon.get(URL.format("0-mlp/2") + "?limit=0")
    assert response.status_code == 400 and "limit" in error_of(response)["details"]


def test_a_missing_feature_is_a_json_404_and_an_uncomputed_model_says_so(anon):
    toy = connected_toy()
    missing = anon.get(URL.format("0-mlp/99"))
    assert missing.status_code == 404 and "toy/0-mlp/99" in error_of(missing)["message"]
    toy["run"].delete()
    body = anon.get(URL.format("0-mlp/3")).json()
    assert body == {"computed": False, "run": None, "upstream": [], "downstream": [], "coactive": []}


def test_the_route_is_in_the_schema_with_its_limit_and_response(anon):
    schema = anon.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/features/{model_slug}/{source_slug}/{index}/connections/"]["get"]
    assert [parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "query"] == ["limit"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ConnectionsOut")
    fields = schema["components"]["schemas"]["ConnectionsOut"]["properties"]
    assert set(fields) == {"computed", "run", "upstream", "downstream", "coactive"}
