"""TransformerLens / SAELens hook names mapped onto transformers modules, and one forward pass that
captures several hook points at once and stops as soon as the last of them has been seen.

A hook name is `blocks.<layer>.<point>`, e.g. `blocks.6.hook_resid_pre`, `blocks.3.hook_mlp_out`,
`blocks.2.mlp.hook_post` (the MLP neurons), `blocks.2.ln2.hook_normalized` (a transcoder's input).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .errors import PipelineInputError
from .loading import LoadedModel, find_submodule

HOOK_NAME = re.compile(r"^blocks\.(\d+)\.(.+)$")

# point -> family -> (module path inside the block, "input" or "output"). "" is the block itself.
# BERT is post-LayerNorm: what feeds its MLP is the attention block's output, which serves as both
# resid_mid and ln2.hook_normalized.
HOOK_POINTS: dict[str, dict[str, tuple[str, str]]] = {
    "hook_resid_pre": {"bert": ("", "input"), "gpt2": ("", "input"), "llama": ("", "input")},
    "hook_resid_post": {"bert": ("", "output"), "gpt2": ("", "output"), "llama": ("", "output")},
    "hook_attn_out": {
        "bert": ("attention.output.dense", "output"),
        "gpt2": ("attn", "output"),
        "llama": ("self_attn", "output"),
    },
    "hook_resid_mid": {
        "bert": ("attention", "output"),
        "gpt2": ("ln_2", "input"),
        "llama": ("post_attention_layernorm", "input"),
    },
    "ln2.hook_normalized": {
        "bert": ("attention", "output"),
        "gpt2": ("ln_2", "output"),
        "llama": ("post_attention_layernorm", "output"),
    },
    "mlp.hook_post": {
        "bert": ("output.dense", "input"),
        "gpt2": ("mlp.c_proj", "input"),
        "llama": ("mlp.down_proj", "input"),
    },
    "hook_mlp_out": {"bert": ("output.dense", "output"), "gpt2": ("mlp", "output"), "llama": ("mlp", "output")},
}


@dataclass(frozen=True)
class HookPoint:
    name: str
    layer: int
    point: str


def parse_hook_name(name: str, loaded: LoadedModel) -> HookPoint:
    match = HOOK_NAME.match(name)
    if not match or match.group(2) not in HOOK_POINTS:
        supported = ", ".join(f"blocks.L.{point}" for point in HOOK_POINTS)
        raise PipelineInputError(f"Unsupported hook name {name!r}; supported: {supported}.")
    layer = int(match.group(1))
    if layer >= loaded.n_layers:
        raise PipelineInputError(f"The model has no hook {name!r}: it has layers 0 to {loaded.n_layers - 1}.")
    return HookPoint(name=name, layer=layer, point=match.group(2))


def hook_module(loaded: LoadedModel, hook: HookPoint) -> tuple[torch.nn.Module, str]:
    """The module whose input or output is the hook's activation, and which of the two."""
    block = loaded.blocks()[hook.layer]
    family = loaded.family
    if family not in HOOK_POINTS[hook.point]:
        raise PipelineInputError(f"Hook {hook.name!r} is not mapped for the {loaded.architecture!r} architecture.")
    path, side = HOOK_POINTS[hook.point][family]
    module = block if not path else find_submodule(block, [path], what=f"module for {hook.name}")
    return module, side


def hook_width(loaded: LoadedModel, hook: HookPoint) -> int:
    return loaded.d_mlp if hook.point == "mlp.hook_post" else loaded.d_model


class StopForward(Exception):
    """Raised inside a hook to end the forward pass once every needed activation is captured."""


def _first_tensor(value):
    return value[0] if isinstance(value, tuple) else value


def capture_activations(
    loaded: LoadedModel, hooks: Sequence[HookPoint], input_ids: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Run the model on input_ids [B, T] until every hook has fired; return {hook name: [B, T, d]}."""
    captured: dict[str, torch.Tensor] = {}
    wanted = {hook.name for hook in hooks}
    handles = []

    def store(name: str, value: torch.Tensor) -> None:
        captured[name] = _first_tensor(value).detach()
        if wanted.issubset(captured):
            raise StopForward

    try:
        for hook in {hook.name: hook for hook in hooks}.values():
            module, side = hook_module(loaded, hook)
            if side == "input":
                handles.append(
                    module.register_forward_pre_hook(
                        lambda _m, args, kwargs, name=hook.name: store(
                            name, args[0] if args else kwargs["hidden_states"]
                        ),
                        with_kwargs=True,
                    )
                )
            else:
                handles.append(
                    module.register_forward_hook(lambda _m, _args, output, name=hook.name: store(name, output))
                )
        with torch.inference_mode():
            try:
                loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
            except StopForward:
                pass
    finally:
        for handle in handles:
            handle.remove()
    missing = wanted - set(captured)
    if missing:
        raise PipelineInputError(f"The forward pass never reached {sorted(missing)}.")
    return captured
