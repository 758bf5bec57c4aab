"""The CONNECTIONS run on tiny real models: stored virtual weights equal a brute-force product of the model's own
weights, co-activation counts equal counting the dictionary's activations token by token, the run resumes from
the pairs it has not done, and bad requests are refused."""

import pytest
import torch
from django.core.management import CommandError, call_command

from circuits.models import FeatureCoactivation, FeatureConnection
from features.models import Feature, LanguageModel, PipelineRun, Source
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.loading import load_language_model
from features.pipeline.stream import content_mask
from features.services import activation_runs, registration
from features.services.runs import run_resume
from tests.circuits.tiny_circuits import save_tiny_transcoder
from tests.circuits.tiny_families import save_tiny_decoder

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpt2_model(tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file) -> LanguageModel:
    """tiny-gpt2 with the neurons of layers 0 and 1 and an SAE on the stream entering block 1, all computed."""
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(model=model, path=str(tiny_sae_dir), slug="1-res")
    run = activation_runs.activation_run_create(
        model=model,
        layers=[0, 1],
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=8,
        window_len=12,
        top_k=3,
        sync=True,
    )
    assert activation_runs.activation_run_start(run_id=run.pk).status == "succeeded"
    return model


def compute(model: str, *extra: str) -> PipelineRun:
    call_command("compute_connections", model, "--sync", *extra)
    return PipelineRun.objects.filter(kind=PipelineRun.Kind.CONNECTIONS).latest("pk")


def stored_downstream(feature: Feature) -> list[tuple[str, int, float]]:
    rows = FeatureConnection.objects.filter(upstream=feature).select_related("downstream__source")
    return sorted(
        ((row.downstream.source.slug, row.downstream.index, row.weight) for row in rows), key=lambda r: -abs(r[2])
    )


def test_stored_virtual_weights_equal_the_product_of_the_models_own_weights(gpt2_model, tiny_gpt2_dir, tiny_sae_dir):
    run = compute("tiny-gpt2", "--top-k", "3")
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert sorted(map(tuple, run.params["pairs_done"])) == [("0-mlp", "1-mlp"), ("0-mlp", "1-res"), ("1-res", "1-mlp")]
    assert (run.items_done, run.items_total) == (3, 3)

    model = load_language_model(tiny_gpt2_dir).model
    blocks = model.transformer.h
    w_out0 = blocks[0].mlp.c_proj.weight.detach()  # Conv1D [d_mlp, d]: each neuron's row of W_out
    w_in1 = blocks[1].mlp.c_fc.weight.detach()  # [d, d_mlp]
    ln = blocks[1].ln_2
    scale = run.params["inverse_scales"]["blocks.1.ln2"]
    w_enc = load_dictionary(tiny_sae_dir).sae.W_enc.detach()
    # 0-mlp -> 1-res: straight through the stream; 0-mlp -> 1-mlp: through ln_2 of block 1 (centred, its weight,
    # the corpus's mean 1/scale).
    to_sae = w_out0 @ w_enc
    centred = w_out0 - w_out0.mean(-1, keepdim=True)
    to_neurons = (centred * ln.weight.detach() * scale) @ w_in1
    for index in (0, 7, 31):
        candidates = [("1-res", f, to_sae[index, f].item()) for f in range(40)]
        candidates += [("1-mlp", f, to_neurons[index, f].item()) for f in range(w_in1.shape[1])]
        expected = sorted(candidates, key=lambda r: -abs(r[2]))[:3]
        got = stored_downstream(Feature.objects.get(source__slug="0-mlp", index=index))[:3]
        assert [(s, i) for s, i, _ in got] == [(s, i) for s, i, _ in expected]
        assert [w for *_, w in got] == pytest.approx([w for *_, w in expected], rel=1e-4, abs=1e-6)
    # Each SAE feature's upstream list holds its 3 strongest neurons of layer 0.
    feature = Feature.objects.get(source__slug="1-res", index=5)
    upstream = FeatureConnection.objects.filter(downstream=feature, upstream__source__slug="0-mlp")
    strongest = sorted(range(w_out0.shape[0]), key=lambda n: -abs(to_sae[n, 5].item()))[:3]
    assert set(upstream.values_list("upstream__index", flat=True)) >= set(strongest)
    # Nothing flows backwards.
    assert not FeatureConnection.objects.filter(upstream__source__slug="1-mlp").exists()
    # Every row kept is among the 3 strongest of its upstream or of its downstream feature.
    rows = list(FeatureConnection.objects.values_list("pk", "upstream_id", "downstream_id", "weight"))
    for pk, up, down, _ in rows:
        tops = [
            [r[0] for r in sorted((r for r in rows if r[column] == feature), key=lambda r: (-abs(r[3]), r[0]))[:3]]
            for column, feature in ((1, up), (2, down))
        ]
        assert pk in tops[0] or pk in tops[1]
    assert 0 < scale < 1e6


def test_coactivations_equal_counting_the_dictionarys_features_token_by_token(
    gpt2_model, tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file
):
    run = compute("tiny-gpt2", "--windows", "8", "--min-together", "1")
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    loaded = load_language_model(tiny_gpt2_dir)
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=8,
        window_len=12,
        corpus_name="x",
        prepend_bos=False,
    ).token_ids
    ids = torch.tensor(windows)
    with torch.inference_mode():
        resid = loaded.model.transformer(input_ids=ids, output_hidden_states=True).hidden_states[1]
        active = (load_dictionary(tiny_sae_dir).sae.encode(resid) > 0)[content_mask(loaded, ids)]  # [N, 40]
    together = active.T.long() @ active.long()
    fires = active.sum(0)
    rows = FeatureCoactivation.objects.filter(feature__source__slug="1-res").select_related("feature", "other")
    assert rows.count() > 10
    for row in rows:
        a, b = row.feature.index, row.other.index
        assert (row.together, row.feature_fires, row.other_fires) == (together[a, b], fires[a], fires[b])
        assert row.tokens == active.shape[0]
        assert row.jaccard == pytest.approx(together[a, b].item() / (fires[a] + fires[b] - together[a, b]).item())
        assert row.lift == pytest.approx(together[a, b].item() * active.shape[0] / (fires[a] * fires[b]).item())
    # A feature's rows are its best by Jaccard.
    a = rows.first().feature.index
    jaccard = {b: together[a, b].item() / (fires[a] + fires[b] - together[a, b]).item() for b in range(40) if b != a}
    best = sorted((b for b in jaccard if together[a, b] >= 1), key=lambda b: (-jaccard[b], b))[:10]
    assert list(rows.filter(feature__index=a).values_list("other__index", flat=True)) == best
    # Neurons are not counted pairwise (they are dense).
    assert not FeatureCoactivation.objects.filter(feature__source__kind=Source.Kind.NEURONS).exists()


def test_a_stopped_run_resumes_from_the_pairs_it_has_not_done(gpt2_model):
    run = compute("tiny-gpt2", "--top-k", "2")
    kept = set(FeatureConnection.objects.filter(upstream__source__slug="0-mlp").values_list("pk", flat=True))
    others = FeatureConnection.objects.filter(upstream__source__slug="1-res")
    before = sorted(others.values_list("upstream_id", "downstream_id", "weight"))
    others.delete()
    done = [pair for pair in run.params["pairs_done"] if pair[0] == "0-mlp"]
    PipelineRun.objects.filter(pk=run.pk).update(
        status=PipelineRun.Status.FAILED, params={**run.params, "pairs_done": done}
    )
    resumed = run_resume(run_id=run.pk).run
    assert resumed.status == PipelineRun.Status.SUCCEEDED, resumed.error
    assert set(FeatureConnection.objects.filter(upstream__source__slug="0-mlp").values_list("pk", flat=True)) == kept
    assert sorted(others.values_list("upstream_id", "downstream_id", "weight")) == before


def test_a_post_norm_model_crosses_every_layernorm_between_two_layers(computed_run, tiny_bert_dir):
    """BERT normalises its stream twice a layer: a layer-0 neuron reaches layer 2's MLP through four LayerNorms."""
    run = compute("tiny-bert", "--top-k", "2")
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    bert = load_language_model(tiny_bert_dir).model
    layers, scales = bert.encoder.layer, run.params["inverse_scales"]
    direction = layers[0].output.dense.weight.detach().T  # [d_mlp, d]: W_out rows
    for norm, key in [
        (layers[0].output.LayerNorm, "blocks.0.ln_output"),
        (layers[1].attention.output.LayerNorm, "blocks.1.ln_attention"),
        (layers[1].output.LayerNorm, "blocks.1.ln_output"),
        (layers[2].attention.output.LayerNorm, "blocks.2.ln_attention"),
    ]:
        direction = (direction - direction.mean(-1, keepdim=True)) * norm.weight.detach() * scales[key]
    weights = direction @ layers[2].intermediate.dense.weight.detach().T
    best = sorted(range(48), key=lambda f: -abs(weights[4, f].item()))[:2]
    got = stored_downstream(Feature.objects.get(source__slug="0-mlp", index=4))[:2]
    assert [(s, i) for s, i, _ in got] == [("2-mlp", f) for f in best]
    assert [w for *_, w in got] == pytest.approx([weights[4, f].item() for f in best], rel=1e-4)


def test_bad_requests_are_refused_with_a_reason(gpt2_model, tiny_bert_dir):
    with pytest.raises(CommandError, match="no model 'nope'"):
        call_command("compute_connections", "nope", "--sync")
    with pytest.raises(CommandError, match="top_k must be between 1 and 100"):
        call_command("compute_connections", "tiny-gpt2", "--sync", "--top-k", "0")
    registration.model_register(slug="empty-bert", path=str(tiny_bert_dir))
    with pytest.raises(CommandError, match="no computed features yet"):
        call_command("compute_connections", "empty-bert", "--sync")
    assert not PipelineRun.objects.filter(kind=PipelineRun.Kind.CONNECTIONS).exists()


def test_a_gemma_2_run_measures_its_post_mlp_norm_and_stores_weights_through_it(tmp_path, sample_corpus_file):
    """Gemma 2 normalises the MLP's output before adding it: the run measures that norm's mean 1/scale on the MLP's
    own output (no hook point holds it), and a layer-0 neuron's stored weights to a layer-1 transcoder are its
    output weights through that norm (1 + weight) and through pre_feedforward_layernorm's scale."""
    model = registration.model_register(slug="tiny-gemma-2", path=str(save_tiny_decoder(tmp_path / "model", "gemma2")))
    transcoder_dir = save_tiny_transcoder(tmp_path / "tc", 1)
    source = registration.dictionary_register(model=model, path=str(transcoder_dir), slug="1-tc")
    activations = activation_runs.activation_run_create(
        model=model, layers=[0], dictionary_sources=[source], corpus=str(sample_corpus_file), n_windows=8,
        window_len=12, top_k=3, sync=True,
    )  # fmt: skip
    assert activation_runs.activation_run_start(run_id=activations.pk).status == "succeeded"
    run = compute("tiny-gemma-2", "--top-k", "3", "--windows", "8")
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert run.params["pairs_done"] == [["0-mlp", "1-tc"]]  # gated neurons are not read

    loaded = load_language_model(model.path)
    layers = loaded.model.model.layers
    ids = torch.tensor(
        make_windows(
            loaded.tokenizer, corpus_documents(str(sample_corpus_file)), n_windows=8, window_len=12,
            corpus_name="x", prepend_bos=True,
        ).token_ids
    )  # fmt: skip
    seen = {}
    handles = [
        layers[0].mlp.register_forward_hook(lambda _m, _a, out: seen.__setitem__("mlp_out", out)),
        layers[1].pre_feedforward_layernorm.register_forward_pre_hook(lambda _m, a: seen.__setitem__("mid", a[0])),
    ]
    with torch.inference_mode():
        loaded.model(input_ids=ids)
    for handle in handles:
        handle.remove()
    mask = content_mask(loaded, ids)
    scales = run.params["inverse_scales"]
    for key, x, eps in (
        ("blocks.0.ln2_post", seen["mlp_out"], layers[0].post_feedforward_layernorm.eps),
        ("blocks.1.ln2", seen["mid"], layers[1].pre_feedforward_layernorm.eps),
    ):
        expected = (1 / torch.sqrt(x.pow(2).mean(-1) + eps))[mask].double().mean().item()
        assert scales[key] == pytest.approx(expected, rel=1e-5)

    norm_weight = 1 + layers[0].post_feedforward_layernorm.weight.detach()
    written = layers[0].mlp.down_proj.weight.detach().T * norm_weight * scales["blocks.0.ln2_post"]
    weights = written * scales["blocks.1.ln2"] @ load_dictionary(transcoder_dir).sae.W_enc.detach()
    for index in (0, 9, 63):
        best = sorted(range(weights.shape[1]), key=lambda f: -abs(weights[index, f].item()))[:3]
        got = stored_downstream(Feature.objects.get(source__slug="0-mlp", index=index))
        assert [(s, i) for s, i, _ in got] == [("1-tc", f) for f in best]
        assert [w for *_, w in got] == pytest.approx([weights[index, f].item() for f in best], rel=1e-4)
