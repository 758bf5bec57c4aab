"""The pipeline's pure core against brute force, on tiny real models saved to disk by the fixtures."""

import numpy as np
import pytest
import torch

from features.pipeline.corpus import corpus_documents, make_windows, special_token_frame, token_display_strings
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import load_language_model
from features.pipeline.sources import neuron_source
from features.pipeline.stream import compute_dashboards, content_mask


def compute_neuron_stats(loaded, windows, layers, top_k=20, batch_size=32):
    sources = [neuron_source(loaded, layer) for layer in layers]
    accumulators = compute_dashboards(loaded, sources, windows, top_k=top_k, batch_size=batch_size)
    return {layer: accumulators[f"{layer}-mlp"].result() for layer in layers}


@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_dir):
    return load_language_model(tiny_bert_dir)


@pytest.fixture(scope="module")
def sample_windows(tiny_bert, sample_corpus_file):
    return make_windows(
        tiny_bert.tokenizer, corpus_documents(str(sample_corpus_file)), n_windows=10, window_len=16, corpus_name="s"
    ).token_ids


def brute_force_neurons(loaded, windows, layer):
    """All activations of a layer's neurons through a different door: BertIntermediate's output."""
    captured = []
    handle = loaded.model.encoder.layer[layer].intermediate.register_forward_hook(
        lambda _m, _i, output: captured.append(output.detach())
    )
    ids = torch.tensor(windows)
    with torch.inference_mode():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))
    handle.remove()
    return captured[0].numpy(), content_mask(loaded, ids).numpy()


def test_the_loader_reads_a_local_checkpoint_directory(tiny_bert_dir, tiny_gpt2_dir):
    bert = load_language_model(tiny_bert_dir)
    assert (bert.architecture, bert.n_layers, bert.d_model, bert.d_mlp) == ("bert", 3, 32, 48)
    gpt2 = load_language_model(tiny_gpt2_dir)
    assert (gpt2.architecture, gpt2.n_layers, gpt2.d_model, gpt2.d_mlp, gpt2.vocab_size) == ("gpt2", 2, 32, 128, 30522)
    assert hasattr(gpt2.model, "lm_head"), "a causal LM checkpoint keeps its unembedding"


def test_the_loader_explains_a_path_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(PipelineInputError, match="is not a directory"):
        load_language_model(tmp_path / "missing")
    with pytest.raises(PipelineInputError, match="has no config.json"):
        load_language_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PipelineInputError, match="Cannot read the model config"):
        load_language_model(tmp_path)


def test_top_k_max_and_density_equal_brute_force(tiny_bert, sample_windows):
    top_k = 4
    # A batch size that does not divide the window count exercises merging across uneven batches.
    stats = compute_neuron_stats(tiny_bert, sample_windows, [0, 2], top_k=top_k, batch_size=3)
    for layer in (0, 2):
        acts, mask = brute_force_neurons(tiny_bert, sample_windows, layer)
        masked = np.where(mask[:, :, None], acts, -np.inf)
        window_max = masked.max(axis=1)  # [W, F]
        result = stats[layer]
        np.testing.assert_allclose(result.max_activation, window_max.max(axis=0), rtol=1e-5, atol=1e-6)
        expected_density = ((acts > 0) & mask[:, :, None]).sum(axis=(0, 1)) / mask.sum()
        np.testing.assert_allclose(result.density, expected_density)
        assert result.token_count == mask.sum()
        for feature in range(acts.shape[2]):
            # value descending, window ascending among ties
            expected = sorted(range(len(sample_windows)), key=lambda w: (-window_max[w, feature], w))[:top_k]
            np.testing.assert_allclose(result.top_values[:, feature], window_max[expected, feature], rtol=1e-5)
            assert list(result.top_windows[:, feature]) == expected
            shown = np.where(mask[expected], acts[expected, :, feature], 0.0)
            np.testing.assert_allclose(result.top_token_values[:, feature], shown, rtol=1e-5, atol=1e-6)


def test_special_tokens_never_count(tiny_bert, sample_windows):
    stats = compute_neuron_stats(tiny_bert, sample_windows, [1], top_k=2)[1]
    prefix, suffix = special_token_frame(tiny_bert.tokenizer)
    assert len(prefix) == 1 and len(suffix) == 1  # [CLS] ... [SEP]
    special = set(tiny_bert.tokenizer.all_special_ids)
    # [SEP] also separates documents inside windows; it is not text either.
    assert stats.token_count == sum(token not in special for window in sample_windows for token in window)
    assert stats.token_count < len(sample_windows) * 14
    assert np.all(stats.top_token_values[:, :, 0] == 0) and np.all(stats.top_token_values[:, :, -1] == 0)


def test_the_forward_stops_after_the_last_needed_layer(tiny_bert, sample_windows):
    ran = []
    handle = tiny_bert.model.encoder.layer[2].attention.register_forward_hook(lambda *_: ran.append(2))
    try:
        compute_neuron_stats(tiny_bert, sample_windows, [0, 1], top_k=2)
        assert ran == []
        compute_neuron_stats(tiny_bert, sample_windows[:2], [2], top_k=2)
        assert ran == [2]
    finally:
        handle.remove()


def test_gpt2_neurons_are_the_mlp_activations(tiny_gpt2_dir, sample_corpus_file):
    gpt2 = load_language_model(tiny_gpt2_dir)
    windows = make_windows(
        gpt2.tokenizer, corpus_documents(str(sample_corpus_file)), n_windows=4, window_len=12, corpus_name="s"
    ).token_ids
    stats = compute_neuron_stats(gpt2, windows, [1], top_k=2)[1]
    ids = torch.tensor(windows)
    with torch.inference_mode():
        hidden = gpt2.model.transformer(input_ids=ids, output_hidden_states=True).hidden_states[1]
        block = gpt2.model.transformer.h[1]
        hidden = hidden + block.attn(block.ln_1(hidden))[0]
        neurons = block.mlp.act(block.mlp.c_fc(block.ln_2(hidden)))
    mask = content_mask(gpt2, ids)
    expected_max = neurons.masked_fill(~mask[:, :, None], float("-inf")).amax(dim=(0, 1))
    np.testing.assert_allclose(stats.max_activation, expected_max.numpy(), rtol=1e-4, atol=1e-5)


def test_a_layer_the_model_lacks_is_refused_clearly(tiny_bert, sample_windows):
    with pytest.raises(PipelineInputError, match="Layer 7 does not exist: this model has layers 0 to 2"):
        compute_neuron_stats(tiny_bert, sample_windows, [0, 7])


def test_an_empty_corpus_is_refused_clearly(tiny_bert, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.raises(PipelineInputError, match="is empty"):
        make_windows(tiny_bert.tokenizer, corpus_documents(str(empty)), n_windows=5, window_len=16, corpus_name="e")


def test_malformed_jsonl_names_the_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "fine"}\n{"oops": 1}\n')
    with pytest.raises(PipelineInputError, match="line 2"):
        list(corpus_documents(str(corpus)))


def test_builtin_corpus_gives_over_200k_tokens(minilm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir, local_files_only=True)
    windows = make_windows(tokenizer, corpus_documents("builtin"), n_windows=1700, window_len=128, corpus_name="b")
    assert len(windows.token_ids) == 1700
    assert sum(len(w) - 2 for w in windows.token_ids) > 200_000


def test_display_strings_join_back_into_the_text(tiny_bert):
    ids = tiny_bert.tokenizer("the tokenization works", add_special_tokens=False)["input_ids"]
    assert "".join(token_display_strings(tiny_bert.tokenizer, ids)) == "the tokenization works"


def test_the_loader_refuses_a_checkpoint_without_tokenizer_or_with_corrupt_weights(tiny_gpt2_dir, tmp_path):
    import shutil

    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_gpt2_dir / name, tmp_path / name)
    with pytest.raises(PipelineInputError, match="has no tokenizer files"):
        load_language_model(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_gpt2_dir / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes((tiny_gpt2_dir / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(PipelineInputError, match="Cannot load the checkpoint"):
        load_language_model(tmp_path)
