"""What an attribution graph freezes in each architecture family, and how each family's norms are frozen.

The replacement model of a prompt (attribution.py) is the real model with everything that is not linear in the
residual stream frozen at the values the prompt gave it:

- **attention patterns**, by replaying the recorded outputs of the modules that compute queries and keys. A
  pattern is a function of queries, keys and positions only: rotary embeddings (Llama, GPT-NeoX, GPT-J, Gemma),
  query/key norms (Qwen 3, OLMo 2, Gemma 3), logit softcapping (Gemma 2) and sliding windows all act after those
  modules and depend on nothing else, so the pattern is frozen exactly;
- **norm scales** (LayerNorm's standard deviation, RMSNorm's root mean square), by dividing by the recorded scale:
  a norm with a frozen scale is affine (`(x - mean x) / s * w + b`, `x / s * w`, or Gemma's `x / s * (1 + w)`);
- a **gated MLP's gate** (SwiGLU, GeGLU: `act(gate(x)) * up(x)`), by replaying the gate projection's output.
  A gated neuron's activation is then `act(gate)` (a recorded constant) times `up(x)`, linear in the stream: the
  neuron is an exact node whose incoming edges sum to its activation itself. The gate's own dependence on the
  stream gets no edges, as an attention pattern gets none.

Gemma 2/3 and OLMo 2 normalise the MLP's output again before adding it to the residual stream (hook_mlp_out is
post_feedforward_layernorm's output): with that norm's scale frozen, what a neuron adds is linear in its
activation, its output weights times the norm's weight over the recorded scale at its position.

Pure torch; no Django.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from features.pipeline.errors import PipelineInputError

# a module's output width and the model config -> which output columns to replay (None: all of them)
ColumnMask = Callable[[int, object], torch.Tensor | None]


def _all(_width: int, _config) -> None:
    return None


def _first_two_thirds(width: int, _config) -> torch.Tensor:
    """GPT-2's c_attn computes [queries, keys, values] side by side."""
    return torch.arange(width) < 2 * width // 3


def _per_head_query_key(width: int, config) -> torch.Tensor:
    """GPT-NeoX's query_key_value computes [query, key, value] for each head in turn."""
    head_size = width // (3 * config.num_attention_heads)
    return torch.arange(width) % (3 * head_size) < 2 * head_size


def _phi3_query_key(width: int, config) -> torch.Tensor:
    """Phi-3's qkv_proj computes [all queries, all keys, all values]; keys may have fewer heads (GQA)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return torch.arange(width) < (config.num_attention_heads + n_kv) * head_dim


def _first_half(width: int, _config) -> torch.Tensor:
    """Phi-3's gate_up_proj computes [gate, up]."""
    return torch.arange(width) < width // 2


@dataclass(frozen=True)
class Replayed:
    """A module of each block whose output (or some of its columns) the frozen passes replay from the prompt."""

    path: str
    columns: ColumnMask = _all


@dataclass(frozen=True)
class GraphFamily:
    query_keys: tuple[Replayed, ...]
    gate: Replayed | None = None  # a gated MLP's gate projection; None for a plain MLP (act(W_in x) neurons)
    mlp_out_norm: str = ""  # the norm between the MLP's output projection and hook_mlp_out, if any


_LLAMA_QUERY_KEYS = (Replayed("self_attn.q_proj"), Replayed("self_attn.k_proj"))
_NEOX = GraphFamily(query_keys=(Replayed("attention.query_key_value", _per_head_query_key),))

# By the family names of features/pipeline/architectures.py. A family missing here is refused by name.
GRAPH_FAMILIES: dict[str, GraphFamily] = {
    "gpt2": GraphFamily(query_keys=(Replayed("attn.c_attn", _first_two_thirds),)),
    "bert": GraphFamily(query_keys=(Replayed("attention.self.query"), Replayed("attention.self.key"))),
    "gpt_neo": GraphFamily(query_keys=(Replayed("attn.attention.q_proj"), Replayed("attn.attention.k_proj"))),
    "gptj": GraphFamily(query_keys=(Replayed("attn.q_proj"), Replayed("attn.k_proj"))),
    "gpt_neox": _NEOX,
    "gpt_neox_sequential": _NEOX,
    "llama": GraphFamily(query_keys=_LLAMA_QUERY_KEYS, gate=Replayed("mlp.gate_proj")),
    "phi3": GraphFamily(
        query_keys=(Replayed("self_attn.qkv_proj", _phi3_query_key),), gate=Replayed("mlp.gate_up_proj", _first_half)
    ),
    "olmo2": GraphFamily(
        query_keys=_LLAMA_QUERY_KEYS, gate=Replayed("mlp.gate_proj"), mlp_out_norm="post_feedforward_layernorm"
    ),
    "gemma2": GraphFamily(
        query_keys=_LLAMA_QUERY_KEYS, gate=Replayed("mlp.gate_proj"), mlp_out_norm="post_feedforward_layernorm"
    ),
}


def graph_family(family_name: str, description: str) -> GraphFamily:
    family = GRAPH_FAMILIES.get(family_name)
    if family is None:
        supported = ", ".join(sorted(GRAPH_FAMILIES))
        raise PipelineInputError(
            f"Attribution graphs are not supported for {description} ({family_name}): only for {supported}, whose "
            "attention patterns, norm scales and MLP gates are frozen through known modules."
        )
    return family


# -- norms --------------------------------------------------------------------------------------------------------
LAYER_NORM, RMS_NORM, RMS_NORM_ONE_PLUS = "LayerNorm", "RMSNorm", "RMSNorm (1 + weight)"


def norm_kind(module: torch.nn.Module) -> str | None:
    """How a norm module computes its output (None: not a norm). Gemma's RMSNorms scale by 1 + weight (its weights
    are stored as offsets from one); every other RMSNorm the families use, by the weight."""
    if isinstance(module, torch.nn.LayerNorm):
        return LAYER_NORM
    name = type(module).__name__
    if name.endswith("RMSNorm"):
        return RMS_NORM_ONE_PLUS if name.startswith("Gemma") else RMS_NORM
    if "Norm" in name:  # a norm we do not know how to freeze: refused rather than left unfrozen
        raise PipelineInputError(f"{name} is a norm of unknown formula: its scale cannot be frozen or folded.")
    return None


def norm_scale(module: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """The divisor the norm applies to x (float32, last dimension kept as 1)."""
    eps = getattr(module, "eps", None)
    if eps is None:
        eps = module.variance_epsilon
    x = x.float()
    if kind == LAYER_NORM:
        return (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt()
    return (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def normalise(kind: str, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x normalised by a given scale, without the norm's weight and bias (TransformerLens's hook_normalized)."""
    x = x.float()
    if kind == LAYER_NORM:
        x = x - x.mean(-1, keepdim=True)
    return x / scale


def norm_weight(module: torch.nn.Module, kind: str) -> torch.Tensor | None:
    """What the normalised vector is multiplied by, elementwise."""
    weight = getattr(module, "weight", None)
    if weight is None:
        return None
    return 1.0 + weight.float() if kind == RMS_NORM_ONE_PLUS else weight.float()


def apply_frozen_norm(module: torch.nn.Module, kind: str, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The norm's output with its scale frozen: affine in x."""
    out = normalise(kind, x, scale)
    weight = norm_weight(module, kind)
    if weight is not None:
        out = out * weight
    bias = getattr(module, "bias", None)
    if bias is not None:
        out = out + bias.float()
    return out


def check_frozen_norm(module: torch.nn.Module, kind: str, x: torch.Tensor, output: torch.Tensor) -> None:
    """The formula, at the recorded scale, must give the norm's own output: a norm that computes something else
    would be frozen wrongly and silently."""
    ours = apply_frozen_norm(module, kind, x, norm_scale(module, kind, x))
    tolerance = 1e-4 if output.dtype == torch.float32 else 2e-2
    error = (ours - output.float()).abs().max()
    if error > tolerance * max(float(output.float().abs().max()), 1.0):
        raise PipelineInputError(
            f"Attribution graphs cannot freeze {type(module).__name__}: its output is not the {kind} formula "
            f"(differs by {float(error):.3g})."
        )
