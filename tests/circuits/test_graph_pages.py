"""The graph page and its parts: SVG with signed links, the node panel (explanation, top examples, feature
link), pins, supernodes and the subgraph kept in the address, labels and groups with revisions, comments, the
index and its search, and the panel on feature pages."""

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from circuits.models import Graph, GraphComment, GraphRevision
from circuits.services.imports import graph_import
from circuits.services.revisions import graph_annotate
from explanations.services.explanations import explanation_create
from features.models import ActivationExample, ContextWindow, Feature, pack_floats

from .conftest import graph_bytes
from .graph_json import circuit_tracer_graph

URL = "/graphs/tiny-tc/paris-graph/"


@pytest.fixture
def graph(tc_model, alice) -> Graph:
    return graph_import(model=tc_model, raw=graph_bytes(scan="tc"), author=alice, title="How it says Paris")


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def test_the_page_draws_every_node_and_colours_links_by_sign(client, graph):
    text = page(client, URL)
    assert text.count('class="gnode') == 9
    assert len(re.findall(r'class="link pos"', text)) == 5
    assert len(re.findall(r'class="link neg"', text)) == 3  # 0.5 - 2*0.4, -0.75, -0.2
    assert "How it says Paris" in text and "alice" in text
    assert "circuits/graph.js" in text
    # Embeddings are drawn below layer 0, and the logits above layer 1.
    y = {m[0]: float(m[1]) for m in re.findall(r'data-node="([^"]+)"><circle cx="[^"]+" cy="([^"]+)"', text)}
    assert y["E_10_0"] > y["0_2_1"] > y["1_3_2"] > y["3_500_2"]


def test_a_more_influential_node_is_drawn_bigger(client, graph):
    text = page(client, URL)
    r = {m[0]: float(m[1]) for m in re.findall(r'data-node="([^"]+)"><circle cx="[^"]+" cy="[^"]+" r="([^"]+)"', text)}
    # circuit-tracer's cumulative influence: 0.1 (0_2_1) ranks above 0.3 (1_5_1).
    assert r["0_2_1"] > r["1_5_1"]


def test_the_node_panel_shows_the_explanation_top_examples_and_links_the_feature(client, graph, alice, tc_model):
    feature = Feature.objects.get(source__slug="1-tc", index=3)
    explanation_create(feature=feature, author=alice, text="names of capital cities", embed=False)
    window = ContextWindow.objects.create(
        model=tc_model, corpus_key="k", position=0, token_ids=[1, 2, 3], tokens=["in", " Paris", " today"]
    )
    ActivationExample.objects.create(
        feature=feature, window=window, rank=0, values=pack_floats([0, 2.0, 0]), max_value=2.0, max_token_index=1
    )
    Feature.objects.filter(pk=feature.pk).update(max_activation=2.0)
    response = client.get(URL + "node/1_3_2/?pinnedIds=0_2_1", HTTP_HX_REQUEST="true")
    text = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "names of capital cities" in text
    assert " Paris" in text and "Top examples" in text
    assert 'href="/tiny-tc/1-tc/3/"' in text
    # Its strongest input (1.25 from 0_2_1) and output (2.0 to the target), each a link keeping the pins.
    assert "1.250" in text and "2.000" in text and "-0.750" in text
    assert "?pinnedIds=0_2_1,1_3_2&clickedId=1_3_2" in text  # Pin keeps the other pin
    # Without htmx, the node's address is the graph page with the node clicked.
    response = client.get(URL + "node/1_3_2/")
    assert response.status_code == 302 and "clickedId=1_3_2" in response["Location"]
    assert client.get(URL + "node/9_9_9/", HTTP_HX_REQUEST="true").status_code == 404


def test_the_clicked_node_and_the_pins_come_from_the_address(client, graph):
    text = page(client, URL + "?pinnedIds=0_2_1,1_3_2,nonsense&clickedId=1_3_2")
    assert 'class="gnode kind-feature pinned" ' in text or "pinned" in text
    assert text.count(" pinned") >= 2
    assert 'class="gnode kind-feature pinned clicked"' in text
    assert "Clear 2 pins" in text
    assert 'data-clicked="1_3_2"' in text  # the panel is rendered on the server too


def test_grouping_the_pinned_nodes_puts_a_supernode_in_the_address(client, graph):
    response = client.get(URL + "?pinnedIds=0_2_1,1_5_1&group=early+capital")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert json.loads(query["supernodes"][0]) == [["early capital", "0_2_1", "1_5_1"]]
    assert "pinnedIds" not in query
    text = page(client, response["Location"])
    assert "early capital" in text and "Save these groups" not in text  # not logged in
    assert "log in" in text.lower()


def test_the_subgraph_draws_pinned_nodes_and_merges_a_supernode(client, graph):
    supernodes = json.dumps([["early", "0_2_1", "1_5_1"]])
    text = page(client, URL + f"?pinnedIds=1_3_2,0_2_1&supernodes={supernodes}&subgraph=1")
    assert text.count('class="gnode') == 2
    assert 'data-node="supernode:0"' in text
    # The supernode's links into 1_3_2 add up: 1.25 - 0.75.
    assert re.search(r'class="link pos" data-source="supernode:0" data-target="1_3_2"[^>]*><title>0.5000<', text)


def test_malformed_supernodes_in_the_address_are_ignored_with_a_notice(client, graph):
    text = page(client, URL + "?supernodes=[[oops")
    assert "The supernodes in the address were ignored" in text
    text = page(client, URL + '?supernodes=[["x","nope"]]')
    assert "not in the graph: nope" in text


def test_labels_and_saved_groups_are_revisions_in_the_history(alice_client, graph):
    response = alice_client.post(
        URL + "label/", {"node_id": "1_3_2", "label": "capital cities", "state": "?clickedId=1_3_2"}
    )
    assert response.status_code == 302 and response["Location"].endswith("?clickedId=1_3_2")
    groups = json.dumps([["say Paris", "1_3_2", "0_1_2"]])
    alice_client.post(URL + "supernodes/", {"supernodes": groups, "state": "?"})
    graph.refresh_from_db()
    assert next(n for n in graph.data["nodes"] if n["node_id"] == "1_3_2")["clerp"] == "capital cities"
    assert graph.data["qParams"]["supernodes"] == [["say Paris", "1_3_2", "0_1_2"]]
    latest = GraphRevision.objects.filter(graph=graph).first()
    assert latest.author.username == "alice"
    assert latest.labels["1_3_2"] == "capital cities"
    assert latest.changes[0]["kind"] == "supernodes" and latest.summary == "Grouped “say Paris”"
    text = page(alice_client, URL + "history/")
    assert "capital cities" in text and "Grouped “say Paris”" in text and "Imported from circuit-tracer" in text
    # The saved groups and labels are what every reader sees.
    text = page(alice_client, URL)
    assert "say Paris" in text and "capital cities" in text


def test_a_bad_label_or_group_is_refused_and_nothing_changes(alice_client, graph):
    alice_client.post(URL + "label/", {"node_id": "9_9_9", "label": "x"})
    alice_client.post(URL + "supernodes/", {"supernodes": json.dumps([["a", "1_3_2"], ["b", "1_3_2"]])})
    alice_client.post(URL + "supernodes/", {"supernodes": "not json"})
    assert GraphRevision.objects.filter(graph=graph).count() == 1
    response = alice_client.get(URL)
    assert "already in another group" in html.unescape(response.content.decode())


def test_writing_needs_an_account(client, graph):
    for path in ("label/", "supernodes/", "comments/"):
        response = client.post(URL + path, {"node_id": "1_3_2", "label": "x", "body": "x", "supernodes": "[]"})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert GraphRevision.objects.count() == 1 and not GraphComment.objects.exists()


def test_comments_render_with_the_wikis_markup(alice_client, graph):
    alice_client.post(URL + "comments/", {"body": "The **early** feature <script>x</script> matters"})
    text = alice_client.get(URL).content.decode()
    assert "<strong>early</strong>" in text and "<script>x" not in text
    response = alice_client.post(URL + "comments/", {"body": "   "})
    assert response.status_code == 302 and GraphComment.objects.count() == 1


def test_the_export_link_downloads_the_schema(client, graph):
    response = client.get(URL + "export.json")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert set(data) == {"metadata", "qParams", "nodes", "links"} and len(data["nodes"]) == 9


def test_the_index_lists_and_searches_graphs_per_model_and_overall(client, graph, tc_model, alice):
    graph_import(model=tc_model, raw=graph_bytes(slug="other"), author=alice, title="Rivers and seas")
    text = page(client, "/graphs/")
    assert "How it says Paris" in text and "Rivers and seas" in text
    text = page(client, "/graphs/?q=says+paris")
    assert "How it says Paris" in text and "Rivers and seas" not in text
    text = page(client, "/graphs/tiny-tc/?q=rivers")
    assert "Rivers and seas" in text and "How it says Paris" not in text
    assert client.get("/graphs/nope/").status_code == 404
    assert 'href="/graphs/tiny-tc/"' in page(client, "/tiny-tc/")


def test_the_index_search_finds_a_graph_by_a_node_label(client, graph, alice):
    assert "How it says Paris" not in page(client, "/graphs/?q=ocelot")
    graph_annotate(graph=graph, user=alice, labels={"1_3_2": "Ocelot detector"})
    assert "How it says Paris" in page(client, "/graphs/?q=ocelot")


def test_a_feature_page_lists_the_graphs_it_is_in(client, graph):
    text = page(client, "/tiny-tc/1-tc/3/")
    assert "In these graphs" in text and 'href="/graphs/tiny-tc/paris-graph/"' in text
    assert "In these graphs" not in page(client, "/tiny-tc/1-tc/4/")


def test_a_feature_page_cached_before_a_graph_changes_shows_the_change(client, graph):
    graph.delete()
    assert "In these graphs" not in page(client, "/tiny-tc/1-tc/3/")


def test_an_unlinked_import_says_so_on_its_page(client, tc_model, alice):
    graph_import(model=tc_model, raw=graph_bytes(scan="gemma-2-2b", slug="far"), author=alice)
    text = page(client, "/graphs/tiny-tc/far/")
    assert "not linked to features of this site" in text and "gemma-2-2b" in text


def test_a_graph_stored_as_graph_compute_stores_it_is_indexed_with_a_first_revision(client, tc_model):
    """graph_compute (circuits/services/graphs.py) creates the Graph row with our `source`/`index` keys on its
    nodes (a feature target too, a logit-type node) and an error node naming its layer's source."""
    data = circuit_tracer_graph(scan="elsewhere")
    for node in data["nodes"]:
        if node["feature_type"] == "cross layer transcoder":
            node["source"], node["index"] = f"{node['layer']}-tc", int(node["node_id"].split("_")[1])
        elif node["feature_type"] == "mlp reconstruction error":
            node["source"] = "1-tc"
        elif node.get("is_target_logit"):
            node.update(source="1-tc", index=4, node_kind="feature target")
    graph = Graph.objects.create(model=tc_model, slug="computed", title="Computed", prompt="p", data=data)
    assert set(graph.feature_nodes.values_list("node_id", flat=True)) == {"0_2_1", "1_3_2", "1_5_1", "3_500_2"}
    assert graph.revisions.get().summary == "Computed here"
    text = page(client, "/tiny-tc/1-tc/4/")
    assert 'href="/graphs/tiny-tc/computed/"' in text
    text = html.unescape(client.get("/graphs/tiny-tc/computed/node/0_1_2/", HTTP_HX_REQUEST="true").content.decode())
    assert "has no page" not in text and "mlp reconstruction error" in text
    text = html.unescape(client.get("/graphs/tiny-tc/computed/node/3_500_2/", HTTP_HX_REQUEST="true").content.decode())
    assert "feature target" in text and 'href="/tiny-tc/1-tc/4/"' in text


def test_a_graph_row_without_the_schema_shows_empty_rather_than_failing(client, tc_model):
    Graph.objects.create(model=tc_model, slug="bare", title="Bare", prompt="p", data={})
    text = page(client, "/graphs/tiny-tc/bare/")
    assert "0 nodes, 0 links" in text
    assert client.get("/graphs/tiny-tc/bare/node/x/", HTTP_HX_REQUEST="true").status_code == 404
    assert client.get("/graphs/tiny-tc/bare/export.json").status_code == 200
