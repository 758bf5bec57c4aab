"""Interventions on a stored graph: the target's new value is what a real forward pass with that edit gives (the
edit made here by hand, with plain torch hooks), ablation is scale 0, a supernode edits all its nodes, and bad
edits are refused by name."""

import pytest
import torch
from django.core.management import CommandError, call_command

from circuits.services import graphs
from circuits.services.interventions import graph_intervene
from features.pipeline.loading import load_language_model
from features.services.registration import dictionary_register, model_register
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(tiny_gpt2_dir, tmp_path):
    model = model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    for layer, path in enumerate(save_tiny_transcoders(tmp_path)):
        dictionary_register(model=model, path=str(path), slug=f"{layer}-tc")
    return model


@pytest.fixture
def graph(model):
    run = graphs.graph_run_create(model=model, prompt=PROMPT, sync=True)
    graph = graphs.graph_compute(run_id=run.pk)
    assert graph is not None
    return graph


@pytest.fixture
def neuron_graph(model):
    """Layer 1 by its 128 neurons; a small budget, every node with edges kept."""
    run = graphs.graph_run_create(
        model=model, prompt=PROMPT, sources=["0-tc", "1-mlp"], max_nodes=30, node_threshold=1.0, sync=True
    )
    graph = graphs.graph_compute(run_id=run.pk)
    assert graph is not None
    return graph


def _features(graph, kind: str) -> list[dict]:
    return [n for n in graph.data["nodes"] if n.get("node_kind") == kind]


def _demeaned_logit(loaded, ids, token, edit_hook) -> float:
    """The target measure of a real forward pass with `edit_hook` installed by hand."""
    handle = edit_hook()
    try:
        with torch.no_grad():
            hidden = loaded.model.transformer(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
    finally:
        handle.remove()
    unembedding = loaded.model.lm_head.weight.detach().T
    return float(hidden @ (unembedding[:, token] - unembedding.mean(dim=1)))


def test_scaling_a_transcoder_feature_moves_the_target_as_a_real_forward_pass_does(graph, tiny_gpt2_dir, tmp_path):
    node = _features(graph, "transcoder feature")[0]
    result = graph_intervene(graph=graph, edits=[{"node_id": node["node_id"], "scale": 3.0}])
    loaded = load_language_model(tiny_gpt2_dir)
    ids = graph.params["input_ids"]
    token = int(graph.params["target_resolved"][1:])
    layer, index, position = (int(part) for part in node["node_id"].split("_"))
    from features.pipeline.dictionaries import load_dictionary

    transcoder = load_dictionary(tmp_path / f"transcoder-{layer}")
    row = transcoder.decoder[index]

    def add_feature():
        def hook(_module, _args, output):
            output = output.clone()
            output[0, position] += (3.0 - 1.0) * node["activation"] * row
            return output

        return loaded.model.transformer.h[layer].mlp.register_forward_hook(hook)

    expected = _demeaned_logit(loaded, ids, token, add_feature)
    baseline = _demeaned_logit(loaded, ids, token, lambda: loaded.model.register_forward_hook(lambda *a: None))
    assert result["target"]["value_before"] == pytest.approx(baseline, abs=1e-5)
    assert result["target"]["value_after"] == pytest.approx(expected, abs=1e-5)
    assert abs(result["target"]["change"]) > 1e-4
    assert result["nodes"][0]["node_id"] == node["node_id"]
    assert result["nodes"][0]["activation_after"] == pytest.approx(3 * node["activation"])


def test_ablating_a_neuron_equals_zeroing_it_in_a_real_forward_pass(neuron_graph, tiny_gpt2_dir):
    graph = neuron_graph
    node = _features(graph, "mlp neuron")[0]
    result = graph_intervene(graph=graph, edits=[{"node_id": node["node_id"], "scale": 0}])
    loaded = load_language_model(tiny_gpt2_dir)
    layer, index, position = (int(part) for part in node["node_id"].split("_"))

    def zero_neuron():
        def hook(_module, args):
            post = args[0].clone()
            post[0, position, index] = 0
            return (post,)

        return loaded.model.transformer.h[layer].mlp.c_proj.register_forward_pre_hook(hook)

    token = int(graph.params["target_resolved"][1:])
    expected = _demeaned_logit(loaded, graph.params["input_ids"], token, zero_neuron)
    assert result["target"]["value_after"] == pytest.approx(expected, abs=1e-5)
    # the last layer's neuron reaches the logit only directly: the edge predicts the change up to ln_f's rescaling
    predicted, actual = result["target"]["predicted_change"], result["target"]["change"]
    assert predicted != 0 and actual * predicted > 0


def test_a_supernode_edits_every_node_in_it_and_downstream_nodes_move(graph):
    nodes = [n["node_id"] for n in _features(graph, "transcoder feature")[:3]]
    result = graph_intervene(graph=graph, edits=[{"node_ids": nodes, "scale": 0}])
    assert [edit["node_id"] for edit in result["edits"]] == nodes
    downstream = [row for row in result["nodes"] if row["node_id"] not in nodes]
    assert any(abs(row["pre_activation_change"]) > 1e-6 for row in downstream)
    assert {"edits", "target", "nodes"} == set(result)


def test_bad_edits_are_refused_by_name(graph):
    token_node = next(n["node_id"] for n in graph.data["nodes"] if n["layer"] == "E")
    feature = _features(graph, "transcoder feature")[0]["node_id"]
    cases = [
        ([], "at least one edit"),
        ([{"node_id": "9_9_9", "scale": 0}], "no node '9_9_9'"),
        ([{"node_id": token_node, "scale": 0}], "only feature and neuron nodes"),
        ([{"node_id": feature, "scale": "big"}], "A scale is a number"),
        ([{"node_id": feature, "scale": 1e9}], "A scale is a number"),
        ([{"node_ids": "not a list", "scale": 0}], "a supernode is a list"),
    ]
    for edits, message in cases:
        with pytest.raises(graphs.GraphInputError, match=message):
            graph_intervene(graph=graph, edits=edits)


def test_the_intervene_command_prints_the_targets_change(graph, capsys):
    node = _features(graph, "transcoder feature")[0]["node_id"]
    call_command("intervene", graph.slug, "--node", f"{node}=0")
    out = capsys.readouterr().out
    assert out.startswith("Target the top next token") and "predicted" in out
    with pytest.raises(CommandError, match="no graph"):
        call_command("intervene", "nope", "--node", node)


def test_the_api_intervenes_and_refuses_bad_edits_with_a_400(graph, client):
    node = _features(graph, "transcoder feature")[0]["node_id"]
    url = f"/api/v1/graphs/{graph.model.slug}/{graph.slug}/intervene/"
    response = client.post(url, {"edits": [{"node_id": node, "scale": 0}]}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["edits"] == [{"node_id": node, "scale": 0.0}] and "value_after" in body["target"]
    bad = client.post(url, {"edits": [{"node_id": "9_9_9"}]}, content_type="application/json")
    assert bad.status_code == 400 and "no node" in bad.content.decode()
    missing = client.post(url.replace(graph.slug, "nope"), {"edits": []}, content_type="application/json")
    assert missing.status_code == 404
