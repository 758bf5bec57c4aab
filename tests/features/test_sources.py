"""Hook names on each supported architecture, dictionaries of every kind, prepend_bos, corpora."""

import json

import pytest
import torch
from sae_lens import SAE
from transformers import LlamaConfig, LlamaForCausalLM

from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model
from features.pipeline.sources import dictionary_source, output_directions

from ..conftest import _save_with_minilm_tokenizer, save_tiny_dictionary

POINTS = [
    "hook_resid_pre",
    "hook_attn_out",
    "hook_resid_mid",
    "ln2.hook_normalized",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
]


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=30522,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return _save_with_minilm_tokenizer(LlamaForCausalLM(config), tmp_path_factory.mktemp("tiny-llama"))


def capture_all(loaded, layer):
    ids = torch.randint(1000, 2000, (2, 7), generator=torch.Generator().manual_seed(0))
    hooks = [parse_hook_name(f"blocks.{layer}.{point}", loaded) for point in POINTS]
    return ids, capture_activations(loaded, hooks, ids)


def hidden_states(loaded, ids):
    with torch.inference_mode():
        return loaded.model(input_ids=ids, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_pre_layernorm_hooks_add_up_like_the_residual_stream(fixture, request):
    loaded = load_language_model(request.getfixturevalue(fixture))
    assert loaded.family.name == ("gpt2" if "gpt2" in fixture else "llama")
    ids, acts = capture_all(loaded, layer=0)
    h = lambda point: acts[f"blocks.0.{point}"]  # noqa: E731
    torch.testing.assert_close(h("hook_resid_pre"), hidden_states(loaded, ids)[0])
    torch.testing.assert_close(h("hook_resid_post"), hidden_states(loaded, ids)[1])
    torch.testing.assert_close(h("hook_resid_mid"), h("hook_resid_pre") + h("hook_attn_out"))
    torch.testing.assert_close(h("hook_resid_post"), h("hook_resid_mid") + h("hook_mlp_out"))
    assert h("mlp.hook_post").shape[-1] == loaded.d_mlp and h("hook_mlp_out").shape[-1] == loaded.d_model
    # the neurons, through the output projection, are the MLP's output
    directions = output_directions(loaded, dictionary_source_free_neurons(loaded, 0))
    bias = getattr(loaded.blocks()[0].mlp, "c_proj", None)
    expected = h("mlp.hook_post") @ directions + (bias.bias if bias is not None else 0)
    torch.testing.assert_close(h("hook_mlp_out"), expected, rtol=1e-4, atol=1e-5)


def dictionary_source_free_neurons(loaded, layer):
    from features.pipeline.sources import neuron_source

    return neuron_source(loaded, layer)


def test_bert_hooks_follow_its_post_layernorm_blocks(tiny_bert_dir):
    """As in TransformerLens: resid_mid and resid_post are the sums before the LayerNorms that follow them."""
    loaded = load_language_model(tiny_bert_dir)
    assert loaded.family.name == "bert"
    ids, acts = capture_all(loaded, layer=1)
    h = lambda point: acts[f"blocks.1.{point}"]  # noqa: E731
    states = hidden_states(loaded, ids)
    block = loaded.blocks()[1]
    torch.testing.assert_close(h("hook_resid_pre"), states[1])
    torch.testing.assert_close(h("hook_resid_mid"), h("hook_resid_pre") + h("hook_attn_out"))
    with torch.inference_mode():
        mlp_in = block.attention.output.LayerNorm(h("hook_resid_mid"))
        torch.testing.assert_close(h("hook_resid_post"), mlp_in + h("hook_mlp_out"))
        torch.testing.assert_close(states[2], block.output.LayerNorm(h("hook_resid_post")))
    normalized = torch.nn.functional.layer_norm(h("hook_resid_post"), (32,), eps=block.output.LayerNorm.eps)
    torch.testing.assert_close(h("ln2.hook_normalized"), normalized)


def test_unknown_and_missing_hooks_are_refused_clearly(tiny_gpt2_dir):
    loaded = load_language_model(tiny_gpt2_dir)
    with pytest.raises(PipelineInputError, match="The model has no hook 'blocks.9.hook_resid_pre'"):
        parse_hook_name("blocks.9.hook_resid_pre", loaded)
    with pytest.raises(PipelineInputError, match="Unsupported hook name 'blocks.1.hook_q'"):
        parse_hook_name("blocks.1.hook_q", loaded)


ARCHITECTURES = [
    ("standard", {}),
    ("topk", {"k": 5}),
    ("jumprelu", {}),
    ("gated", {}),
    ("transcoder", {"d_out": 32}),
    ("skip_transcoder", {"d_out": 32}),
    ("jumprelu_transcoder", {"d_out": 32}),
    ("jumprelu_skip_transcoder", {"d_out": 32}),
]


@pytest.mark.parametrize(("architecture", "extra"), ARCHITECTURES)
def test_each_dictionary_architecture_loads_and_encodes_like_sae_lens(architecture, extra, tmp_path, tiny_gpt2_dir):
    hook = "blocks.1.ln2.hook_normalized" if "transcoder" in architecture else "blocks.1.hook_resid_pre"
    directory = save_tiny_dictionary(tmp_path, architecture, d_in=32, d_sae=24, hook_name=hook, **extra)
    if "transcoder" in architecture:
        config = json.loads((directory / "cfg.json").read_text())
        config["metadata"]["hook_name_out"] = "blocks.1.hook_mlp_out"
        (directory / "cfg.json").write_text(json.dumps(config))
    ours = load_dictionary(directory)
    reference = SAE.load_from_disk(directory, device="cpu")
    x = torch.randn(3, 5, 32, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = reference.encode(x)
    torch.testing.assert_close(ours.encode(x), expected)
    assert (expected > 0).any(), "the test dictionary should fire on something"
    loaded = load_language_model(tiny_gpt2_dir)
    source = dictionary_source(loaded, ours, "1-test")
    assert source.kind == ("transcoder" if "transcoder" in architecture else "sae")
    assert source.n_features == 24
    assert output_directions(loaded, source).shape == (24, 32)


def test_a_dictionary_for_another_width_is_refused(tmp_path, tiny_gpt2_dir):
    directory = save_tiny_dictionary(tmp_path, "standard", d_in=16, d_sae=8, hook_name="blocks.1.hook_resid_pre")
    loaded = load_language_model(tiny_gpt2_dir)
    with pytest.raises(PipelineInputError, match="reads 16-dimensional vectors but blocks.1.hook_resid_pre"):
        dictionary_source(loaded, load_dictionary(directory), "1-res")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "sae_weights.safetensors").write_bytes(b"\x80\x04\x95pickle"), "not a valid safetensors"),
        (
            lambda d: (d / "sae_weights.safetensors").write_bytes((d / "sae_weights.safetensors").read_bytes()[:-64]),
            "could not be read as safetensors",
        ),
        (lambda d: (d / "cfg.json").write_text('{"d_in": 32, "architecture": "standard"}'), "lacks the field"),
        (lambda d: (d / "cfg.json").write_text("{not json"), "not valid JSON"),
        (
            lambda d: (d / "cfg.json").write_text('{"d_in": 32, "d_sae": 99, "architecture": "standard"}'),
            "W_dec has shape \\[24, 32\\] but cfg.json",
        ),
        (
            lambda d: (d / "cfg.json").write_text('{"d_in": 32, "d_sae": 24, "architecture": "mystery"}'),
            "Unsupported architecture 'mystery'",
        ),
    ],
)
def test_bad_dictionary_files_are_refused_with_a_clear_message(damage, message, tmp_path):
    directory = save_tiny_dictionary(tmp_path, "standard", d_in=32, d_sae=24, hook_name="blocks.1.hook_resid_pre")
    damage(directory)
    with pytest.raises(PipelineInputError, match=message):
        load_dictionary(directory)


def test_prepend_bos_adds_or_removes_the_bos_token(tiny_bert_dir, sample_corpus_file):
    tokenizer = load_language_model(tiny_bert_dir).tokenizer
    documents = lambda: corpus_documents(str(sample_corpus_file))  # noqa: E731
    default = make_windows(tokenizer, documents(), n_windows=2, window_len=10, corpus_name="s")
    without = make_windows(tokenizer, documents(), n_windows=2, window_len=10, corpus_name="s", prepend_bos=False)
    assert default.token_ids[0][0] == tokenizer.cls_token_id
    assert without.token_ids[0][0] != tokenizer.cls_token_id and len(without.token_ids[0]) == 10
    assert default.key != without.key  # differently framed windows are stored apart


def test_a_datasets_corpus_reads_a_local_file_without_network(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"document number {i}"}) for i in range(3)))
    assert list(corpus_documents(f"datasets:{path}")) == [f"document number {i}" for i in range(3)]
    with pytest.raises(PipelineInputError, match="not in the local cache"):
        list(corpus_documents(f"datasets:{tmp_path / 'missing-dir' / 'nothing'}"))
