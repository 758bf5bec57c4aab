"""The pure core of connections: virtual weights against brute force and against a real forward pass of a tiny
GPT-2 with attention and LayerNorm's scale frozen; top-k per row and column; co-activation counts."""

import json

import pytest
import torch

from circuits.core.coactivation import CoactivationCounter
from circuits.core.residual_paths import feeds, path_folds, stream_roles
from circuits.core.virtual_weights import NormFold, top_connections, virtual_weights
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import load_language_model
from features.pipeline.sources import dictionary_source, neuron_source
from tests.conftest import save_tiny_dictionary


def _brute_force_virtual_weights(decoder, encoder, folds):
    """Every fold as an explicit d x d matrix (centring I - 11^T/d, then diag(weight / scale)), multiplied out, and
    each weight summed term by term."""
    d = decoder.shape[1]
    matrix = torch.eye(d, dtype=torch.float64)
    for fold in folds:
        step = torch.eye(d, dtype=torch.float64)
        if fold.centre:
            step = step - torch.full((d, d), 1.0 / d, dtype=torch.float64)
        weight = fold.weight.double() if fold.weight is not None else torch.ones(d, dtype=torch.float64)
        step = step @ torch.diag(weight * fold.inverse_scale)
        matrix = matrix @ step
    out = torch.zeros(decoder.shape[0], encoder.shape[1], dtype=torch.float64)
    for u in range(decoder.shape[0]):
        read = decoder[u].double() @ matrix
        for f in range(encoder.shape[1]):
            out[u, f] = sum(read[i] * encoder[i, f].double() for i in range(d))
    return out


def test_virtual_weights_equal_brute_force_through_several_normalisations():
    generator = torch.Generator().manual_seed(0)
    decoder, encoder = torch.randn(7, 6, generator=generator), torch.randn(6, 5, generator=generator)
    folds = [
        NormFold(True, 0.5, torch.rand(6, generator=generator) + 0.5),
        NormFold(False, 2.0, torch.rand(6, generator=generator)),
        NormFold(True, 1.5),
    ]
    expected = _brute_force_virtual_weights(decoder, encoder, folds)
    torch.testing.assert_close(virtual_weights(decoder, encoder, folds).double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(virtual_weights(decoder, encoder), decoder @ encoder)


def test_top_connections_equal_sorting_the_whole_matrix_per_row_and_column():
    generator = torch.Generator().manual_seed(1)
    decoder, encoder = torch.randn(23, 8, generator=generator), torch.randn(8, 17, generator=generator)
    folds = [NormFold(True, 0.7)]
    full = virtual_weights(decoder, encoder, folds)
    top = top_connections(decoder, encoder, folds, k=4, chunk=5)  # several chunks, merged
    for up in range(23):
        expected = sorted(range(17), key=lambda f: (-abs(full[up, f].item()), f))[:4]
        assert top.downstream_ids[up].tolist() == expected
        torch.testing.assert_close(top.downstream_weights[up], full[up, expected])
    for down in range(17):
        expected = sorted(range(23), key=lambda u: (-abs(full[u, down].item()), u))[:4]
        assert top.upstream_ids[down].tolist() == expected
        torch.testing.assert_close(top.upstream_weights[down], full[expected, down])
    assert set(top.pairs()) >= {(up, int(top.downstream_ids[up, 0])) for up in range(23)}


def test_a_decoder_and_encoder_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="writes 6 dimensions but the encoder reads 5"):
        virtual_weights(torch.zeros(2, 6), torch.zeros(5, 3))


@pytest.mark.parametrize("dense_max_features", [0, 100], ids=["sparse", "dense"])
def test_coactivation_counts_jaccard_and_lift_equal_brute_force(dense_max_features):
    generator = torch.Generator().manual_seed(2)
    batches = [torch.rand(40, 9, generator=generator) < torch.linspace(0.05, 0.8, 9) for _ in range(11)]
    counter = CoactivationCounter(9, dense_max_features=dense_max_features)
    for batch in batches:
        counter.update(batch)
    result = counter.result(k=3, min_together=2)
    tokens = torch.cat(batches)
    n = tokens.shape[0]
    assert result.tokens == n
    assert result.fires.tolist() == tokens.sum(0).tolist()
    rows = {}
    for a in range(9):
        scored = []
        for b in range(9):
            both = int((tokens[:, a] & tokens[:, b]).sum())
            if a == b or both < 2:
                continue
            n_a, n_b = int(tokens[:, a].sum()), int(tokens[:, b].sum())
            scored.append((-(both / (n_a + n_b - both)), b, both, both * n / (n_a * n_b)))
        rows[a] = sorted(scored)[:3]
    got = {}
    for i in range(len(result.feature)):
        got.setdefault(int(result.feature[i]), []).append(
            (-float(result.jaccard[i]), int(result.other[i]), int(result.together[i]), float(result.lift[i]))
        )
    assert set(got) == {a for a, scored in rows.items() if scored}
    for a, scored in got.items():
        assert [row[1:3] for row in scored] == [row[1:3] for row in rows[a]]
        for mine, theirs in zip(scored, rows[a], strict=True):
            assert mine[0] == pytest.approx(theirs[0]) and mine[3] == pytest.approx(theirs[3])


def test_coactivation_refuses_past_its_memory_bound():
    counter = CoactivationCounter(30, max_pairs=10, dense_max_features=0)
    with pytest.raises(PipelineInputError, match="too dense to count pairwise"):
        counter.update(torch.ones(4, 30, dtype=torch.bool))
        counter.pair_count()


@pytest.fixture
def gpt2_with_dictionaries(tiny_gpt2_dir, tmp_path):
    """The tiny GPT-2 with layer 0's neurons, an SAE on the stream entering block 0 and a transcoder of block 0."""
    loaded = load_language_model(tiny_gpt2_dir)
    sae_dir = save_tiny_dictionary(tmp_path / "sae", "standard", d_in=32, d_sae=12, hook_name="blocks.0.hook_resid_pre")
    transcoder_dir = save_tiny_dictionary(
        tmp_path / "tc", "transcoder", d_in=32, d_sae=10, d_out=32, hook_name="blocks.0.ln2.hook_normalized"
    )
    config = json.loads((transcoder_dir / "cfg.json").read_text())
    config["metadata"]["hook_name_out"] = "blocks.0.hook_mlp_out"
    (transcoder_dir / "cfg.json").write_text(json.dumps(config))
    sources = [
        dictionary_source(loaded, load_dictionary(sae_dir), "0-res"),
        neuron_source(loaded, 0),
        dictionary_source(loaded, load_dictionary(transcoder_dir), "0-tc"),
        neuron_source(loaded, 1),
    ]
    return loaded, {source.slug: source for source in sources}


def test_a_virtual_weight_is_the_change_of_the_downstream_pre_activation_in_a_real_forward_pass(
    gpt2_with_dictionaries,
):
    """Adding alpha times an SAE feature's decoder direction to the stream entering block 0, with attention's output
    held at its value and ln_2's scale at the token's own, changes every layer-0 neuron's pre-activation and every
    transcoder feature's pre-activation by exactly alpha times their virtual weights."""
    loaded, sources = gpt2_with_dictionaries
    stream, roles = stream_roles(loaded, list(sources.values()))
    block = loaded.blocks()[0]
    input_ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    position, feature, alpha = 3, 5, 0.7
    direction = sources["0-res"].dictionary.decoder[feature].float()

    captured = {}

    def run(perturb: bool) -> None:
        handles = []
        if perturb:

            def add(_module, args, kwargs):
                hidden = (args[0] if args else kwargs["hidden_states"]).clone()
                hidden[:, position] += alpha * direction
                return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

            def freeze_attention(_module, _args, output):
                return (captured["attention"], *output[1:]) if isinstance(output, tuple) else captured["attention"]

            def freeze_scale(module, args, _output):
                x = args[0]
                centred = x - x.mean(-1, keepdim=True)
                return centred / captured["scale"] * module.weight + module.bias

            handles += [
                block.register_forward_pre_hook(add, with_kwargs=True),
                block.attn.register_forward_hook(freeze_attention),
                block.ln_2.register_forward_hook(freeze_scale),
            ]
        else:

            def keep_attention(_module, _args, output):
                captured["attention"] = output[0] if isinstance(output, tuple) else output

            def keep_scale(module, args, _output):
                x = args[0]
                captured["scale"] = torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + module.eps)

            handles += [block.attn.register_forward_hook(keep_attention), block.ln_2.register_forward_hook(keep_scale)]
        key = "perturbed" if perturb else "clean"
        handles += [
            block.mlp.c_fc.register_forward_hook(lambda _m, _a, out: captured.__setitem__(key + "_pre", out)),
            block.ln_2.register_forward_hook(lambda _m, _a, out: captured.__setitem__(key + "_ln2", out)),
        ]
        try:
            with torch.inference_mode():
                loaded.model(input_ids=input_ids)
        finally:
            for handle in handles:
                handle.remove()

    run(perturb=False)
    run(perturb=True)
    inverse_scale = 1.0 / captured["scale"][0, position, 0].item()

    upstream = roles["0-res"]
    for downstream_slug in ("0-mlp", "0-tc"):
        downstream = roles[downstream_slug]
        assert feeds(stream, upstream, downstream)
        folds = path_folds(stream, upstream, downstream, {"blocks.0.ln2": inverse_scale})
        weights = virtual_weights(upstream.decoder()[feature : feature + 1], downstream.encoder(), folds)[0]
        if downstream_slug == "0-mlp":
            change = captured["perturbed_pre"][0, position] - captured["clean_pre"][0, position]
        else:  # the transcoder reads ln_2's normalised input, before its weight and bias
            ln = block.ln_2
            normalised = [(captured[k + "_ln2"][0, position] - ln.bias) / ln.weight for k in ("perturbed", "clean")]
            change = (normalised[0] - normalised[1]) @ sources["0-tc"].dictionary.sae.W_enc
        torch.testing.assert_close(change, alpha * weights, rtol=1e-4, atol=1e-5)
        assert change.abs().max() > 1e-3, "the perturbation should change something"
    # Nothing on the same state downstream of itself; the transcoder writes into layer 1's reach, not layer 0's.
    assert not feeds(stream, roles["0-mlp"], roles["0-tc"])
    assert feeds(stream, roles["0-tc"], roles["1-mlp"]) and feeds(stream, roles["0-mlp"], roles["1-mlp"])
    assert not feeds(stream, roles["1-mlp"], roles["0-res"])
