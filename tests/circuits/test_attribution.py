"""Attribution graphs on tiny real models (random weights on disk): every node's pre-activation is the sum of its
incoming direct effects plus a constant that a separate pass of the frozen model, with every source node's output
set to zero, computes; pruning keeps the stated share of influence; bad requests are refused by name."""

import pytest
import torch

from circuits.core.attribution import (
    AttributionRun,
    FeatureTarget,
    LayerReplacement,
    LogitTarget,
    compute_attribution,
)
from circuits.core.attribution_graph import graph_json, influence, normalized_abs, prune, share_threshold
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders
from tests.conftest import save_tiny_dictionary


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def transcoders(tmp_path_factory):
    return [load_dictionary(path) for path in save_tiny_transcoders(tmp_path_factory.mktemp("transcoders"))]


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    return load_language_model(tiny_bert_dir)


@pytest.fixture(scope="module")
def bert_sae(tmp_path_factory):
    directory = save_tiny_dictionary(
        tmp_path_factory.mktemp("bert-sae"), "standard", d_in=32, d_sae=16, hook_name="blocks.2.hook_resid_pre"
    )
    return load_dictionary(directory)


def _ids(loaded) -> list[int]:
    return loaded.tokenizer(PROMPT)["input_ids"]


def _top_token(loaded, ids) -> int:
    with torch.no_grad():
        return int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())


def _check_exact(run: AttributionRun, result) -> None:
    """Pre-activation == sum of incoming edges + the frozen model's value with every source at zero, for every node
    that has incoming edges; and the frozen model at full sources gives the real model's values."""
    selected = result.extra["selected"].tolist()
    readers = [run.readers[i] for i in selected] + [run.target_reader]
    rows = list(range(len(selected))) + [result.adjacency.shape[0] - 1]
    at_zero = torch.tensor(run.linearised_values(readers, 0.0))
    at_one = torch.tensor(run.linearised_values(readers, 1.0))
    pre = result.extra["pre_activations"][rows]
    incoming = result.adjacency[rows].sum(dim=1)
    scale = pre.abs().max()
    torch.testing.assert_close(at_one, pre, atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(incoming + at_zero, pre, atol=1e-5 * scale, rtol=0)
    assert result.adjacency[rows].abs().sum() > 0.1 * scale  # the edges carry something, not only the constant


def transcoder_nodes(loaded, transcoders, ids) -> list[tuple[int, int, int]]:
    """(layer, position, index) of every active transcoder feature, from the project's own hook capture (position 0
    left out): what a graph's feature nodes must be."""
    hooks = [parse_hook_name(tc.hook_name, loaded) for tc in transcoders]
    captured = capture_activations(loaded, hooks, torch.tensor([ids]))
    expected = []
    for layer, tc in enumerate(transcoders):
        acts = tc.encode(captured[tc.hook_name][0]).float().clone()
        acts[0] = 0
        expected += [(layer, p, i) for p, i in acts.nonzero().tolist()]
    return expected


def test_a_gpt2_graph_with_transcoders_sums_exactly_to_every_node(gpt2, transcoders):
    ids = _ids(gpt2)
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    run = AttributionRun(gpt2, ids, replacements, LogitTarget(_top_token(gpt2, ids)))
    result = run.compute()
    assert result.n_features == result.n_active_features > 20
    _check_exact(run, result)
    assert result.features == transcoder_nodes(gpt2, transcoders, ids)


def test_a_bert_graph_of_mlp_neurons_towards_a_feature_sums_exactly(bert, bert_sae):
    ids = bert.tokenizer("the cat sat")["input_ids"]
    replacements = [LayerReplacement(layer, f"{layer}-mlp") for layer in range(2)]  # the SAE reads before block 2
    target = FeatureTarget(dictionary=bert_sae, index=3, position=len(ids) - 2, source_slug="2-res")
    run = AttributionRun(bert, ids, replacements, target)
    result = run.compute(batch_size=128)
    # GELU neurons are all active: 48 per layer and position, position 0 ([CLS]) left out
    assert result.n_features == 2 * 48 * (len(ids) - 1)
    assert result.n_layers == 2
    _check_exact(run, result)
    # the target's pre-activation is sae-lens's own
    hidden = capture_activations(bert, [parse_hook_name("blocks.2.hook_resid_pre", bert)], torch.tensor([ids]))
    sae = bert_sae.sae
    with torch.no_grad():
        pre = (hidden["blocks.2.hook_resid_pre"][0, len(ids) - 2] - sae.b_dec) @ sae.W_enc[:, 3] + sae.b_enc[3]
    assert result.target_value == pytest.approx(float(pre), abs=1e-5)


def test_a_node_budget_keeps_the_most_influential_features_first(gpt2, transcoders):
    ids = _ids(gpt2)
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    target = LogitTarget(_top_token(gpt2, ids))
    full = compute_attribution(gpt2, ids, replacements, target)
    budgeted = compute_attribution(gpt2, ids, replacements, target, max_feature_nodes=10, batch_size=5)
    assert budgeted.n_features == 10
    # the first batch is ranked by the target's own edges: the five strongest direct inputs of the target
    direct = full.adjacency[-1, : full.n_features].abs()
    strongest = {full.features[i] for i in torch.topk(direct, 5).indices.tolist()}
    assert strongest <= set(budgeted.features)
    # a kept feature's incoming edges are the same as in the full graph
    for k, feature in enumerate(budgeted.features):
        j = full.features.index(feature)
        full_row = full.adjacency[j, full.n_features :]
        torch.testing.assert_close(budgeted.adjacency[k, budgeted.n_features :], full_row)


def test_pruning_keeps_the_stated_share_of_influence(gpt2, transcoders):
    ids = _ids(gpt2)
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    result = compute_attribution(gpt2, ids, replacements, LogitTarget(_top_token(gpt2, ids)))
    weights = torch.zeros(result.adjacency.shape[0])
    weights[-1] = result.target_weight
    scores = influence(normalized_abs(result.adjacency), weights)
    for share in (0.5, 0.8, 0.95):
        threshold = share_threshold(scores, share)
        kept = scores[scores >= threshold]
        assert kept.sum() >= share * scores.sum() - 1e-6
        # and no smaller set of the top nodes would do: without its weakest member the set falls short
        assert kept.sum() - kept.min() < share * scores.sum()
        pruned = prune(
            result.adjacency,
            n_features=result.n_features,
            n_tokens=result.n_pos,
            target_weights=torch.tensor([result.target_weight]),
            node_threshold=share,
        )
        n_sources = result.adjacency.shape[0] - result.n_pos - 1
        assert not (pruned.node_mask[:n_sources] & (scores[:n_sources] < threshold)).any()
        assert pruned.node_mask[n_sources:].all()  # tokens and the target always stay


def test_the_graph_json_follows_circuit_tracers_schema(gpt2, transcoders):
    ids = _ids(gpt2)
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    token = _top_token(gpt2, ids)
    result = compute_attribution(gpt2, ids, replacements, LogitTarget(token))
    data, (replacement, completeness) = graph_json(
        result, slug="g", scan="tiny", prompt=PROMPT, prompt_tokens=[str(i) for i in ids], target_label="top"
    )
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    assert 0 < replacement <= 1 and 0 < completeness <= 1
    ids_in_graph = {node["node_id"] for node in data["nodes"]}
    assert f"3_{token}_{len(ids) - 1}" in ids_in_graph  # the logit: layer n_layers + 1
    assert {f"E_{vocab}_{pos}" for pos, vocab in enumerate(ids)} <= ids_in_graph
    for link in data["links"]:
        assert link["source"] in ids_in_graph and link["target"] in ids_in_graph
    feature = next(node for node in data["nodes"] if node["feature_type"] == "cross layer transcoder")
    layer, index, pos = (int(part) for part in feature["node_id"].split("_"))
    assert feature["source"] == f"{layer}-tc" and feature["index"] == index and feature["ctx_idx"] == pos


def test_a_dictionary_that_is_not_a_transcoder_cannot_replace_an_mlp(gpt2, tiny_sae_dir):
    sae = load_dictionary(tiny_sae_dir)
    ids = _ids(gpt2)
    with pytest.raises(PipelineInputError, match="not a transcoder"):
        AttributionRun(gpt2, ids, [LayerReplacement(0, "1-res", sae), LayerReplacement(1, "1-mlp")], LogitTarget(5))


def test_bad_targets_are_refused_by_name(gpt2, bert, bert_sae, transcoders):
    ids = _ids(gpt2)
    replacements = [LayerReplacement(0, "0-mlp"), LayerReplacement(1, "1-mlp")]
    with pytest.raises(PipelineInputError, match="no language-model head"):
        AttributionRun(bert, ids, replacements, LogitTarget(5))
    with pytest.raises(PipelineInputError, match="outside the vocabulary"):
        AttributionRun(gpt2, ids, replacements, LogitTarget(10**9))
    with pytest.raises(PipelineInputError, match="outside the prompt"):
        AttributionRun(bert, ids, replacements, FeatureTarget(bert_sae, 0, 99, "2-res"))
    with pytest.raises(PipelineInputError, match="missing \\[1\\]"):
        AttributionRun(gpt2, ids, replacements[:1], LogitTarget(5))
