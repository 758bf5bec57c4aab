"""Tiny transcoders for the tiny GPT-2 of tests/conftest.py (random weights, saved in the SAELens format), shared by
the attribution, intervention and reference tests."""

from pathlib import Path

import torch
from sae_lens.registry import get_sae_class
from sae_lens.saes.sae import SAEMetadata

PROMPT = "the cat sat on the mat"
D_TRANSCODER = 24


def save_tiny_transcoder(directory: Path, layer: int, *, d_model: int = 32, d_sae: int = D_TRANSCODER) -> Path:
    """A ReLU transcoder of one layer that reads ln2.hook_normalized and writes hook_mlp_out; its encoder is scaled
    so that about a third of its features fire on the normalised stream (norm about sqrt(d_model))."""
    torch.manual_seed(10 + layer)
    sae_class, config_class = get_sae_class("transcoder")
    config = config_class(
        d_in=d_model,
        d_sae=d_sae,
        d_out=d_model,
        apply_b_dec_to_input=False,
        metadata=SAEMetadata(
            hook_name=f"blocks.{layer}.ln2.hook_normalized",
            hook_name_out=f"blocks.{layer}.hook_mlp_out",
            prepend_bos=True,
        ),
    )
    sae = sae_class(config)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn_like(sae.W_enc) * 2 / d_model**0.5)
        sae.b_enc.fill_(-0.3)
        sae.W_dec.copy_(torch.randn_like(sae.W_dec) * 0.2 / d_sae**0.5)
        sae.b_dec.copy_(torch.randn_like(sae.b_dec) * 0.01)
    sae.save_model(directory)
    return directory


def save_tiny_transcoders(root: Path, n_layers: int = 2) -> list[Path]:
    return [save_tiny_transcoder(root / f"transcoder-{layer}", layer) for layer in range(n_layers)]
