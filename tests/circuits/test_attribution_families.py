"""Attribution graphs beyond GPT-2 and BERT, on tiny random checkpoints of every family graphs support: RMSNorm
(Llama, Gemma's 1 + weight), rotary attention, Gemma 2's norms after attention and MLP and its softcapping, gated
MLPs (SwiGLU, GeGLU), GPT-NeoX's parallel block. In each, every node's value is the sum of its incoming edges plus
the constant a frozen pass with every source at zero gives, the frozen pass at full sources gives the real
model's values, and an intervention equals a real forward pass with the edit made by hand."""

import pytest
import torch

from circuits.core.attribution import AttributionRun, LayerReplacement, LogitTarget
from circuits.core.graph_families import GRAPH_FAMILIES
from circuits.core.interventions import NodeRef, run_with_edits
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders
from tests.circuits.tiny_families import CONFIGS, save_tiny_decoder

from .test_attribution import _check_exact, transcoder_nodes

GATED = {"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2"}


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """name -> the loaded tiny checkpoint, built on first use."""
    built = {}

    def build(name):
        if name not in built:
            built[name] = load_language_model(save_tiny_decoder(tmp_path_factory.mktemp(name), name))
        return built[name]

    return build


@pytest.fixture(scope="module")
def transcoders(tmp_path_factory):
    return [load_dictionary(path) for path in save_tiny_transcoders(tmp_path_factory.mktemp("transcoders"))]


def _ids(loaded) -> list[int]:
    return loaded.tokenizer(PROMPT)["input_ids"]


def _real_pass(loaded, ids, token, hook=None) -> tuple[float, float]:
    """(the demeaned logit before any softcapping, the logit the model outputs) of a plain forward pass, read off
    the language-model head's input with a hook of its own, with `hook` (module, pre-hook) installed."""
    seen = {}
    head = loaded.model.get_output_embeddings()
    handles = [head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("h", args[0][0, -1]))]
    if hook is not None:
        handles.append(hook[0].register_forward_pre_hook(hook[1]))
    try:
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, -1]
    finally:
        for handle in handles:
            handle.remove()
    unembedding = head.weight.detach().T
    demeaned = seen["h"] @ (unembedding[:, token] - unembedding.mean(dim=1))
    if head.bias is not None:  # GPT-J's head has a bias
        demeaned += head.bias[token] - head.bias.mean()
    return float(demeaned), float(logits[token])


def _top_token(loaded, ids) -> int:
    with torch.no_grad():
        return int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_graph_of_mlp_neurons_sums_exactly_to_every_node(name, decoders):
    loaded = decoders(name)
    ids = _ids(loaded)
    token = _top_token(loaded, ids)
    run = AttributionRun(
        loaded, ids, [LayerReplacement(layer, f"{layer}-mlp") for layer in range(2)], LogitTarget(token)
    )
    result = run.compute(batch_size=512)
    assert result.n_features > 400  # GELU and SiLU neurons: nearly all active, position 0 left out
    _check_exact(run, result)
    # the error nodes of exact neurons hold only float rounding
    assert run.errors.abs().max() < 1e-5 * run.node_outputs.abs().max()
    if name in GATED:
        # act(gate), frozen, times up(x): the edges explain the neuron's activation itself
        torch.testing.assert_close(
            result.extra["pre_activations"][: result.n_features], torch.tensor(result.feature_activations)
        )
    # the graph's target is the real model's demeaned logit (before Gemma 2's softcapping), read independently
    demeaned, logit = _real_pass(loaded, ids, token)
    assert result.target_value == pytest.approx(demeaned, abs=1e-5)
    assert result.target_activation == pytest.approx(logit, abs=1e-5)


@pytest.mark.parametrize("name", ["llama", "gemma2"])
def test_a_graph_with_transcoders_sums_exactly_and_its_nodes_are_the_transcoders_features(name, decoders, transcoders):
    loaded = decoders(name)
    ids = _ids(loaded)
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    run = AttributionRun(loaded, ids, replacements, LogitTarget(_top_token(loaded, ids)))
    result = run.compute()
    assert result.n_features > 20
    _check_exact(run, result)
    assert result.features == transcoder_nodes(loaded, transcoders, ids)
    assert run.errors.abs().max() > 0.01  # random transcoders miss most of the MLP: the errors carry it


def _down_projection(loaded, layer):
    return loaded.blocks()[layer].mlp.down_proj


@pytest.mark.parametrize("name", ["llama", "gemma2"])
def test_ablating_a_gated_neuron_equals_zeroing_it_in_a_real_forward_pass(name, decoders):
    loaded = decoders(name)
    ids = _ids(loaded)
    token = _top_token(loaded, ids)
    replacements = {layer: LayerReplacement(layer, f"{layer}-mlp") for layer in range(2)}
    node, watched = NodeRef(0, 3, 5), NodeRef(1, 4, 7)
    clean = run_with_edits(loaded, ids, replacements, [node, watched], LogitTarget(token))
    edited = run_with_edits(
        loaded,
        ids,
        replacements,
        [node, watched],
        LogitTarget(token),
        edits={node: 0.0},
        clean_activations={n: v.activation for n, v in clean.nodes.items()},
    )

    def zero(_module, args):
        post = args[0].clone()
        post[0, node.position, node.index] = 0
        return (post,)

    demeaned, logit = _real_pass(loaded, ids, token, (_down_projection(loaded, 0), zero))
    assert edited.target.value == pytest.approx(demeaned, abs=1e-5)
    assert edited.target.activation == pytest.approx(logit, abs=1e-5)
    assert abs(edited.target.value - clean.target.value) > 1e-5
    assert edited.nodes[node].activation == 0
    # the gated neuron's graph value is its activation, before and after
    assert clean.nodes[watched].pre_activation == clean.nodes[watched].activation
    assert edited.nodes[watched].activation != pytest.approx(clean.nodes[watched].activation, abs=1e-7)


def test_scaling_a_gemma_2_transcoder_feature_moves_its_post_normed_mlp_output(decoders, transcoders):
    """A Gemma 2 transcoder writes hook_mlp_out, the output of post_feedforward_layernorm: the edit lands there."""
    loaded = decoders("gemma2")
    ids = _ids(loaded)
    token = _top_token(loaded, ids)
    replacements = {layer: LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)}
    captured = capture_activations(loaded, [parse_hook_name(transcoders[0].hook_name, loaded)], torch.tensor([ids]))
    acts = transcoders[0].encode(captured[transcoders[0].hook_name][0]).float()
    position, index = (int(v) for v in (acts[1:] > 0).nonzero()[0])
    position += 1
    node = NodeRef(0, position, index)
    activation = float(acts[position, index])
    edited = run_with_edits(
        loaded, ids, replacements, [node], LogitTarget(token), edits={node: 3.0}, clean_activations={node: activation}
    )
    row = transcoders[0].decoder[index]

    def add_feature(_module, _args, output):
        output = output.clone()
        output[0, position] += 2.0 * activation * row
        return output

    norm = loaded.blocks()[0].post_feedforward_layernorm
    handle = norm.register_forward_hook(add_feature)
    try:
        demeaned, _ = _real_pass(loaded, ids, token)
    finally:
        handle.remove()
    assert edited.target.value == pytest.approx(demeaned, abs=1e-5)
    clean, _ = _real_pass(loaded, ids, token)
    assert abs(demeaned - clean) > 1e-4


def test_a_family_without_a_freezing_map_is_refused_by_name(decoders, monkeypatch):
    loaded = decoders("llama")
    monkeypatch.delitem(GRAPH_FAMILIES, "llama")
    with pytest.raises(PipelineInputError, match=r"not supported for Llama 2/3.*\(llama\): only for bert"):
        AttributionRun(
            loaded, _ids(loaded), [LayerReplacement(0, "0-mlp"), LayerReplacement(1, "1-mlp")], LogitTarget(5)
        )


def test_a_norm_whose_formula_is_not_mapped_is_refused_not_frozen_wrongly(tmp_path):
    loaded = load_language_model(save_tiny_decoder(tmp_path, "llama"))
    replacements = [LayerReplacement(0, "0-mlp"), LayerReplacement(1, "1-mlp")]
    norm = loaded.blocks()[1].post_attention_layernorm
    # an RMSNorm that scales its output differently from the formula the graph would freeze
    norm.register_forward_hook(lambda _m, _a, output: output * 1.5)
    with pytest.raises(PipelineInputError, match="cannot freeze LlamaRMSNorm: its output is not the RMSNorm formula"):
        AttributionRun(loaded, _ids(loaded), replacements, LogitTarget(5))

    class ScaleNorm(torch.nn.Module):
        def forward(self, x):
            return x

    loaded.blocks()[0].extra_norm = ScaleNorm()
    with pytest.raises(PipelineInputError, match="ScaleNorm is a norm of unknown formula"):
        AttributionRun(loaded, _ids(loaded), replacements, LogitTarget(5))


@pytest.mark.django_db
def test_trace_stores_a_gemma_2_graph_and_intervenes_on_it(tmp_path):
    """End to end on the task queue (sync), as for GPT-2: `manage.py trace` on Gemma 2 with a transcoder on layer 0
    and layer 1's gated neurons, then an ablation through the service."""
    from django.core.management import call_command

    from circuits.models import Graph
    from circuits.services.interventions import graph_intervene
    from features.services.registration import dictionary_register, model_register

    model = model_register(slug="tiny-gemma-2", path=str(save_tiny_decoder(tmp_path / "model", "gemma2")))
    dictionary_register(model=model, path=str(save_tiny_transcoders(tmp_path / "tc")[0]), slug="0-tc")
    call_command("trace", "tiny-gemma-2", PROMPT, "--sync", "--slug", "cat", "--max-nodes", "40")
    graph = Graph.objects.get(model=model, slug="cat")
    kinds = {node.get("node_kind") for node in graph.data["nodes"]}
    assert {"transcoder feature", "mlp neuron", "logit"} <= kinds
    assert graph.params["sources"] == ["0-tc", "1-mlp"]
    neuron = next(node["node_id"] for node in graph.data["nodes"] if node.get("node_kind") == "mlp neuron")
    result = graph_intervene(graph=graph, edits=[{"node_id": neuron, "scale": 0}])
    assert result["target"]["value_after"] != result["target"]["value_before"]
