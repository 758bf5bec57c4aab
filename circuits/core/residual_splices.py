"""Residual-stream SAEs spliced into the replacement model, as Marks et al.'s sparse feature circuits do.

At the SAE's hook the residual stream x is replaced by what the SAE writes, decoder @ features + b_dec, plus an
error: x minus that reconstruction. At the prompt the sum is x again, so the model's forward pass is unchanged;
in the graph the SAE's active features and one error node per position are the only way past the hook, so every
upstream node reaches downstream ones through them.

How each architecture is linearised at the prompt (as circuit-tracer linearises a transcoder): a feature node's
pre-activation is one affine read of the residual stream just before the splice, `encoder[:, i] . x + offset[i]`,
and its activation is that pre-activation wherever it is active, with which features are active frozen at the
prompt's values:
- standard (ReLU): encoder W_enc, offset b_enc (less W_enc^T b_dec when b_dec is subtracted from the input);
- TopK: the same read; the top-k set is frozen (with rescale_acts_by_decoder_norm, sae-lens multiplies the read
  by the decoder row's norm and divides the decoder row by it, so both are folded in here);
- JumpReLU: the same read; the threshold is frozen (a feature above it stays on, the rest stay off);
- Gated: the magnitude path, encoder W_enc * exp(r_mag), offset b_mag; the gate (W_enc x + b_gate > 0) is frozen.
A feature's output is its activation times its decoder row; what the frozen reads cannot account for is in the
error node. Dictionaries that normalise their inputs are refused (the scale is not linear), as for transcoders.

Where the hook is a module's input or output that the residual stream passes through (the block's input or
output; BERT's LayerNorms, whose output is the stream), replacing that tensor cuts the stream. GPT-2's
hook_resid_mid is the input of ln_2 while the residual bypasses it, so there the block's output is corrected
too: output - x + spliced.

Pure torch on the project's hook map (features/pipeline); no Django.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from features.pipeline.dictionaries import LoadedDictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, hook_module, parse_hook_name
from features.pipeline.loading import LoadedModel

RESIDUAL_POINTS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")
# In graphs, an SAE's nodes are drawn in its hook's layer, ordered within it by `probe_location_idx` (the field
# circuit-tracer's viewer orders a layer's streams by); the MLP's own nodes, which carry none, come between mid and
# post. The short name is part of the node ids ("3post_17_5": layer 3's resid_post SAE, feature 17, position 5).
PROBE_LOCATIONS = {"hook_resid_pre": 0, "hook_resid_mid": 1, "hook_resid_post": 3}
MLP_PROBE_LOCATION = 2
SHORT_NAMES = {"hook_resid_pre": "pre", "hook_resid_mid": "mid", "hook_resid_post": "post"}
# Points where the residual stream goes around the module whose input is the hook (pre-norm blocks): the stream
# carried past the block must be corrected as well.
BYPASSED = {("gpt2", "hook_resid_mid")}
# Order of hook points within a block, to tell whether a splice lies upstream of a target's read.
POINT_ORDER = {
    "hook_resid_pre": 0,
    "attn.hook_z": 1,
    "hook_attn_out": 1,
    "hook_resid_mid": 2,
    "ln2.hook_normalized": 3,
    "mlp.hook_pre": 4,
    "mlp.hook_post": 4,
    "hook_mlp_out": 4,
    "hook_resid_post": 5,
}


@dataclass
class SaeSplice:
    """A residual-stream SAE spliced into the replacement model at its hook."""

    source_slug: str
    dictionary: LoadedDictionary

    @property
    def hook_name(self) -> str:
        return self.dictionary.hook_name

    @property
    def input_key(self) -> str:
        """Where a pass keeps the residual stream just before the splice: what the SAE's features read."""
        return f"{self.hook_name}:before-splice"


def hook_order(hook: HookPoint) -> int:
    return hook.layer * len(POINT_ORDER) + POINT_ORDER[hook.point]


def check_splice(loaded: LoadedModel, splice: SaeSplice) -> HookPoint:
    """An SAE can be spliced where it reads and writes the residual stream, without normalising its input."""
    dictionary = splice.dictionary
    if dictionary.is_transcoder:
        raise PipelineInputError(
            f"{splice.source_slug} is a transcoder: it stands for an MLP (give it as a layer's replacement), "
            "not for the residual stream."
        )
    hook = parse_hook_name(dictionary.hook_name, loaded)
    if hook.point not in RESIDUAL_POINTS:
        raise PipelineInputError(
            f"{splice.source_slug} reads {dictionary.hook_name}: an SAE can stand in a graph only on the residual "
            f"stream ({', '.join(RESIDUAL_POINTS)}). Leave it out, or use it as the target."
        )
    if loaded.family.name not in ("gpt2", "bert"):
        raise PipelineInputError(f"SAEs cannot be spliced into {loaded.family.description} yet.")
    if dictionary.sae.cfg.normalize_activations != "none":
        raise PipelineInputError(
            f"{splice.source_slug} normalises its inputs ({dictionary.sae.cfg.normalize_activations}), which is "
            "not linear: graphs need normalize_activations none."
        )
    if dictionary.d_in != loaded.d_model:
        raise PipelineInputError(f"{splice.source_slug} reads {dictionary.d_in} wide, the stream is {loaded.d_model}.")
    return hook


def check_splices(
    loaded: LoadedModel, splices: list[SaeSplice], *, target_hook: str = "", target_slug: str = ""
) -> list[SaeSplice]:
    """Each splice checked, at most one per hook, each upstream of a feature target's read (`target_hook`);
    returned in the order the stream meets them."""
    seen: dict[str, str] = {}
    read = hook_order(parse_hook_name(target_hook, loaded)) if target_hook else None
    for splice in splices:
        hook = check_splice(loaded, splice)
        if read is not None and hook_order(hook) >= read:
            raise PipelineInputError(
                f"{splice.source_slug} reads {splice.hook_name}, not upstream of the target {target_slug} "
                f"({target_hook}): an SAE spliced into the graph must lie between the tokens and the target."
            )
        if splice.hook_name in seen:
            raise PipelineInputError(
                f"{seen[splice.hook_name]} and {splice.source_slug} both read {splice.hook_name}: one dictionary "
                "per hook."
            )
        seen[splice.hook_name] = splice.source_slug
    return sorted(splices, key=lambda s: hook_order(parse_hook_name(s.hook_name, loaded)))


def linear_parts(dictionary: LoadedDictionary) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(encoder [d_in, d_sae], offset [d_sae], decoder [d_sae, d_out]) such that, with the active set frozen, a
    feature's activation is encoder[:, i] . x + offset[i] and it writes activation * decoder[i] (see the module's
    docstring for each architecture)."""
    sae = dictionary.sae
    encoder = sae.W_enc.detach().float()
    decoder = sae.W_dec.detach().float()
    if dictionary.architecture == "gated":
        encoder = encoder * sae.r_mag.detach().float().exp()
        offset = sae.b_mag.detach().float().clone()
    else:
        offset = sae.b_enc.detach().float().clone()
    if getattr(sae.cfg, "apply_b_dec_to_input", False):
        offset -= sae.b_dec.detach().float() @ encoder
    if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
        norms = decoder.norm(dim=-1)
        encoder, offset, decoder = encoder * norms, offset * norms, decoder / norms[:, None]
    return encoder, offset, decoder


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _with_first(value, first: torch.Tensor):
    return (first, *value[1:]) if isinstance(value, tuple) else first


def install_residual_replacement(
    loaded: LoadedModel, hook_name: str, replace: Callable[[torch.Tensor], torch.Tensor | None]
) -> list:
    """Hooks that call `replace(x)` with the residual stream x at `hook_name` and, where it returns a tensor,
    carry that tensor on as the stream instead of x. Returns the handles to remove."""
    hook = parse_hook_name(hook_name, loaded)
    if hook.point not in RESIDUAL_POINTS:
        raise PipelineInputError(f"{hook_name} is not on the residual stream.")
    module, side = hook_module(loaded, hook)
    handles = []
    seen: dict[str, torch.Tensor] = {}

    if side == "output":

        def on_output(_module, _args, output):
            new = replace(_first(output))
            return None if new is None else _with_first(output, new)

        handles.append(module.register_forward_hook(on_output))
        return handles

    def on_input(_module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        new = replace(x)
        if new is None:
            return None
        seen["x"], seen["new"] = x, new
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": new}

    handles.append(module.register_forward_pre_hook(on_input, with_kwargs=True))
    if (loaded.family.name, hook.point) in BYPASSED:
        block = loaded.blocks()[hook.layer]

        def on_block_output(_module, _args, output):
            if "x" not in seen:
                return None
            x, new = seen.pop("x"), seen.pop("new")
            return _with_first(output, _first(output) - x + new)

        handles.append(block.register_forward_hook(on_block_output))
    return handles
