"""A residual SAE chosen among a graph's sources: `manage.py trace` splices it in (its features become mid-graph
nodes drawn in their own row), an intervention on one of its features moves the target as a real forward pass
with that edit does, and bad choices are refused by name before any work."""

import json
import re

import pytest
import torch
from django.core.management import CommandError, call_command

from circuits.models import Graph
from circuits.services import graphs
from circuits.services.interventions import graph_intervene
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.loading import load_language_model
from features.services.registration import dictionary_register, model_register
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders
from tests.conftest import save_tiny_dictionary

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(tiny_gpt2_dir, tmp_path):
    """The tiny GPT-2 with a transcoder per layer and SAEs on the residual stream: a standard one before block 1,
    a gated one on block 0's resid_mid, and one on an MLP's output (which cannot be spliced)."""
    model = model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    for layer, path in enumerate(save_tiny_transcoders(tmp_path)):
        dictionary_register(model=model, path=str(path), slug=f"{layer}-tc")
    saes = {
        "1-res": ("standard", "blocks.1.hook_resid_pre"),
        "0-mid-gated": ("gated", "blocks.0.hook_resid_mid"),
        "1-res-other": ("topk", "blocks.1.hook_resid_pre"),
        "0-mlpout": ("standard", "blocks.0.hook_mlp_out"),
    }
    for slug, (architecture, hook) in saes.items():
        extra = {"k": 6} if architecture == "topk" else {}
        directory = save_tiny_dictionary(
            tmp_path / slug, architecture, d_in=32, d_sae=24, hook_name=hook, encoder_scale=30.0, **extra
        )
        dictionary_register(model=model, path=str(directory), slug=slug)
    return model


@pytest.fixture
def sae_graph(model, tmp_path):
    output = tmp_path / "graph.json"
    call_command(
        "trace", "tiny-gpt2", PROMPT, "--sources", "0-tc", "1-tc", "1-res", "--slug", "spliced",
        "--node-threshold", "1.0", "--edge-threshold", "1.0", "--sync", "--output", str(output),
    )  # fmt: skip
    graph = Graph.objects.get(model=model, slug="spliced")
    assert json.loads(output.read_text()) == graph.data
    return graph


def _sae_nodes(graph) -> list[dict]:
    return [n for n in graph.data["nodes"] if n.get("node_kind") == "sae feature"]


def test_trace_splices_a_named_sae_and_its_nodes_draw_in_their_own_row(sae_graph, client):
    assert sae_graph.params["sources"] == ["0-tc", "1-tc", "1-res"]
    assert sae_graph.data["metadata"]["scan"] == "tiny-gpt2:0-tc+1-tc+1-res"
    nodes = _sae_nodes(sae_graph)
    assert nodes and all(n["source"] == "1-res" and n["node_id"].startswith("1pre_") for n in nodes)
    assert any(n["node_id"].startswith("0_1pre_") for n in sae_graph.data["nodes"])  # its error nodes
    # the SAE's features link onwards: layer 1's transcoder or the logit reads them
    sae_ids = {n["node_id"] for n in nodes}
    assert any(link["source"] in sae_ids for link in sae_graph.data["links"])
    page = client.get(sae_graph.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    # rows from the bottom: Emb, L0 (layer 0's MLP), L1pre (the SAE before block 1), L1, Out
    rows = re.findall(r'<text class="row-label" x="4" y="([\d.]+)" dy="4">(\w+)</text>', body)
    assert [label for _, label in sorted(rows, key=lambda row: -float(row[0]))] == ["Emb", "L0", "L1pre", "L1", "Out"]


def test_scaling_an_sae_feature_moves_the_target_as_a_real_forward_pass_does(sae_graph, tiny_gpt2_dir, tmp_path):
    node = max(_sae_nodes(sae_graph), key=lambda n: abs(n["activation"]))
    result = graph_intervene(graph=sae_graph, edits=[{"node_id": node["node_id"], "scale": 3.0}])
    loaded = load_language_model(tiny_gpt2_dir)
    ids = sae_graph.params["input_ids"]
    token = int(sae_graph.params["target_resolved"][1:])
    row = load_dictionary(tmp_path / "1-res").decoder[node["index"]]

    def final_state(edit: bool) -> torch.Tensor:
        def add_feature(_module, args, kwargs):  # the stream entering block 1, moved by the feature's share
            hidden = (args[0] if args else kwargs["hidden_states"]).clone()
            hidden[0, node["ctx_idx"]] += (3.0 - 1.0) * node["activation"] * row
            return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

        block = loaded.model.transformer.h[1]
        handle = block.register_forward_pre_hook(add_feature, with_kwargs=True) if edit else None
        try:
            with torch.no_grad():
                return loaded.model.transformer(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        finally:
            if handle is not None:
                handle.remove()

    unembedding = loaded.model.lm_head.weight.detach().T
    direction = unembedding[:, token] - unembedding.mean(dim=1)
    assert result["target"]["value_before"] == pytest.approx(float(final_state(False) @ direction), abs=1e-5)
    assert result["target"]["value_after"] == pytest.approx(float(final_state(True) @ direction), abs=1e-5)
    assert abs(result["target"]["change"]) > 1e-4
    assert result["nodes"][0]["node_id"] == node["node_id"]
    assert result["nodes"][0]["activation_after"] == pytest.approx(3 * node["activation"])
    # ablating it: its own value is read off the real stream, and the layer-1 transcoder features downstream move
    ablated = graph_intervene(graph=sae_graph, edits=[{"node_id": node["node_id"], "scale": 0}])
    downstream = [r for r in ablated["nodes"] if r["node_id"].startswith("1_")]
    assert any(abs(r["pre_activation_change"]) > 1e-6 for r in downstream)


def test_an_sae_on_gpt2s_resid_mid_can_be_spliced_and_intervened_on(model):
    run = graphs.graph_run_create(
        model=model, prompt=PROMPT, sources=["0-mid-gated", "0-mlp", "1-tc"], max_nodes=60, sync=True
    )
    graph = graphs.graph_compute(run_id=run.pk)
    assert graph is not None, run.error
    nodes = [n for n in graph.data["nodes"] if n.get("node_kind") == "sae feature"]
    assert nodes and all(n["node_id"].startswith("0mid_") and n["probe_location_idx"] == 1 for n in nodes)
    result = graph_intervene(graph=graph, edits=[{"node_id": nodes[0]["node_id"], "scale": 0}])
    assert result["target"]["change"] != 0


def test_bad_sae_choices_are_refused_by_name(model):
    cases = [
        (["0-mlpout"], "only on the residual stream"),
        (["1-res", "1-res-other"], "both read blocks.1.hook_resid_pre"),
    ]
    for sources, message in cases:
        with pytest.raises(graphs.GraphInputError, match=message):
            graphs.graph_run_create(model=model, prompt=PROMPT, sources=sources, sync=True)
    with pytest.raises(CommandError, match="only on the residual stream"):
        call_command("trace", "tiny-gpt2", PROMPT, "--sources", "0-mlpout", "--sync")
