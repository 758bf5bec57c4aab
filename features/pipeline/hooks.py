"""TransformerLens / SAELens hook names mapped onto transformers modules, and one forward pass that
captures several hook points at once and stops as soon as the last of them has been seen.

A hook name is `blocks.<layer>.<point>`, e.g. `blocks.6.hook_resid_pre`, `blocks.3.hook_mlp_out`,
`blocks.2.mlp.hook_post` (the MLP neurons), `blocks.2.ln2.hook_normalized` (a transcoder's input),
`blocks.4.attn.hook_z` (the heads' outputs, flattened). Where each point lives in each architecture family:
architectures.py.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .architectures import ATTENTION_WIDTH_POINTS, MLP_WIDTH_POINTS, POINTS
from .errors import PipelineInputError
from .loading import LoadedModel, find_submodule

HOOK_NAME = re.compile(r"^blocks\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class HookPoint:
    name: str
    layer: int
    point: str


def parse_hook_name(name: str, loaded: LoadedModel) -> HookPoint:
    match = HOOK_NAME.match(name)
    if not match or match.group(2) not in POINTS:
        supported = ", ".join(f"blocks.L.{point}" for point in POINTS)
        raise PipelineInputError(f"Unsupported hook name {name!r}; supported: {supported}.")
    layer = int(match.group(1))
    if layer >= loaded.n_layers:
        raise PipelineInputError(f"The model has no hook {name!r}: it has layers 0 to {loaded.n_layers - 1}.")
    point = match.group(2)
    why = loaded.family.refused.get(point)
    if why:
        raise PipelineInputError(f"The model has no hook {name!r}: in {loaded.family.description}, {why}.")
    if point not in loaded.family.points:
        raise PipelineInputError(f"Hook {name!r} is not mapped for the {loaded.architecture!r} architecture.")
    return HookPoint(name=name, layer=layer, point=point)


def hook_module(loaded: LoadedModel, hook: HookPoint) -> tuple[torch.nn.Module, str]:
    """The module whose input or output is the hook's activation, and which: "input", "output",
    "normalized" (the input of a norm, normalised without the norm's weight and bias, as TransformerLens's
    `hook_normalized`) or "first_half" (of the output: the gate of a fused gate-and-up projection)."""
    block = loaded.blocks()[hook.layer]
    if hook.point not in loaded.family.points:
        raise PipelineInputError(f"Hook {hook.name!r} is not mapped for the {loaded.architecture!r} architecture.")
    path, side = loaded.family.points[hook.point]
    module = block if not path else find_submodule(block, [path], what=f"module for {hook.name}")
    return module, side


def hook_width(loaded: LoadedModel, hook: HookPoint) -> int:
    if hook.point in ATTENTION_WIDTH_POINTS:  # the output projection's input: n_heads * d_head
        projection, _ = hook_module(loaded, hook)
        # GPT-2's Conv1D stores [in, out]; nn.Linear stores [out, in].
        return projection.weight.shape[0 if type(projection).__name__ == "Conv1D" else 1]
    return loaded.d_mlp if hook.point in MLP_WIDTH_POINTS else loaded.d_model


def normalize_like(norm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x normalised as `norm` would, without its weight and bias: LayerNorm centres and scales, RMSNorm scales."""
    if isinstance(norm, torch.nn.LayerNorm):
        return F.layer_norm(x, norm.normalized_shape, eps=norm.eps)
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", None)
    if eps is None:
        raise PipelineInputError(f"Cannot normalise like {type(norm).__name__}: it has no epsilon.")
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class StopForward(Exception):
    """Raised inside a hook to end the forward pass once every needed activation is captured."""


def _first_tensor(value):
    return value[0] if isinstance(value, tuple) else value


def _input(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def capture_activations(
    loaded: LoadedModel,
    hooks: Sequence[HookPoint],
    input_ids: torch.Tensor,
    module_inputs: Mapping[str, torch.nn.Module] | None = None,
) -> dict[str, torch.Tensor]:
    """Run the model on input_ids [B, T] until every hook has fired; return {hook name: [B, T, d]}, on the model's
    device in its dtype. `module_inputs` ({key: module}) also captures those modules' inputs under their keys: a
    vector no hook point names (a norm's input inside a block, such as the MLP's output before Gemma 2's
    post-feedforward norm)."""
    captured: dict[str, torch.Tensor] = {}
    module_inputs = dict(module_inputs or {})
    wanted = {hook.name for hook in hooks} | set(module_inputs)
    handles = []

    def store(name: str, value: torch.Tensor, transform=None) -> None:
        value = _first_tensor(value).detach()
        captured[name] = transform(value) if transform is not None else value
        if wanted.issubset(captured):
            raise StopForward

    try:
        for hook in {hook.name: hook for hook in hooks}.values():
            module, side = hook_module(loaded, hook)
            if side in ("input", "normalized"):
                transform = (lambda x, norm=module: normalize_like(norm, x)) if side == "normalized" else None
                handles.append(
                    module.register_forward_pre_hook(
                        lambda _m, args, kwargs, name=hook.name, transform=transform: store(
                            name, _input(args, kwargs), transform
                        ),
                        with_kwargs=True,
                    )
                )
            else:
                transform = (lambda x: x[..., : x.shape[-1] // 2]) if side == "first_half" else None
                handles.append(
                    module.register_forward_hook(
                        lambda _m, _args, output, name=hook.name, transform=transform: store(name, output, transform)
                    )
                )
        for key, module in module_inputs.items():
            handles.append(
                module.register_forward_pre_hook(
                    lambda _m, args, kwargs, key=key: store(key, _input(args, kwargs)), with_kwargs=True
                )
            )
        input_ids = input_ids.to(loaded.device)
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
