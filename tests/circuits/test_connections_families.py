"""Connections beyond GPT-2 and BERT, on tiny random checkpoints: Gemma 2 (norms after attention and the MLP,
RMSNorm scaling by 1 + weight) and the parallel blocks of GPT-NeoX and GPT-J (attention and MLP both read the
block's input). In each, the virtual weights equal the product of the checkpoint's own weights with the documented
folding, and equal the effect of a perturbation in a real forward pass with attention and the norms' scales held."""

import pytest
import torch

from circuits.core.residual_paths import (
    PARALLEL_FAMILIES,
    POST_NORM_FAMILIES,
    SEQUENTIAL_FAMILIES,
    feeds,
    path_folds,
    stream_roles,
)
from circuits.core.virtual_weights import virtual_weights
from features.pipeline.architectures import FAMILIES
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, hook_module
from features.pipeline.loading import load_language_model
from features.pipeline.sources import dictionary_source, neuron_source
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoder
from tests.circuits.tiny_families import save_tiny_decoder
from tests.conftest import save_tiny_dictionary

POSITION, ALPHA = 3, 0.7


def _sources(loaded, tmp_path, saes: dict[str, str], transcoder_layers: tuple[int, ...]) -> dict:
    """Both layers' neurons, an SAE per {slug: hook name}, a transcoder (ln2.hook_normalized -> hook_mlp_out) per
    layer given."""
    specs = [neuron_source(loaded, 0), neuron_source(loaded, 1)]
    for slug, hook in saes.items():
        path = save_tiny_dictionary(tmp_path / slug, "standard", d_in=32, d_sae=12, hook_name=hook)
        specs.append(dictionary_source(loaded, load_dictionary(path), slug))
    for layer in transcoder_layers:
        path = save_tiny_transcoder(tmp_path / f"{layer}-tc", layer)
        specs.append(dictionary_source(loaded, load_dictionary(path), f"{layer}-tc"))
    return {spec.slug: spec for spec in specs}


def _weights(stream, roles, up: str, down: str, inverse_scales: dict[str, float]) -> torch.Tensor:
    assert feeds(stream, roles[up], roles[down]), f"{up} should feed {down}"
    folds = path_folds(stream, roles[up], roles[down], inverse_scales)
    return virtual_weights(roles[up].decoder(), roles[down].encoder(), folds)


def _rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def _std(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps)


def _frozen_pair(model, ids, perturb, hold_outputs=(), hold_scales=(), watch=()):
    """A clean forward pass, then one with `perturb` (module, forward pre-hook or hook) installed, each module of
    `hold_outputs` returning its clean output and each norm of `hold_scales` (module, scale function) dividing by
    its clean scale: its own output times its scale over the clean one (a norm's output is normalised(x) x weight
    (+ bias), whatever its formula for the weight). Returns {module: (clean input or output, perturbed)} for the
    modules in `watch` ((module, "input" | "output"))."""
    seen = {"clean": {}, "perturbed": {}}
    clean_outputs, clean_scales = {}, {}

    def run(key):
        handles = []
        for module, side in watch:
            if side == "input":
                handles.append(module.register_forward_pre_hook(lambda m, a, key=key: seen[key].__setitem__(m, a[0])))
            else:
                handles.append(
                    module.register_forward_hook(
                        lambda m, _a, out, key=key: seen[key].__setitem__(m, out[0] if isinstance(out, tuple) else out)
                    )
                )
        for module in hold_outputs:
            if key == "clean":
                handles.append(module.register_forward_hook(lambda m, _a, out: clean_outputs.__setitem__(m, out)))
            else:
                handles.append(module.register_forward_hook(lambda m, _a, _out: clean_outputs[m]))
        for norm, scale in hold_scales:

            def hold(module, args, out, scale=scale, key=key):
                if key == "clean":
                    clean_scales[module] = scale(args[0], module.eps)
                    return out
                bias = module.bias if getattr(module, "bias", None) is not None else 0.0
                return (out - bias) * scale(args[0], module.eps) / clean_scales[module] + bias

            handles.append(norm.register_forward_hook(hold))
        if key == "perturbed":
            module, hook, pre = perturb
            handles.append(module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                model(input_ids=torch.tensor([ids]))
        finally:
            for handle in handles:
                handle.remove()

    run("clean")
    run("perturbed")
    return {module: (seen["clean"][module][0], seen["perturbed"][module][0]) for module, _ in watch}, clean_scales


def test_every_family_hooked_has_its_residual_stream_mapped_and_others_are_refused(tiny_gpt2_dir):
    assert SEQUENTIAL_FAMILIES | PARALLEL_FAMILIES | POST_NORM_FAMILIES == set(FAMILIES)
    loaded = load_language_model(tiny_gpt2_dir)
    family = loaded.family
    try:
        loaded.family = type(family)(name="mamba", description="Mamba", block_list=family.block_list, points={})
        with pytest.raises(PipelineInputError, match="not computed for Mamba"):
            stream_roles(loaded, [])
    finally:
        loaded.family = family


# -- Gemma 2 --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma2(tmp_path_factory):
    """Tiny Gemma 2 with both layers' (gated) neurons, an SAE on resid_mid of block 1 and a transcoder of block 1."""
    root = tmp_path_factory.mktemp("gemma2")
    loaded = load_language_model(save_tiny_decoder(root / "model", "gemma2"))
    sources = _sources(loaded, root, {"1-res": "blocks.1.hook_resid_mid"}, (1,))
    return loaded, sources, *stream_roles(loaded, list(sources.values()))


def test_gemma_2_virtual_weights_are_the_product_of_its_weights_through_its_post_mlp_norm(gemma2):
    """A layer-0 neuron's output crosses post_feedforward_layernorm (its scale and 1 + weight) before the stream; the
    layer-1 transcoder reads pre_feedforward_layernorm's normalised input (its scale only); the SAE reads resid_mid
    as it is. Gated neurons write but are not read."""
    loaded, sources, stream, roles = gemma2
    layers = loaded.model.model.layers
    scales = {"blocks.0.ln2_post": 0.7, "blocks.1.ln2": 1.3}
    w_down = layers[0].mlp.down_proj.weight.detach().T  # [d_mlp, d]: each neuron's output direction
    stored_weight = layers[0].post_feedforward_layernorm.weight.detach()
    written = w_down * (1 + stored_weight) * scales["blocks.0.ln2_post"]
    tc_enc, res_enc = (sources[slug].dictionary.sae.W_enc.detach() for slug in ("1-tc", "1-res"))

    to_tc = _weights(stream, roles, "0-mlp", "1-tc", scales)
    torch.testing.assert_close(to_tc, written * scales["blocks.1.ln2"] @ tc_enc)
    torch.testing.assert_close(_weights(stream, roles, "0-mlp", "1-res", scales), written @ res_enc)
    # Gemma stores the norm's weight as an offset from one: read as the weight itself, every virtual weight would
    # be far off.
    as_if_weight = w_down * stored_weight * scales["blocks.0.ln2_post"] * scales["blocks.1.ln2"] @ tc_enc
    assert (to_tc - as_if_weight).abs().max() > 0.5 * to_tc.abs().max()

    assert "gated" in roles["0-mlp"].no_read and not feeds(stream, roles["0-mlp"], roles["1-mlp"])
    assert not feeds(stream, roles["1-tc"], roles["1-res"]) and not feeds(stream, roles["1-mlp"], roles["1-tc"])
    # The transcoder writes hook_mlp_out, after the post-MLP norm: nothing of its own to fold.
    assert roles["1-tc"].writer_norm is None and roles["0-mlp"].writer_norm.key == "blocks.0.ln2_post"


def test_gemma_2_virtual_weights_equal_a_forward_pass_with_attention_and_norm_scales_held(gemma2):
    """Adding alpha to a layer-0 neuron's activation, with layer 1's attention output and the scales of layer 0's
    post-MLP norm and layer 1's pre-MLP norm held at their clean values, changes the transcoder's and the SAE's
    pre-activations by alpha times their virtual weights (each norm folded at its own clean 1/scale there)."""
    loaded, sources, stream, roles = gemma2
    layers = loaded.model.model.layers
    neuron = 5

    def add(_module, args):
        x = args[0].clone()
        x[0, POSITION, neuron] += ALPHA
        return (x,)

    post_mlp, pre_mlp = layers[0].post_feedforward_layernorm, layers[1].pre_feedforward_layernorm
    seen, clean_scales = _frozen_pair(
        loaded.model,
        loaded.tokenizer(PROMPT)["input_ids"],
        perturb=(layers[0].mlp.down_proj, add, True),
        hold_outputs=[layers[1].post_attention_layernorm],
        hold_scales=[(post_mlp, _rms), (pre_mlp, _rms)],
        watch=[(pre_mlp, "input")],
    )
    clean, perturbed = seen[pre_mlp]
    change = perturbed[POSITION] - clean[POSITION]  # resid_mid of block 1
    scales = {
        "blocks.0.ln2_post": 1 / clean_scales[post_mlp][0, POSITION, 0].item(),
        "blocks.1.ln2": 1 / clean_scales[pre_mlp][0, POSITION, 0].item(),
    }
    tc_change = change * scales["blocks.1.ln2"] @ sources["1-tc"].dictionary.sae.W_enc
    res_change = change @ sources["1-res"].dictionary.sae.W_enc
    for slug, observed in (("1-tc", tc_change), ("1-res", res_change)):
        expected = ALPHA * _weights(stream, roles, "0-mlp", slug, scales)[neuron]
        torch.testing.assert_close(observed, expected, rtol=1e-4, atol=1e-5)
        assert observed.abs().max() > 1e-3, "the perturbation should change something"


# -- parallel blocks ------------------------------------------------------------------------------------------------

# name -> (output projection of layer 0's MLP, input norm of layer 1's MLP, input projection of layer 1's MLP)
PARALLEL_WEIGHTS = {
    "gpt_neox": lambda m: (
        m.gpt_neox.layers[0].mlp.dense_4h_to_h,
        m.gpt_neox.layers[1].post_attention_layernorm,
        m.gpt_neox.layers[1].mlp.dense_h_to_4h,
    ),
    "gptj": lambda m: (m.transformer.h[0].mlp.fc_out, m.transformer.h[1].ln_1, m.transformer.h[1].mlp.fc_in),
}


@pytest.fixture(scope="module", params=sorted(PARALLEL_WEIGHTS))
def parallel(request, tmp_path_factory):
    """A tiny parallel-block model with both layers' neurons, an SAE on layer 0's attention output and a transcoder
    per layer."""
    root = tmp_path_factory.mktemp(request.param)
    loaded = load_language_model(save_tiny_decoder(root / "model", request.param))
    sources = _sources(loaded, root, {"0-attn": "blocks.0.hook_attn_out"}, (0, 1))
    return request.param, loaded, sources, *stream_roles(loaded, list(sources.values()))


def test_a_parallel_blocks_mlp_output_and_attention_output_are_read_by_the_next_layers_only(parallel):
    name, loaded, sources, stream, roles = parallel
    assert loaded.family.name == name
    for writer in ("0-attn", "0-mlp", "0-tc"):
        assert not feeds(stream, roles[writer], roles["0-mlp"]) and not feeds(stream, roles[writer], roles["0-tc"])
        assert feeds(stream, roles[writer], roles["1-mlp"]) and feeds(stream, roles[writer], roles["1-tc"])
    assert not feeds(stream, roles["1-mlp"], roles["1-tc"])

    # The product of the checkpoint's weights: layer 1's MLP reads layer 0's neurons through its LayerNorm
    # (centred, its weight, 1/scale).
    w_out, norm, w_in = PARALLEL_WEIGHTS[name](loaded.model)
    scale = 0.8
    centred = w_out.weight.detach().T - w_out.weight.detach().T.mean(-1, keepdim=True)
    expected = centred * norm.weight.detach() * scale @ w_in.weight.detach().T
    torch.testing.assert_close(_weights(stream, roles, "0-mlp", "1-mlp", {"blocks.1.ln2": scale}), expected)


def test_parallel_virtual_weights_equal_a_forward_pass_with_the_norm_scale_held(parallel):
    """Adding alpha times an SAE feature's direction to layer 0's attention output changes layer 1's neuron and
    transcoder pre-activations by alpha times their virtual weights once layer 1's MLP norm holds its clean scale
    (nothing else lies on the direct path: layer 1's attention is beside its MLP), and leaves layer 0's MLP as it
    was."""
    name, loaded, sources, stream, roles = parallel
    feature = 4
    direction = sources["0-attn"].dictionary.decoder[feature].float()
    attention, _ = hook_module(loaded, HookPoint(name="", layer=0, point="hook_attn_out"))
    norm1, _ = hook_module(loaded, HookPoint(name="", layer=1, point="ln2.hook_normalized"))
    pre0, _ = hook_module(loaded, HookPoint(name="", layer=0, point="mlp.hook_pre"))
    _, _, pre1 = PARALLEL_WEIGHTS[name](loaded.model)

    def add(_module, _args, output):
        out = (output[0] if isinstance(output, tuple) else output).clone()
        out[0, POSITION] += ALPHA * direction
        return (out, *output[1:]) if isinstance(output, tuple) else out

    seen, clean_scales = _frozen_pair(
        loaded.model,
        loaded.tokenizer(PROMPT)["input_ids"],
        perturb=(attention, add, False),
        hold_scales=[(norm1, _std)],
        watch=[(norm1, "input"), (pre1, "output"), (pre0, "output")],
    )
    scales = {"blocks.1.ln2": 1 / clean_scales[norm1][0, POSITION, 0].item()}
    neuron_change = seen[pre1][1][POSITION] - seen[pre1][0][POSITION]
    stream_change = seen[norm1][1][POSITION] - seen[norm1][0][POSITION]
    tc_change = (stream_change - stream_change.mean()) * scales["blocks.1.ln2"] @ sources["1-tc"].dictionary.sae.W_enc
    for slug, observed in (("1-mlp", neuron_change), ("1-tc", tc_change)):
        expected = ALPHA * _weights(stream, roles, "0-attn", slug, scales)[feature]
        torch.testing.assert_close(observed, expected, rtol=1e-4, atol=1e-5)
        assert observed.abs().max() > 1e-3, "the perturbation should change something"
    torch.testing.assert_close(seen[pre0][1], seen[pre0][0])
