"""Importing circuit-tracer's graph JSON: strict checks with clear errors and nothing half-written, nodes mapped
to our sources when the metadata names them, export then import round-trips, the command and the page."""

import html
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from circuits.core.graph_schema import GraphLimits, GraphSchemaError, graph_validate
from circuits.models import Graph, GraphNode, GraphRevision
from circuits.services.imports import graph_export, graph_import

from .conftest import graph_bytes
from .graph_json import circuit_tracer_graph


def linked(graph: Graph) -> set[tuple[str, int]]:
    return {(n.feature.source.slug, n.feature.index) for n in graph.feature_nodes.select_related("feature__source")}


def test_a_graph_as_circuit_tracer_writes_it_imports_and_links_its_transcoder_list(tc_model, alice):
    raw = graph_bytes(scan=["layer0.safetensors", "layer1.safetensors"])
    graph = graph_import(model=tc_model, raw=raw, author=alice)
    assert graph.origin == Graph.Origin.IMPORTED
    assert graph.slug == "paris-graph"
    assert graph.prompt == "The capital of"
    assert graph.target == 'Output " Paris" (p=0.610)'
    assert linked(graph) == {("0-tc", 2), ("1-tc", 3), ("1-tc", 5)}
    node = next(n for n in graph.data["nodes"] if n["node_id"] == "1_3_2")
    assert (node["source"], node["index"]) == ("1-tc", 3)
    assert graph.revisions.get().summary == "Imported from circuit-tracer's JSON"


def test_a_scan_naming_the_set_of_our_sources_links_its_nodes(tc_model, alice):
    graph = graph_import(model=tc_model, raw=graph_bytes(scan="tc"), author=alice)
    assert linked(graph) == {("0-tc", 2), ("1-tc", 3), ("1-tc", 5)}
    assert graph.data["metadata"]["feature_links_missing"] == ""


def test_an_unknown_scan_imports_without_feature_links_and_says_why(tc_model, alice):
    graph = graph_import(model=tc_model, raw=graph_bytes(scan="gemma-2-2b"), author=alice)
    assert not GraphNode.objects.filter(graph=graph).exists()
    assert "scan 'gemma-2-2b'" in graph.data["metadata"]["feature_links_missing"]
    assert all("source" not in n for n in graph.data["nodes"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g.pop("nodes"), "'nodes' is missing"),
        (lambda g: g["links"].append({"source": "1_3_2", "target": "9_9_9", "weight": 1.0}), "'9_9_9' is not a node"),
        (lambda g: g["links"].__setitem__(0, {**g["links"][0], "weight": "big"}), "weight must be a finite number"),
        (lambda g: g["nodes"][3].__setitem__("ctx_idx", 7), "ctx_idx must be a position of the prompt"),
        (lambda g: g["nodes"][3].__setitem__("feature_type", "attention"), "feature_type 'attention'"),
        (lambda g: g["nodes"].append(dict(g["nodes"][3])), "appears twice"),
        (lambda g: g["metadata"].__setitem__("schema_version", 2), "only version 1"),
        (lambda g: g["qParams"].__setitem__("supernodes", [["x", "nope"]]), "not in the graph: nope"),
    ],
)
def test_a_bad_file_is_refused_with_what_is_wrong_and_nothing_is_written(tc_model, alice, change, message):
    data = circuit_tracer_graph()
    change(data)
    with pytest.raises(GraphSchemaError) as error:
        graph_import(model=tc_model, raw=json.dumps(data), author=alice)
    assert message in str(error.value)
    assert not Graph.objects.exists() and not GraphRevision.objects.exists()


def test_a_file_that_is_not_json_is_refused(tc_model, alice):
    with pytest.raises(GraphSchemaError, match="not valid JSON"):
        graph_import(model=tc_model, raw=b"{nodes: [", author=alice)


def test_a_feature_past_the_end_of_its_source_is_refused(tc_model, alice):
    raw = graph_bytes(scan="tc", features=((0, 1, 2), (1, 2, 8), (1, 1, 5)))
    with pytest.raises(GraphSchemaError, match="feature 8 is past the 8 features of 1-tc"):
        graph_import(model=tc_model, raw=raw, author=alice)
    assert not Graph.objects.exists()


def test_the_size_limits_are_stated():
    data = circuit_tracer_graph()
    with pytest.raises(GraphSchemaError, match="has 9 nodes; the limit is 5"):
        graph_validate(data, GraphLimits(max_nodes=5))
    with pytest.raises(GraphSchemaError, match="has 8 links; the limit is 3"):
        graph_validate(data, GraphLimits(max_links=3))


def test_export_then_import_round_trips(tc_model, alice):
    from circuits.services.revisions import graph_annotate

    graph = graph_import(model=tc_model, raw=graph_bytes(scan="tc"), author=alice, title="Paris")
    graph_annotate(
        graph=graph, user=alice, labels={"1_3_2": "capital cities"}, supernodes=[["say a city", "1_3_2", "1_5_1"]]
    )
    graph.refresh_from_db()
    exported = graph_export(graph)
    again = graph_import(model=tc_model, raw=json.dumps(exported), author=alice, slug="paris-again")
    assert again.data["nodes"] == graph.data["nodes"]
    assert again.data["links"] == graph.data["links"]
    assert again.data["qParams"]["supernodes"] == [["say a city", "1_3_2", "1_5_1"]]
    assert linked(again) == linked(graph)
    assert exported["metadata"]["schema_version"] == 1 and exported["metadata"]["model"] == "tiny-tc"
    # The export keeps circuit-tracer's own fields for its viewer.
    assert {"node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"} <= set(exported["nodes"][0])


def test_a_taken_slug_is_refused_and_an_empty_one_is_made_unique(tc_model, alice):
    from django.core.exceptions import ValidationError

    first = graph_import(model=tc_model, raw=graph_bytes(), author=alice)
    second = graph_import(model=tc_model, raw=graph_bytes(), author=alice)
    assert (first.slug, second.slug) == ("paris-graph", "paris-graph-2")
    with pytest.raises(ValidationError, match="already has a graph"):
        graph_import(model=tc_model, raw=graph_bytes(), author=alice, slug="paris-graph")
    with pytest.raises(ValidationError, match="name of a page"):
        graph_import(model=tc_model, raw=graph_bytes(), author=alice, slug="import")


def test_the_command_imports_a_file_and_explains_a_bad_one(tc_model, tmp_path, capsys):
    good = tmp_path / "graph.json"
    good.write_bytes(graph_bytes(scan="tc"))
    call_command("import_graph", "tiny-tc", str(good), "--title", "From the command")
    out = capsys.readouterr().out
    assert "3 linked to features" in out
    assert Graph.objects.get().title == "From the command"
    bad = tmp_path / "bad.json"
    bad.write_text('{"metadata": {}}')
    with pytest.raises(CommandError, match="'nodes' is missing"):
        call_command("import_graph", "tiny-tc", str(bad))
    with pytest.raises(CommandError, match="no model 'nope'"):
        call_command("import_graph", "nope", str(good))


def test_the_import_page_shows_problems_without_a_500_and_imports_a_good_file(tc_model, alice_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = "/graphs/tiny-tc/import/"
    assert alice_client.get(url).status_code == 200
    response = alice_client.post(
        url, {"file": SimpleUploadedFile("g.json", b'{"metadata": 1, "nodes": [], "links": []}')}
    )
    assert response.status_code == 400
    assert "'metadata' must be an object" in html.unescape(response.content.decode())
    assert not Graph.objects.exists()
    response = alice_client.post(
        url, {"file": SimpleUploadedFile("g.json", graph_bytes(scan="tc")), "title": "Capitals"}
    )
    graph = Graph.objects.get()
    assert response.status_code == 302 and response["Location"] == graph.get_absolute_url()
    assert graph.author.username == "alice" and graph.title == "Capitals"


def test_importing_needs_an_account(tc_model, client):
    response = client.get("/graphs/tiny-tc/import/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_nodes_naming_a_source_this_model_lacks_import_without_a_link(tc_model, alice):
    data = circuit_tracer_graph(scan="elsewhere")
    data["nodes"][3].update(source="9-other", index=1)
    data["nodes"][4].update(source="1-tc", index=3)
    graph = graph_import(model=tc_model, raw=json.dumps(data), author=alice)
    assert linked(graph) == {("1-tc", 3)}
    assert "source" not in graph.data["nodes"][3] and "index" not in graph.data["nodes"][3]
    assert "2 feature nodes are in no known source" in graph.data["metadata"]["feature_links"]
