"""/api/v1/graphs/: list and search, one graph, its export in circuit-tracer's schema, and import (the same
strict checks as the page: 400 with every problem, nothing written)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from circuits.models import Graph
from tests.circuits.graph_json import circuit_tracer_graph, make_tc_model


@pytest.fixture
def tc_model(db):
    return make_tc_model()


@pytest.fixture
def writer(db) -> APIClient:
    cache.clear()
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user(username="writer", password="pw"))
    return client


def test_import_then_list_detail_and_export_round_trip(writer, tc_model):
    response = writer.post(
        "/api/v1/graphs/tiny-tc/import/", {"graph": circuit_tracer_graph(scan="tc"), "title": "Paris"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["slug"], body["title"], body["n_nodes"], body["author"]) == ("paris-graph", "Paris", 9, "writer")
    assert body["feature_links_missing"] == "" and body["url"] == "/graphs/tiny-tc/paris-graph/"
    anon = APIClient()
    listed = anon.get("/api/v1/graphs/?model=tiny-tc&q=paris").json()["results"]
    assert [g["slug"] for g in listed] == ["paris-graph"]
    assert anon.get("/api/v1/graphs/?q=nothing-like-it").json()["results"] == []
    assert anon.get("/api/v1/graphs/tiny-tc/paris-graph/").json()["title"] == "Paris"
    exported = anon.get("/api/v1/graphs/tiny-tc/paris-graph/export/").json()
    again = writer.post("/api/v1/graphs/tiny-tc/import/", {"graph": exported, "slug": "again"}, format="json")
    assert again.status_code == 201
    assert Graph.objects.get(slug="again").data["nodes"] == Graph.objects.get(slug="paris-graph").data["nodes"]


def test_the_list_searches_node_labels_and_supernode_names_as_the_search_page_does(writer, tc_model):
    graph = circuit_tracer_graph(scan="tc")
    graph["nodes"][3]["clerp"] = "Ocelot detector"
    graph["qParams"]["supernodes"] = [["Big cats", graph["nodes"][3]["node_id"], graph["nodes"][4]["node_id"]]]
    assert writer.post("/api/v1/graphs/tiny-tc/import/", {"graph": graph}, format="json").status_code == 201
    anon = APIClient()
    for query in ("ocelot", '"big cats"', "OCELOT -lynx"):
        assert [g["slug"] for g in anon.get("/api/v1/graphs/", {"q": query}).json()["results"]] == ["paris-graph"]
    assert anon.get("/api/v1/graphs/", {"q": "ocelot -cats"}).json()["results"] == []
    assert anon.get("/api/v1/graphs/", {"q": "!!!"}).json()["results"] == []


def test_a_bad_graph_is_a_400_naming_the_problems_and_nothing_is_written(writer, tc_model):
    graph = circuit_tracer_graph()
    graph["links"][0]["target"] = "nowhere"
    response = writer.post("/api/v1/graphs/tiny-tc/import/", {"graph": graph}, format="json")
    assert response.status_code == 400
    assert "'nowhere' is not a node" in response.json()["error"]["details"]["graph"][0]
    assert not Graph.objects.exists()
    response = writer.post("/api/v1/graphs/tiny-tc/import/", {"graph": [1, 2]}, format="json")
    assert response.status_code == 400 and not Graph.objects.exists()


def test_importing_needs_an_account_and_a_known_model(writer, tc_model):
    response = APIClient().post("/api/v1/graphs/tiny-tc/import/", {"graph": circuit_tracer_graph()}, format="json")
    assert response.status_code == 401
    response = writer.post("/api/v1/graphs/nope/import/", {"graph": circuit_tracer_graph()}, format="json")
    assert response.status_code == 404
    assert APIClient().get("/api/v1/graphs/tiny-tc/none/").status_code == 404
