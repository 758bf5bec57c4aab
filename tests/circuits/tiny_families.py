"""Tiny random decoders of the families attribution graphs support beyond GPT-2 and BERT, saved on disk with
MiniLM's tokenizer (2 layers, d_model 32, d_mlp 64; norm weights and biases perturbed so that a norm frozen with
the wrong formula, or a weight left out, shows). Shared by the family attribution, intervention and reference
tests."""

from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    Gemma3TextConfig,
    GemmaConfig,
    GPTJConfig,
    GPTNeoConfig,
    GPTNeoXConfig,
    LlamaConfig,
    Olmo2Config,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
)

from tests.conftest import DECODER, GEMMA, SMALL, VOCAB, _save_with_minilm_tokenizer

NEOX = {**SMALL, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}

# by config.json's model_type (and the sequential GPT-NeoX variant)
CONFIGS = {
    "llama": lambda: LlamaConfig(**DECODER),
    "qwen2": lambda: Qwen2Config(**DECODER),  # biased queries and keys
    "qwen3": lambda: Qwen3Config(**DECODER, head_dim=16),  # query and key norms
    "gemma": lambda: GemmaConfig(**GEMMA),  # Llama's family, Gemma's 1 + weight norms and scaled embeddings
    "gemma2": lambda: Gemma2Config(**GEMMA),  # softcapped attention and logits, norms after attention and MLP
    "gemma3_text": lambda: Gemma3TextConfig(**GEMMA, sliding_window=512),
    "phi3": lambda: Phi3Config(**DECODER, sliding_window=None, pad_token_id=0),  # fused projections
    "olmo2": lambda: Olmo2Config(**DECODER, rms_norm_eps=1e-6, pad_token_id=0),
    "gpt_neox": lambda: GPTNeoXConfig(**NEOX, rotary_pct=0.5),  # parallel attention and MLP
    "gpt_neox_sequential": lambda: GPTNeoXConfig(**NEOX, rotary_pct=0.5, use_parallel_residual=False),
    "gptj": lambda: GPTJConfig(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=64),
    "gpt_neo": lambda: GPTNeoConfig(
        **SMALL, hidden_size=32, num_layers=2, num_heads=2, attention_types=[[["global", "local"], 1]], window_size=4
    ),
}


def save_tiny_decoder(directory: Path, name: str) -> Path:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(CONFIGS[name](), dtype=torch.float32)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return _save_with_minilm_tokenizer(model, directory)
