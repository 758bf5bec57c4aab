"""Residual-stream SAEs spliced into the replacement model (circuits/core/residual_splices.py), on tiny random
GPT-2 and BERT models with tiny SAEs on disk: every node still sums exactly to its incoming edges plus a constant,
the spliced frozen pass gives the real model's output at the prompt, upstream nodes reach past the splice only
through its features and error nodes, each architecture is linearised as documented, and bad splices are
refused by name."""

import pytest
import torch

from circuits.core.attribution import AttributionRun, FeatureTarget, LayerReplacement, LogitTarget
from circuits.core.attribution_graph import graph_json
from circuits.core.residual_splices import SaeSplice, linear_parts
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model
from tests.circuits.test_attribution import _check_exact, _ids, _top_token
from tests.circuits.tiny_circuits import save_tiny_transcoders
from tests.conftest import save_tiny_dictionary

ARCHITECTURES = {
    "standard": {},
    "topk": {"k": 6},
    "jumprelu": {},
    "gated": {},
}


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    return load_language_model(tiny_bert_dir)


@pytest.fixture(scope="module")
def transcoders(tmp_path_factory):
    return [load_dictionary(path) for path in save_tiny_transcoders(tmp_path_factory.mktemp("transcoders"))]


@pytest.fixture(scope="module")
def sae_factory(tmp_path_factory):
    """A tiny SAE of an architecture on a hook; its encoder scaled to the stream it reads (the random GPT-2's
    stream is small, about 0.2 in norm; BERT's is LayerNorm-sized)."""
    made = {}

    def make(architecture: str, hook_name: str, *, scale: float = 30.0, **extra):
        key = (architecture, hook_name, scale, tuple(sorted(extra.items())))
        if key not in made:
            directory = tmp_path_factory.mktemp(f"sae-{architecture}")
            options = {**ARCHITECTURES[architecture], **extra}
            save_tiny_dictionary(
                directory, architecture, d_in=32, d_sae=24, hook_name=hook_name, encoder_scale=scale, **options
            )
            made[key] = load_dictionary(directory)
        return made[key]

    return make


def _neurons(n_layers: int) -> list[LayerReplacement]:
    return [LayerReplacement(layer, f"{layer}-mlp") for layer in range(n_layers)]


def _sae_rows(result) -> list[int]:
    return [k for k, (stage, _, _) in enumerate(result.features) if stage >= result.n_layers]


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("point", ["hook_resid_pre", "hook_resid_mid", "hook_resid_post"])
def test_a_gpt2_graph_with_an_sae_spliced_between_neuron_layers_sums_exactly(gpt2, sae_factory, architecture, point):
    ids = _ids(gpt2)
    layer = 0 if point == "hook_resid_post" else 1
    sae = sae_factory(architecture, f"blocks.{layer}.{point}")
    run = AttributionRun(gpt2, ids, _neurons(2), LogitTarget(_top_token(gpt2, ids)), splices=[SaeSplice("r", sae)])
    result = run.compute(batch_size=256)
    assert result.n_stages == 3 and result.splice_hooks == [sae.hook_name]
    sae_rows = _sae_rows(result)
    assert sae_rows, "the SAE has active features at the prompt"
    _check_exact(run, result)
    # the active set frozen: an active feature's activation is its linear pre-activation (sae-lens's own value)
    for k in sae_rows:
        assert result.feature_activations[k] == pytest.approx(float(result.extra["pre_activations"][k]), abs=1e-4)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_splice_reconstructs_what_sae_lens_does_and_the_error_holds_the_rest(gpt2, sae_factory, architecture):
    ids = _ids(gpt2)
    sae = sae_factory(architecture, "blocks.1.hook_resid_pre")
    run = AttributionRun(gpt2, ids, _neurons(2), LogitTarget(_top_token(gpt2, ids)), splices=[SaeSplice("r", sae)])
    x = capture_activations(gpt2, [parse_hook_name(sae.hook_name, gpt2)], torch.tensor([ids]))[sae.hook_name][0]
    with torch.no_grad():
        sae_lens_reconstruction = sae.sae.decode(sae.encode(x))
    stage = run.n_layers
    ours = run.node_outputs[stage] + sae.sae.b_dec.detach()
    torch.testing.assert_close(ours[1:], sae_lens_reconstruction[1:], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(run.errors[stage][1:], (x - sae_lens_reconstruction)[1:], atol=1e-5, rtol=1e-4)
    assert run.errors[stage][1:].abs().max() > 1e-3  # a random SAE misses plenty: the error node is not empty


def test_the_spliced_frozen_model_gives_the_real_models_output_at_the_prompt(gpt2, transcoders, sae_factory):
    ids = _ids(gpt2)
    splices = [SaeSplice("0-post", sae_factory("gated", "blocks.0.hook_resid_post"))]
    splices.append(SaeSplice("1-mid", sae_factory("topk", "blocks.1.hook_resid_mid")))
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    run = AttributionRun(gpt2, ids, replacements, LogitTarget(_top_token(gpt2, ids)), splices=splices)
    run._frozen_pass(1)
    spliced = run.frozen.captured["unembed"][0].detach()
    with torch.no_grad():
        real = gpt2.model.transformer(input_ids=torch.tensor([ids])).last_hidden_state[0]
    torch.testing.assert_close(spliced, real, atol=1e-5, rtol=1e-5)
    # and exactness holds with transcoders and two splices around them
    result = run.compute()
    assert len(result.splice_hooks) == 2
    _check_exact(run, result)


def test_upstream_nodes_reach_past_the_splice_only_through_it(gpt2, transcoders, sae_factory):
    ids = _ids(gpt2)
    sae = sae_factory("standard", "blocks.0.hook_resid_post")
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    run = AttributionRun(gpt2, ids, replacements, LogitTarget(_top_token(gpt2, ids)), splices=[SaeSplice("r", sae)])
    result = run.compute()
    n_features, n_pos = result.n_features, result.n_pos
    before_splice = [k for k, (stage, _, _) in enumerate(result.features) if stage == 0]
    errors_before = list(range(n_features, n_features + n_pos))  # layer 0's MLP errors
    tokens = list(range(n_features + result.n_stages * n_pos, n_features + result.n_stages * n_pos + n_pos))
    upstream = before_splice + errors_before + tokens
    downstream_rows = [k for k, (stage, _, _) in enumerate(result.features) if stage == 1] + [-1]
    assert result.adjacency[downstream_rows][:, upstream].abs().max() == 0
    # ... while the SAE's features read them, and the target reads the SAE's features and error nodes
    sae_rows = _sae_rows(result)
    assert result.adjacency[sae_rows][:, upstream].abs().sum() > 0
    sae_errors = list(range(n_features + 2 * n_pos, n_features + 3 * n_pos))
    assert result.adjacency[-1, sae_rows + sae_errors].abs().sum() > 0


@pytest.mark.parametrize(("architecture", "point"), [("gated", "hook_resid_mid"), ("jumprelu", "hook_resid_post")])
def test_a_bert_graph_towards_a_feature_with_an_sae_spliced_sums_exactly(bert, sae_factory, architecture, point):
    ids = bert.tokenizer("the cat sat")["input_ids"]
    target_sae = sae_factory("standard", "blocks.2.hook_resid_pre", scale=1.0)
    splice = SaeSplice("1-res", sae_factory(architecture, f"blocks.1.{point}", scale=1.0))
    target = FeatureTarget(dictionary=target_sae, index=3, position=len(ids) - 2, source_slug="2-res")
    run = AttributionRun(bert, ids, _neurons(2), target, splices=[splice])
    result = run.compute(batch_size=256)
    assert _sae_rows(result)
    _check_exact(run, result)


def test_sae_nodes_are_placed_in_their_hooks_layer_with_their_own_ids(gpt2, transcoders, sae_factory):
    ids = _ids(gpt2)
    sae = sae_factory("standard", "blocks.0.hook_resid_post")
    replacements = [LayerReplacement(layer, f"{layer}-tc", tc) for layer, tc in enumerate(transcoders)]
    token = _top_token(gpt2, ids)
    run = AttributionRun(gpt2, ids, replacements, LogitTarget(token), splices=[SaeSplice("0-res", sae)])
    data, _ = graph_json(
        run.compute(), slug="g", scan="tiny", prompt="p", prompt_tokens=[str(i) for i in ids], target_label="t",
        node_threshold=1.0, edge_threshold=1.0,
    )  # fmt: skip
    sae_nodes = [n for n in data["nodes"] if n.get("node_kind") == "sae feature"]
    assert sae_nodes
    for node in sae_nodes:
        assert node["layer"] == "0" and node["probe_location_idx"] == 3 and node["hook"] == sae.hook_name
        assert node["node_id"] == f"0post_{node['index']}_{node['ctx_idx']}" and node["source"] == "0-res"
    errors = [n for n in data["nodes"] if n.get("node_kind") == "sae error"]
    assert errors and all(n["node_id"].startswith("0_0post_") for n in errors)
    assert f"3_{token}_{len(ids) - 1}" in {n["node_id"] for n in data["nodes"]}  # the logit stays at n_layers + 1
    assert data["metadata"]["transcoder_list"] == ["0-tc", "1-tc", "0-res"]


def test_bad_splices_are_refused_by_name(gpt2, bert, transcoders, sae_factory, tmp_path):
    ids = _ids(gpt2)
    target = LogitTarget(5)
    mlp_out = sae_factory("standard", "blocks.0.hook_mlp_out")
    with pytest.raises(PipelineInputError, match="only on the residual stream"):
        AttributionRun(gpt2, ids, _neurons(2), target, splices=[SaeSplice("0-mlpout", mlp_out)])
    normalising = sae_factory("standard", "blocks.1.hook_resid_pre", normalize_activations="layer_norm")
    with pytest.raises(PipelineInputError, match="normalises its inputs"):
        AttributionRun(gpt2, ids, _neurons(2), target, splices=[SaeSplice("1-norm", normalising)])
    one, other = sae_factory("standard", "blocks.1.hook_resid_pre"), sae_factory("gated", "blocks.1.hook_resid_pre")
    with pytest.raises(PipelineInputError, match="both read blocks.1.hook_resid_pre"):
        AttributionRun(gpt2, ids, _neurons(2), target, splices=[SaeSplice("a", one), SaeSplice("b", other)])
    with pytest.raises(PipelineInputError, match="is a transcoder"):
        AttributionRun(gpt2, ids, _neurons(2), target, splices=[SaeSplice("0-tc", transcoders[0])])
    # a splice at or past the target's own read is not between the tokens and the target
    bert_ids = bert.tokenizer("the cat sat")["input_ids"]
    bert_target = FeatureTarget(sae_factory("standard", "blocks.1.hook_resid_mid", scale=1.0), 0, 1, "1-mid")
    late = SaeSplice("1-post", sae_factory("standard", "blocks.1.hook_resid_post", scale=1.0))
    with pytest.raises(PipelineInputError, match="not upstream of the target"):
        AttributionRun(bert, bert_ids, _neurons(1), bert_target, splices=[late])


def test_linear_parts_fold_topks_decoder_norm_rescaling(sae_factory):
    sae = sae_factory("topk", "blocks.1.hook_resid_pre", rescale_acts_by_decoder_norm=True)
    with torch.no_grad():
        sae.sae.W_dec.mul_(torch.linspace(0.5, 2.0, 24)[:, None])  # rows of unequal norm
    x = torch.randn(5, 32) * 0.2
    encoder, offset, decoder = linear_parts(sae)
    acts = sae.encode(x).float()
    active = acts > 0
    assert active.any()
    torch.testing.assert_close((x @ encoder + offset)[active], acts[active], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(acts @ decoder + sae.sae.b_dec, sae.sae.decode(acts), atol=1e-5, rtol=1e-5)
