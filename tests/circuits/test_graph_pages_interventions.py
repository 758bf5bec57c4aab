"""The graph page's interventions: the form offers the pinned nodes and supernodes, the result shows the target's
new value beside the graph's linear prediction, equal to graph_intervene's (which is checked against a real
forward pass in test_interventions.py); bad requests are a 400 with a reason, an imported graph says why not."""

import html
import json
import re

import pytest

from circuits.services import graphs
from circuits.services.imports import graph_import
from circuits.services.interventions import graph_intervene
from features.services.registration import dictionary_register, model_register
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders

from .conftest import graph_bytes


@pytest.fixture
def graph(db, tiny_gpt2_dir, tmp_path):
    model = model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    for layer, path in enumerate(save_tiny_transcoders(tmp_path)):
        dictionary_register(model=model, path=str(path), slug=f"{layer}-tc")
    run = graphs.graph_run_create(model=model, prompt=PROMPT, slug="g", sync=True)
    graph = graphs.graph_compute(run_id=run.pk)
    assert graph is not None
    return graph


def features(graph) -> list[str]:
    return [n["node_id"] for n in graph.data["nodes"] if n["feature_type"] == "cross layer transcoder"]


def test_the_form_offers_the_pinned_nodes_and_the_supernodes(client, graph):
    a, b, c = features(graph)[:3]
    supernodes = json.dumps([["pair", b, c]])
    text = html.unescape(
        client.get(f"{graph.get_absolute_url()}?pinnedIds={a}&supernodes={supernodes}").content.decode()
    )
    assert f'<option value="{a}">the 1 pinned node</option>' in text
    assert f'<option value="{b},{c}">supernode “pair” (2 nodes)</option>' in text
    assert "Replacement score" in text and f"{graph.replacement_score:.3f}" in text


def test_ablating_a_supernode_shows_the_target_beside_the_prediction(client, graph):
    nodes = features(graph)[:2]
    expected = graph_intervene(graph=graph, edits=[{"node_ids": nodes, "scale": 0.0}])
    response = client.get(
        f"{graph.get_absolute_url()}intervene/?nodes={','.join(nodes)}&scale=0", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert "Ablating 2 nodes" in text
    row = re.search(r'class="target-row">(.*?)</tr>', text, re.S).group(1)
    numbers = [float(x) for x in re.findall(r'class="num">(-?[\d.]+)<', row)]
    target = expected["target"]
    assert numbers == pytest.approx(
        [target["value_before"], target["value_after"], target["change"], target["predicted_change"]], abs=1e-4
    )
    # Without htmx the same result is a page of its own.
    page = client.get(f"{graph.get_absolute_url()}intervene/?nodes={nodes[0]}&scale=2")
    assert page.status_code == 200 and "Scaling by 2" in page.content.decode()


def test_bad_requests_are_a_400_with_the_reason(client, graph, tc_model):
    url = f"{graph.get_absolute_url()}intervene/"
    assert "Choose the nodes" in client.get(url).content.decode()
    assert client.get(f"{url}?nodes={features(graph)[0]}&scale=abc").status_code == 400
    token = next(n["node_id"] for n in graph.data["nodes"] if n["feature_type"] == "embedding")
    response = client.get(f"{url}?nodes={token}&scale=0")
    assert response.status_code == 400 and "only feature and neuron nodes" in html.unescape(response.content.decode())
    imported = graph_import(model=tc_model, raw=graph_bytes(scan="tc"), require_author=False)
    response = client.get(f"{imported.get_absolute_url()}intervene/?nodes=1_3_2&scale=0")
    assert response.status_code == 400 and "this one was imported" in response.content.decode()
    assert "this one was imported" in client.get(imported.get_absolute_url()).content.decode()
