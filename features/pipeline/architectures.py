"""The architecture families we hook, chosen from a checkpoint's config.json (its `model_type`), and where each
TransformerLens hook point lives in a block of that family.

Each point is (module path inside the block, side): "" is the block itself; side "input" or "output" is that
module's input or output; side "normalized" is the input of a norm module, normalised without the norm's weight
and bias, which is what TransformerLens's `ln2.hook_normalized` holds; side "first_half" is the first half of
the output (the gate of a fused gate-and-up projection). Every mapping is checked against TransformerLens's
`run_with_cache` (HookedEncoder for BERT) on the same weights (tests/features/test_architectures.py). A point
that has no meaning in a family is refused with the reason, never approximated.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import PipelineInputError

POINTS = (
    "hook_resid_pre",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "ln2.hook_normalized",
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
)
# Points whose width is the MLP's hidden width, not d_model.
MLP_WIDTH_POINTS = ("mlp.hook_pre", "mlp.hook_post")
# attn.hook_z, every head's output before the output projection, is captured flattened to n_heads * d_head,
# as SAELens reshapes it for attention SAEs (Gemma Scope's among them).
ATTENTION_WIDTH_POINTS = ("attn.hook_z",)


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    block_list: str  # path of the list of transformer blocks inside the model
    points: Mapping[str, tuple[str, str]]
    refused: Mapping[str, str] = field(default_factory=dict)  # point -> why it has no meaning here


def _block_points(
    *, attn: str, attn_proj: str, ln2: str, mlp_in: str, mlp_out: str, attn_out: str = "", mlp_out_mod: str = "mlp"
):
    """The points of a sequential pre-norm block: resid_mid is the input of the norm before the MLP."""
    return {
        "hook_resid_pre": ("", "input"),
        "attn.hook_z": (attn_proj, "input"),
        "hook_attn_out": (attn_out or attn, "output"),
        "hook_resid_mid": (ln2, "input"),
        "ln2.hook_normalized": (ln2, "normalized"),
        "mlp.hook_pre": (mlp_in, "output"),
        "mlp.hook_post": (mlp_out, "input"),
        "hook_mlp_out": (mlp_out_mod, "output"),
        "hook_resid_post": ("", "output"),
    }


PARALLEL = (
    "attention and MLP both read the block's input and add to the residual stream together "
    "(parallel residual), so there is no residual stream between them"
)

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family(
            name="bert",
            description="BERT-style encoders (post-LayerNorm; MiniLM)",
            block_list="encoder.layer",
            # BERT normalises after each sub-block. As in TransformerLens, resid_mid and resid_post are the sums
            # before those LayerNorms (the inputs of attention.output.LayerNorm and output.LayerNorm), and ln2 is
            # the block's last LayerNorm: its hook_normalized is resid_post normalised, which (with the weight and
            # bias) is what the next block reads. The MLP reads attention.output.LayerNorm's output.
            points={
                "hook_resid_pre": ("", "input"),
                "attn.hook_z": ("attention.output.dense", "input"),
                "hook_attn_out": ("attention.output.dense", "output"),
                "hook_resid_mid": ("attention.output.LayerNorm", "input"),
                "ln2.hook_normalized": ("output.LayerNorm", "normalized"),
                "mlp.hook_pre": ("intermediate.dense", "output"),
                "mlp.hook_post": ("output.dense", "input"),
                "hook_mlp_out": ("output.dense", "output"),
                "hook_resid_post": ("output.LayerNorm", "input"),
            },
        ),
        Family(
            name="gpt2",
            description="GPT-2",
            block_list="transformer.h",
            points=_block_points(
                attn="attn", attn_proj="attn.c_proj", ln2="ln_2", mlp_in="mlp.c_fc", mlp_out="mlp.c_proj"
            ),
        ),
        Family(
            name="gpt_neo",
            description="GPT-Neo",
            block_list="transformer.h",
            points=_block_points(
                attn="attn", attn_proj="attn.attention.out_proj", ln2="ln_2", mlp_in="mlp.c_fc", mlp_out="mlp.c_proj"
            ),
        ),
        Family(
            name="gptj",
            description="GPT-J (parallel attention and MLP, one shared LayerNorm)",
            block_list="transformer.h",
            points={
                "hook_resid_pre": ("", "input"),
                "attn.hook_z": ("attn.out_proj", "input"),
                "hook_attn_out": ("attn", "output"),
                # TransformerLens ties GPT-J's ln2 to ln1: the MLP reads ln_1's output.
                "ln2.hook_normalized": ("ln_1", "normalized"),
                "mlp.hook_pre": ("mlp.fc_in", "output"),
                "mlp.hook_post": ("mlp.fc_out", "input"),
                "hook_mlp_out": ("mlp", "output"),
                "hook_resid_post": ("", "output"),
            },
            refused={"hook_resid_mid": PARALLEL},
        ),
        Family(
            name="gpt_neox",
            description="GPT-NeoX and Pythia with parallel attention and MLP (use_parallel_residual)",
            block_list="gpt_neox.layers",
            points={
                "hook_resid_pre": ("", "input"),
                "attn.hook_z": ("attention.dense", "input"),
                "hook_attn_out": ("attention", "output"),
                "ln2.hook_normalized": ("post_attention_layernorm", "normalized"),
                "mlp.hook_pre": ("mlp.dense_h_to_4h", "output"),
                "mlp.hook_post": ("mlp.dense_4h_to_h", "input"),
                "hook_mlp_out": ("mlp", "output"),
                "hook_resid_post": ("", "output"),
            },
            refused={"hook_resid_mid": PARALLEL},
        ),
        Family(
            name="gpt_neox_sequential",
            description="GPT-NeoX without parallel residual (use_parallel_residual false)",
            block_list="gpt_neox.layers",
            points=_block_points(
                attn="attention",
                attn_proj="attention.dense",
                ln2="post_attention_layernorm",
                mlp_in="mlp.dense_h_to_4h",
                mlp_out="mlp.dense_4h_to_h",
            ),
        ),
        Family(
            name="llama",
            description="Llama 2/3, Mistral, Qwen 2/2.5/3, Gemma 1 (pre-norm, gated MLP)",
            block_list="model.layers",
            # A gated MLP's hook_pre is TransformerLens's: the gate projection, before its activation function.
            points=_block_points(
                attn="self_attn",
                attn_proj="self_attn.o_proj",
                ln2="post_attention_layernorm",
                mlp_in="mlp.gate_proj",
                mlp_out="mlp.down_proj",
            ),
        ),
        Family(
            name="phi3",
            description="Phi-3 (pre-norm, fused QKV and gate-up projections)",
            block_list="model.layers",
            points={
                **_block_points(
                    attn="self_attn",
                    attn_proj="self_attn.o_proj",
                    ln2="post_attention_layernorm",
                    mlp_in="mlp.gate_up_proj",
                    mlp_out="mlp.down_proj",
                ),
                # gate_up_proj computes [gate, up] in one matrix; TransformerLens's hook_pre is the gate
                "mlp.hook_pre": ("mlp.gate_up_proj", "first_half"),
            },
        ),
        Family(
            name="olmo2",
            description="OLMo 2 (norms after attention and MLP, none before)",
            block_list="model.layers",
            points={
                "hook_resid_pre": ("", "input"),
                "attn.hook_z": ("self_attn.o_proj", "input"),
                "hook_attn_out": ("post_attention_layernorm", "output"),
                "hook_resid_mid": ("mlp", "input"),
                "mlp.hook_pre": ("mlp.gate_proj", "output"),
                "mlp.hook_post": ("mlp.down_proj", "input"),
                "hook_mlp_out": ("post_feedforward_layernorm", "output"),
                "hook_resid_post": ("", "output"),
            },
            refused={
                "ln2.hook_normalized": "the MLP reads the residual stream as it is, with no norm before it "
                "(TransformerLens's ln2 there is the norm after the MLP, so its hook_normalized is no MLP input)"
            },
        ),
        Family(
            name="gemma2",
            description="Gemma 2 and 3 (norms before and after attention and MLP)",
            block_list="model.layers",
            # Gemma 2/3 normalise the attention and MLP outputs again before adding them to the residual stream:
            # what is added (attn_out, mlp_out) is the output of those post-norms, and the norm before the MLP is
            # pre_feedforward_layernorm (post_attention_layernorm is the attention's post-norm, unlike Llama).
            points=_block_points(
                attn="self_attn",
                attn_proj="self_attn.o_proj",
                attn_out="post_attention_layernorm",
                ln2="pre_feedforward_layernorm",
                mlp_in="mlp.gate_proj",
                mlp_out="mlp.down_proj",
                mlp_out_mod="post_feedforward_layernorm",
            ),
        ),
    ]
}

# config.json's model_type -> family. A model type missing here is refused rather than guessed from its modules.
FAMILY_BY_MODEL_TYPE = {
    "bert": "bert",
    "gpt2": "gpt2",
    "gpt_neo": "gpt_neo",
    "gptj": "gptj",
    "gpt_neox": "gpt_neox",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
    "qwen3": "llama",
    "gemma": "llama",
    "phi3": "phi3",
    "olmo2": "olmo2",
    "gemma2": "gemma2",
    "gemma3_text": "gemma2",
}


def family_for_config(config) -> Family:
    """The family of a transformers config (config.json's model_type, and for GPT-NeoX use_parallel_residual)."""
    model_type = getattr(config, "model_type", "") or ""
    name = FAMILY_BY_MODEL_TYPE.get(model_type)
    if name is None:
        supported = ", ".join(sorted(FAMILY_BY_MODEL_TYPE))
        architectures = ", ".join(getattr(config, "architectures", None) or []) or "no architectures listed"
        raise PipelineInputError(
            f"Unsupported architecture {model_type!r} ({architectures}): supported model types are {supported}."
        )
    if name == "gpt_neox" and not getattr(config, "use_parallel_residual", True):
        name = "gpt_neox_sequential"
    return FAMILIES[name]
