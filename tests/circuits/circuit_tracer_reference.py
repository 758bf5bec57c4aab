"""Run circuit-tracer 0.5.0 on a local GPT-2 checkpoint and per-layer transcoders in the SAELens format, and write
what it computes as JSON. Runs in the reference venv (.venv-circuit-tracer, `make reference-venv`), never in ours:
circuit-tracer pins transformers<=4.57.3. Called by tests/circuits/test_attribution_reference.py.

    .venv-circuit-tracer/bin/python tests/circuits/circuit_tracer_reference.py REQUESTS.json OUTPUT.json

REQUESTS: a list (one process, since importing circuit-tracer takes seconds) of {"model_dir", "transcoders":
[sae-lens directory per layer], "feature_input_hook" (e.g. "ln2.hook_normalized"), "input_ids",
"target_token_id", "max_feature_nodes" (or null), "batch_size", "node_threshold", "edge_threshold"}; OUTPUT: a
list of results in the same order.

circuit-tracer cannot read a transformers checkpoint directory (its loaders ask the Hub for a named model), so
the HookedTransformer is built from the checkpoint's config and its weights converted with TransformerLens's own
conversion of that family (GPT-2, Llama or Gemma 2: a request's "family", GPT-2 when absent), without folding or
centring (as circuit-tracer loads models). The Gemma 2 config is written as TransformerLens writes it for
google/gemma-2-2b, at the checkpoint's sizes.
"""

import json
import sys
import tempfile
from pathlib import Path

import torch
from circuit_tracer.attribution.attribute import attribute
from circuit_tracer.graph import compute_graph_scores, compute_node_influence, prune_graph
from circuit_tracer.replacement_model.replacement_model_transformerlens import TransformerLensReplacementModel
from circuit_tracer.transcoder.single_layer_transcoder import load_transcoder_set
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.gemma import convert_gemma_weights
from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights
from transformers import AutoModelForCausalLM, AutoTokenizer


def transcoder_file(sae_lens_dir: str, directory: Path, layer: int) -> str:
    """circuit-tracer's layout of one transcoder: W_enc and W_dec both [d_transcoder, d_model]."""
    weights = load_file(str(Path(sae_lens_dir) / "sae_weights.safetensors"))
    converted = {
        "W_enc": weights["W_enc"].T.contiguous(),
        "W_dec": weights["W_dec"].contiguous(),
        "b_enc": weights["b_enc"],
        "b_dec": weights["b_dec"],
    }
    if "W_skip" in weights:
        converted["W_skip"] = weights["W_skip"]
    path = directory / f"layer_{layer}.safetensors"
    save_file(converted, str(path))
    return str(path)


def main(request_path: str, output_path: str) -> None:
    results = [run(request) for request in json.loads(Path(request_path).read_text())]
    Path(output_path).write_text(json.dumps(results))


def gpt2_config(config) -> dict:
    return {
        "n_layers": config.n_layer,
        "d_model": config.n_embd,
        "n_heads": config.n_head,
        "d_head": config.n_embd // config.n_head,
        "d_mlp": config.n_inner or 4 * config.n_embd,
        "n_ctx": config.n_positions,
        "act_fn": "gelu_new",
        "normalization_type": "LN",
        "eps": config.layer_norm_epsilon,
        "original_architecture": "GPT2LMHeadModel",
    }


def rotary_config(config) -> dict:
    """What Llama and Gemma 2 share: RMSNorm, rotary attention with grouped keys, a gated MLP."""
    return {
        "n_layers": config.num_hidden_layers,
        "d_model": config.hidden_size,
        "n_heads": config.num_attention_heads,
        "n_key_value_heads": config.num_key_value_heads,
        "d_head": config.head_dim,
        "d_mlp": config.intermediate_size,
        "n_ctx": config.max_position_embeddings,
        "normalization_type": "RMS",
        "eps": config.rms_norm_eps,
        "positional_embedding_type": "rotary",
        "rotary_dim": config.head_dim,
        "rotary_base": config.rope_theta,
        "gated_mlp": True,
        "final_rms": True,
    }


def llama_config(config) -> dict:
    return {**rotary_config(config), "act_fn": "silu", "original_architecture": "LlamaForCausalLM"}


def gemma2_config(config) -> dict:
    return {
        **rotary_config(config),
        "act_fn": config.hidden_activation,
        "use_attn_scale": True,
        "attn_scale": config.query_pre_attn_scalar**0.5,
        "window_size": config.sliding_window,
        "use_local_attn": True,
        "attn_types": ["local" if kind == "sliding_attention" else "global" for kind in config.layer_types],
        "attn_scores_soft_cap": config.attn_logit_softcapping,
        "output_logits_soft_cap": config.final_logit_softcapping,
        "use_normalization_before_and_after": True,
        "original_architecture": "Gemma2ForCausalLM",
    }


FAMILIES = {
    "gpt2": (gpt2_config, convert_gpt2_weights),
    "llama": (llama_config, convert_llama_weights),
    "gemma2": (gemma2_config, convert_gemma_weights),
}


def run(request: dict) -> dict:
    hf_model = AutoModelForCausalLM.from_pretrained(request["model_dir"], local_files_only=True).eval()
    config = hf_model.config
    make_config, convert_weights = FAMILIES[request.get("family", "gpt2")]
    cfg = HookedTransformerConfig(
        **make_config(config),
        d_vocab=config.vocab_size,
        default_prepend_bos=False,
        dtype=torch.float32,
        device="cpu",
    )
    tokenizer = AutoTokenizer.from_pretrained(request["model_dir"], local_files_only=True)
    with tempfile.TemporaryDirectory() as scratch:
        paths = {
            layer: transcoder_file(directory, Path(scratch), layer)
            for layer, directory in enumerate(request["transcoders"])
        }
        transcoders = load_transcoder_set(
            paths,
            scan="reference",
            feature_input_hook=request["feature_input_hook"],
            feature_output_hook="hook_mlp_out",
            device=torch.device("cpu"),
            lazy_encoder=False,
            lazy_decoder=False,
        )
        model = TransformerLensReplacementModel(cfg, tokenizer=tokenizer)
        model.load_and_process_state_dict(
            convert_weights(hf_model, cfg),
            fold_ln=False,
            center_writing_weights=False,
            center_unembed=False,
            fold_value_biases=False,
        )
        model._configure_replacement_model(transcoders)
        graph = attribute(
            torch.tensor(request["input_ids"]),
            model,
            attribution_targets=torch.tensor([request["target_token_id"]]),
            max_feature_nodes=request["max_feature_nodes"],
            batch_size=request["batch_size"],
        )
    weights = torch.zeros(graph.adjacency_matrix.shape[0])
    weights[-1] = graph.logit_probabilities[0]
    node_influence = compute_node_influence(graph.adjacency_matrix, weights)
    pruned = prune_graph(graph, request["node_threshold"], request["edge_threshold"])
    replacement, completeness = compute_graph_scores(graph)
    return {
        "features": graph.active_features[graph.selected_features].tolist(),  # (layer, position, index)
        "activations": graph.activation_values[graph.selected_features].tolist(),
        "n_active_features": int(graph.active_features.shape[0]),
        "adjacency": graph.adjacency_matrix.tolist(),
        "target_probability": float(graph.logit_probabilities[0]),
        "influence": node_influence.tolist(),
        "node_mask": pruned.node_mask.tolist(),
        "edge_mask": pruned.edge_mask.nonzero().tolist(),
        "cumulative": pruned.cumulative_scores.tolist(),
        "replacement_score": replacement,
        "completeness_score": completeness,
    }


if __name__ == "__main__":
    main(*sys.argv[1:3])
