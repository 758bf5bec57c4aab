"""Every hook point of every family equals TransformerLens's run_with_cache on the same weights.

Each family gets a tiny checkpoint with random weights (norm weights and biases perturbed too, so that a norm's
weight or a bias in the wrong place shows), saved on disk and loaded by our loader; TransformerLens gets the same
weights through its own converters, unprocessed (no LayerNorm folding, no centring), and the hooks we capture
must agree within float32 tolerance. Points that have no meaning in a family are refused with the reason.
Nothing is downloaded: the test settings set HF_HUB_OFFLINE, and every checkpoint is a local directory.
"""

import pytest
import torch
from transformer_lens import HookedEncoder, HookedTransformer
from transformer_lens.config.hooked_transformer_config import HookedTransformerConfig
from transformer_lens.loading_from_pretrained import get_pretrained_model_config, get_pretrained_state_dict
from transformer_lens.pretrained.weight_conversions.bert import convert_bert_weights
from transformers import (
    AutoModelForCausalLM,
    BertConfig,
    BertForPreTraining,
    Gemma2Config,
    Gemma3TextConfig,
    GemmaConfig,
    GPT2Config,
    GPTJConfig,
    GPTNeoConfig,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Olmo2Config,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
)

from features.pipeline.architectures import FAMILY_BY_MODEL_TYPE, POINTS
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model

from ..conftest import DECODER, GEMMA, SMALL, VOCAB, _save_with_minilm_tokenizer, save_tiny_dictionary

pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")


# TransformerLens picks Gemma's config by the hub name, so its configs are written here as it writes them for
# google/gemma-2b, gemma-2-2b and gemma-3-1b, at the tiny checkpoints' sizes.
TL_GEMMA = {
    "d_model": 32,
    "d_head": 16,
    "n_heads": 2,
    "n_key_value_heads": 1,
    "d_mlp": 64,
    "n_layers": 2,
    "n_ctx": 64,
    "eps": 1e-6,
    "d_vocab": VOCAB,
    "act_fn": "gelu_pytorch_tanh",
    "normalization_type": "RMS",
    "positional_embedding_type": "rotary",
    "rotary_dim": 16,
    "use_attn_scale": True,
    "gated_mlp": True,
    "final_rms": True,
}
TL_GEMMA_CONFIGS = {
    "gemma": {**TL_GEMMA, "rotary_base": 10000.0, "original_architecture": "GemmaForCausalLM"},
    "gemma2": {
        **TL_GEMMA,
        "rotary_base": 10000.0,
        "window_size": 4096,
        "use_local_attn": True,
        "attn_types": ["local", "global"],
        "attn_scores_soft_cap": 50.0,
        "output_logits_soft_cap": 30.0,
        "use_normalization_before_and_after": True,
        "original_architecture": "Gemma2ForCausalLM",
    },
    "gemma3_text": {
        **TL_GEMMA,
        "rotary_base": 1000000,
        "rotary_base_local": 10000,
        "window_size": 512,
        "use_local_attn": True,
        "attn_types": ["local", "local"],
        "use_normalization_before_and_after": True,
        "use_qk_norm": True,
        "original_architecture": "Gemma3ForCausalLM",
    },
}
# TransformerLens also picks OLMo 2's config by the hub name (allenai/OLMo-2-0425-1B's, at tiny sizes).
TL_CONFIGS = {
    **TL_GEMMA_CONFIGS,
    "olmo2": {
        **{key: TL_GEMMA[key] for key in ("d_model", "d_head", "n_heads", "d_mlp", "n_layers")},
        "n_ctx": 64,
        "eps": 1e-6,
        "d_vocab": VOCAB,
        "act_fn": "silu",
        "normalization_type": "RMS",
        "rotary_base": 10000.0,
        "rotary_dim": 16,
        "attn_types": ["global", "global"],
        "positional_embedding_type": "rotary",
        "gated_mlp": True,
        "original_architecture": "Olmo2ForCausalLM",
    },
}

CONFIGS = {
    "gpt2": GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64, n_ctx=64),
    "gpt_neo": GPTNeoConfig(
        **SMALL, hidden_size=32, num_layers=2, num_heads=2, attention_types=[[["global", "local"], 1]], window_size=4
    ),
    "gptj": GPTJConfig(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=64),
    "gpt_neox": GPTNeoXConfig(
        **SMALL, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, rotary_pct=0.5
    ),
    "gpt_neox_sequential": GPTNeoXConfig(
        **SMALL,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        rotary_pct=0.5,
        use_parallel_residual=False,
    ),
    "llama": LlamaConfig(**DECODER),
    "mistral": MistralConfig(**DECODER, sliding_window=None),
    "qwen2": Qwen2Config(**DECODER),
    "qwen3": Qwen3Config(**DECODER, head_dim=16),
    "gemma": GemmaConfig(**GEMMA),
    "gemma2": Gemma2Config(**GEMMA),
    "gemma3_text": Gemma3TextConfig(**GEMMA, sliding_window=512),
    "phi3": Phi3Config(**DECODER, sliding_window=None, pad_token_id=0),
    "olmo2": Olmo2Config(**{**DECODER, "num_key_value_heads": 2}, rms_norm_eps=1e-6, pad_token_id=0),  # no GQA in TL
}
FAMILY = {
    "gpt2": "gpt2",
    "gpt_neo": "gpt_neo",
    "gptj": "gptj",
    "gpt_neox": "gpt_neox",
    "gpt_neox_sequential": "gpt_neox_sequential",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
    "qwen3": "llama",
    "gemma": "llama",
    "gemma2": "gemma2",
    "gemma3_text": "gemma2",
    "phi3": "phi3",
    "olmo2": "olmo2",
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{name: (directory, HF model)}, built on first use. Directory names avoid "llama" and "gemma", which
    TransformerLens would read as hub names."""
    built = {}

    def build(name):
        if name not in built:
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(CONFIGS[name], dtype=torch.float32)
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(torch.randn_like(parameter) * 0.1)
            directory = _save_with_minilm_tokenizer(model, tmp_path_factory.mktemp(f"arch-{len(built)}"))
            built[name] = (directory, model.eval())
        return built[name]

    return build


def transformer_lens_cache(name: str, directory, hf_model, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    if name in TL_CONFIGS:
        cfg = HookedTransformerConfig.from_dict({**TL_CONFIGS[name], "device": "cpu", "init_weights": False})
    else:
        cfg = get_pretrained_model_config(str(directory), device="cpu")
    state = get_pretrained_state_dict(str(directory), cfg, hf_model=hf_model)
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_and_process_state_dict(
        state, fold_ln=False, center_writing_weights=False, center_unembed=False, fold_value_biases=False
    )
    model.eval()
    with torch.inference_mode():
        _, cache = model.run_with_cache(ids)
    return {key: value for key, value in cache.items()}


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    theirs = theirs.reshape(ours.shape)  # attn.hook_z: TransformerLens's [B, T, heads, d_head], ours flattened
    return ((ours.float() - theirs.float()).norm() / theirs.float().norm()).item()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_hook_point_equals_transformer_lens(name, checkpoints):
    directory, hf_model = checkpoints(name)
    loaded = load_language_model(directory)
    assert loaded.family.name == FAMILY[name]
    ids = torch.randint(1000, 2000, (2, 7), generator=torch.Generator().manual_seed(0))
    theirs = transformer_lens_cache(name, directory, hf_model, ids)
    hooks = [parse_hook_name(f"blocks.{layer}.{point}", loaded) for layer in (0, 1) for point in loaded.family.points]
    ours = capture_activations(loaded, hooks, ids)
    errors = {hook.name: relative_error(ours[hook.name], theirs[hook.name]) for hook in hooks}
    assert max(errors.values()) < 1e-4, {key: f"{value:.2g}" for key, value in errors.items() if value >= 1e-4}
    if "hook_resid_mid" in loaded.family.refused:
        assert "blocks.0.hook_resid_mid" not in theirs  # TransformerLens has no such point either


def test_every_bert_hook_point_equals_transformer_lens_hooked_encoder(tmp_path):
    """BERT normalises after each sub-block; TransformerLens's resid_mid and resid_post are the sums before
    those LayerNorms, and so are ours."""
    torch.manual_seed(0)
    config = BertConfig(**SMALL, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    hf_model = BertForPreTraining(config).eval()  # TransformerLens's converter wants the pooler and both heads
    with torch.no_grad():
        for parameter in hf_model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    loaded = load_language_model(_save_with_minilm_tokenizer(hf_model, tmp_path))
    assert loaded.family.name == "bert"
    cfg = HookedTransformerConfig(
        d_model=32,
        d_head=16,
        n_heads=2,
        d_mlp=64,
        n_layers=2,
        n_ctx=64,
        eps=config.layer_norm_eps,
        d_vocab=VOCAB,
        act_fn="gelu",
        attention_dir="bidirectional",
        original_architecture="BertForMaskedLM",
        device="cpu",
    )
    encoder = HookedEncoder(cfg, move_to_device=False)
    encoder.load_state_dict(convert_bert_weights(hf_model, cfg), strict=False)  # its attention masks are buffers
    encoder.eval()
    ids = torch.randint(1000, 2000, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        _, theirs = encoder.run_with_cache(ids, one_zero_attention_mask=torch.ones_like(ids))
    hooks = [parse_hook_name(f"blocks.{layer}.{point}", loaded) for layer in (0, 1) for point in POINTS]
    ours = capture_activations(loaded, hooks, ids)
    errors = {hook.name: relative_error(ours[hook.name], theirs[hook.name]) for hook in hooks}
    assert max(errors.values()) < 1e-4, {key: f"{value:.2g}" for key, value in errors.items() if value >= 1e-4}


def test_every_decoder_point_is_mapped_or_refused_in_every_family():
    from features.pipeline.architectures import FAMILIES

    for family in FAMILIES.values():
        assert set(family.points) | set(family.refused) == set(POINTS), family.name
        assert not set(family.points) & set(family.refused), family.name
    assert set(FAMILY_BY_MODEL_TYPE) >= {name for name in CONFIGS if name != "gpt_neox_sequential"}


@pytest.mark.parametrize("name", ["gpt_neox", "gptj"])
def test_resid_mid_is_refused_in_a_parallel_block_with_the_reason(name, checkpoints):
    loaded = load_language_model(checkpoints(name)[0])
    with pytest.raises(PipelineInputError, match="has no hook 'blocks.1.hook_resid_mid'.*parallel residual"):
        parse_hook_name("blocks.1.hook_resid_mid", loaded)


def test_the_sequential_neox_variant_has_a_resid_mid(checkpoints):
    loaded = load_language_model(checkpoints("gpt_neox_sequential")[0])
    assert parse_hook_name("blocks.1.hook_resid_mid", loaded).point == "hook_resid_mid"


def test_gemma_2_adds_the_post_normed_outputs_to_the_residual_stream(checkpoints):
    """Captured in one pass, the points add up the way a Gemma 2 block adds them (post-norms included), and the
    embedding arrives scaled by sqrt(d_model)."""
    directory, hf_model = checkpoints("gemma2")
    loaded = load_language_model(directory)
    ids = torch.randint(1000, 2000, (1, 5), generator=torch.Generator().manual_seed(1))
    acts = capture_activations(loaded, [parse_hook_name(f"blocks.0.{p}", loaded) for p in POINTS if p != ""], ids)
    h = lambda point: acts[f"blocks.0.{point}"]  # noqa: E731
    torch.testing.assert_close(h("hook_resid_mid"), h("hook_resid_pre") + h("hook_attn_out"))
    torch.testing.assert_close(h("hook_resid_post"), h("hook_resid_mid") + h("hook_mlp_out"))
    embedding = hf_model.model.embed_tokens.weight[ids].detach()
    torch.testing.assert_close(h("hook_resid_pre"), embedding * 32**0.5)


def test_an_unsupported_model_type_is_refused_with_the_supported_ones(tmp_path):
    from transformers import OPTConfig, OPTForCausalLM

    config = OPTConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, ffn_dim=32, num_attention_heads=2)
    directory = _save_with_minilm_tokenizer(OPTForCausalLM(config), tmp_path)
    with pytest.raises(PipelineInputError, match=r"Unsupported architecture 'opt' \(OPTForCausalLM\).*gemma2"):
        load_language_model(directory)

    # Refused from its config alone, before gigabytes of weights load: here there are none to load.
    weights = list(directory.glob("*.safetensors"))
    assert weights
    for path in weights:
        path.unlink()
    with pytest.raises(PipelineInputError, match=r"Unsupported architecture 'opt'"):
        load_language_model(directory)


@pytest.mark.django_db
def test_a_run_over_gemma_2_encodes_the_post_normed_mlp_output(checkpoints, tmp_path, sample_corpus_file):
    """End to end: a dictionary on Gemma 2's hook_mlp_out reads what the block adds to the residual stream, the
    output of post_feedforward_layernorm, and not the MLP's own output."""
    from features.models import Feature, PipelineRun
    from features.pipeline.corpus import corpus_documents, make_windows
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.stream import content_mask
    from features.services import activation_runs, registration

    directory, hf_model = checkpoints("gemma2")
    model = registration.model_register(slug="tiny-gemma-2", path=str(directory))
    sae_dir = save_tiny_dictionary(tmp_path, "standard", d_in=32, d_sae=24, hook_name="blocks.1.hook_mlp_out")
    source = registration.dictionary_register(model=model, path=str(sae_dir), slug="1-mlp-out")
    run = activation_runs.activation_run_create(
        sync=True,
        model=model,
        layers=[0],
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=4,
        window_len=12,
        top_k=3,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error

    loaded = load_language_model(directory)
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=4,
        window_len=12,
        corpus_name="x",
        prepend_bos=False,  # as the dictionary was trained
    )
    ids = torch.tensor(windows.token_ids)
    outputs = []
    handle = hf_model.model.layers[1].post_feedforward_layernorm.register_forward_hook(
        lambda _m, _a, output: outputs.append(output)
    )
    try:
        with torch.inference_mode():
            hf_model(input_ids=ids)
    finally:
        handle.remove()
    features = load_dictionary(sae_dir).sae.encode(outputs[0])
    features = torch.where(content_mask(loaded, ids)[:, :, None], features, 0.0)
    expected = features.amax(dim=(0, 1))
    assert (expected > 0).sum() >= 5, "the test SAE must fire, or the comparison would only check zeros"
    stored = [Feature.objects.get(source=source, index=i).max_activation for i in range(24)]
    torch.testing.assert_close(torch.tensor(stored), expected, atol=1e-5, rtol=1e-5)
    assert Feature.objects.filter(source__model=model, source__slug="0-mlp").count() == 64


@pytest.mark.django_db
def test_a_pythia_style_model_registers_and_refuses_a_resid_mid_dictionary(checkpoints, tmp_path):
    from features.services import registration

    model = registration.model_register(slug="tiny-neox", path=str(checkpoints("gpt_neox")[0]))
    assert model.n_layers == 2
    sae_dir = save_tiny_dictionary(tmp_path, "standard", d_in=32, d_sae=24, hook_name="blocks.1.hook_resid_mid")
    with pytest.raises(PipelineInputError, match="no hook 'blocks.1.hook_resid_mid'.*parallel residual"):
        registration.dictionary_register(model=model, path=str(sae_dir), slug="1-res-mid")


def test_olmo_2_refuses_ln2_normalized_because_no_norm_precedes_its_mlp(checkpoints):
    loaded = load_language_model(checkpoints("olmo2")[0])
    with pytest.raises(PipelineInputError, match="no hook 'blocks.0.ln2.hook_normalized'.*no norm before it"):
        parse_hook_name("blocks.0.ln2.hook_normalized", loaded)


@pytest.mark.django_db
def test_attn_hook_z_is_as_wide_as_all_heads_and_takes_an_attention_sae(tmp_path):
    """Gemma's heads need not add up to d_model (Gemma Scope's attention SAEs read n_heads * d_head)."""
    from features.services import registration

    torch.manual_seed(0)
    config = Gemma2Config(**{**GEMMA, "head_dim": 4, "query_pre_attn_scalar": 4, "num_attention_heads": 4})
    directory = _save_with_minilm_tokenizer(AutoModelForCausalLM.from_config(config), tmp_path / "model")
    loaded = load_language_model(directory)
    hook = parse_hook_name("blocks.1.attn.hook_z", loaded)
    ids = torch.randint(1000, 2000, (1, 5), generator=torch.Generator().manual_seed(0))
    assert capture_activations(loaded, [hook], ids)[hook.name].shape == (1, 5, 16)
    model = registration.model_register(slug="tiny-gemma-heads", path=str(directory))
    sae_dir = save_tiny_dictionary(tmp_path / "sae", "standard", d_in=16, d_sae=16, hook_name="blocks.1.attn.hook_z")
    assert registration.dictionary_register(model=model, path=str(sae_dir), slug="1-att").n_features == 16
    wrong = save_tiny_dictionary(tmp_path / "wrong", "standard", d_in=32, d_sae=16, hook_name="blocks.1.attn.hook_z")
    with pytest.raises(PipelineInputError, match="reads 32-dimensional vectors but blocks.1.attn.hook_z .* is 16"):
        registration.dictionary_register(model=model, path=str(wrong), slug="1-att-wrong")
