"""Interventions on a graph's nodes, in the real model: scale some feature or neuron activations, run the model
again (nothing frozen: attention, norms and every MLP respond), and read every node's and the target's new value.

A transcoder feature at (layer, position, index) scaled by s: the layer's MLP output gets (s * a - a_now) times
the feature's decoder row added at that position, where a is its activation in the clean run and a_now its
activation in this run (which upstream edits may have changed), as circuit-tracer's interventions do. The real
MLP still runs; only its output is moved by the feature's share. An MLP neuron scaled by s: its activation at that
position is set to s * a before the MLP's output projection reads it. A spliced SAE's feature scaled by s: the
residual stream at the SAE's hook gets (s * a - a_now) times the feature's decoder row (as the graph linearises it,
residual_splices.linear_parts) added at that position, a_now read off the stream there as sae-lens encodes it.

Pure torch on the project's hook map (features/pipeline); no Django.
"""

from dataclasses import dataclass

import torch

from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, StopForward, hook_module, normalize_like, parse_hook_name
from features.pipeline.loading import LoadedModel

from .attribution import FeatureTarget, LayerReplacement, LogitTarget, Target, feature_pre_activation
from .graph_families import graph_family
from .residual_splices import SaeSplice, install_residual_replacement, linear_parts


@dataclass(frozen=True)
class NodeRef:
    """A feature of a layer's transcoder, or one of its MLP neurons, at a position; with `hook`, a feature of the
    SAE spliced at that residual hook instead."""

    layer: int
    position: int
    index: int
    hook: str = ""


@dataclass
class NodeValues:
    pre_activation: float
    activation: float


@dataclass
class TargetValues:
    value: float  # what the graph's edges explain: the demeaned logit, or the feature's pre-activation
    activation: float  # the logit itself, or the feature's activation
    probability: float | None = None


@dataclass
class RunValues:
    nodes: dict[NodeRef, NodeValues]
    target: TargetValues


def _read_point(loaded: LoadedModel, name: str) -> tuple[torch.nn.Module, str]:
    return hook_module(loaded, parse_hook_name(name, loaded))


def run_with_edits(
    loaded: LoadedModel,
    input_ids: list[int],
    replacements: dict[int, LayerReplacement],
    nodes: list[NodeRef],
    target: Target,
    edits: dict[NodeRef, float] | None = None,
    clean_activations: dict[NodeRef, float] | None = None,
    splices: dict[str, SaeSplice] | None = None,
) -> RunValues:
    """One forward pass of the real model with `edits` ({node: scale}; scales multiply the node's activation in
    the clean run, `clean_activations`), reading every node in `nodes` and the target. `splices`: the graph's
    spliced SAEs by hook, for the nodes that name one."""
    edits = edits or {}
    splices = splices or {}
    if edits and clean_activations is None:
        raise ValueError("Edits need the clean run's activations.")
    sae_nodes = [node for node in {*nodes, *edits} if node.hook]
    mlp_nodes = [node for node in nodes if not node.hook]
    for node in {*nodes, *edits}:
        if node.hook and node.hook not in splices:
            raise PipelineInputError(f"No SAE is spliced at {node.hook} in this graph.")
        if not 0 <= node.position < len(input_ids):
            raise PipelineInputError(f"Position {node.position} is outside the prompt.")
        if not node.hook and node.layer not in replacements:
            raise PipelineInputError(f"Layer {node.layer} has no replacement in this graph.")
        if not 0 <= node.position < len(input_ids):
            raise PipelineInputError(f"Position {node.position} is outside the prompt.")
    captured: dict[str, torch.Tensor] = {}
    handles = []
    gated = graph_family(loaded.family.name, loaded.family.description).gate is not None
    # the hooks each layer needs: a transcoder's input; a neuron layer's pre- and post-activations (a gated
    # neuron's graph value is its activation: the post-activation alone)
    taps: set[str] = set()
    for layer in {node.layer for node in [*nodes, *edits] if not node.hook}:
        replacement = replacements[layer]
        if replacement.dictionary is not None:
            taps.add(replacement.dictionary.hook_name)
        elif not gated:
            taps.add(f"blocks.{layer}.mlp.hook_pre")
    if isinstance(target, FeatureTarget):
        taps.add(target.dictionary.hook_name)

    def store(name: str, side: str, module, value: torch.Tensor) -> None:
        if side == "normalized":
            value = normalize_like(module, value)
        elif side == "first_half":
            value = value[..., : value.shape[-1] // 2]
        captured[name] = value.detach()

    neuron_edits: dict[int, list[tuple[NodeRef, float]]] = {}
    feature_edits: dict[int, list[tuple[NodeRef, float]]] = {}
    sae_edits: dict[str, list[tuple[NodeRef, float]]] = {}
    for node, scale in edits.items():
        if node.hook:
            sae_edits.setdefault(node.hook, []).append((node, scale))
            continue
        kind = feature_edits if replacements[node.layer].dictionary is not None else neuron_edits
        kind.setdefault(node.layer, []).append((node, scale))

    def edit_neurons(layer: int, args: tuple):
        post = args[0].clone()
        for node, scale in neuron_edits[layer]:
            post[0, node.position, node.index] = scale * clean_activations[node]
        captured[f"blocks.{layer}.mlp.hook_post"] = post.detach()
        return (post, *args[1:])

    def edit_features(layer: int, output: torch.Tensor):
        dictionary = replacements[layer].dictionary
        current = dictionary.encode(captured[dictionary.hook_name][0]).float()
        decoder = dictionary.decoder.float()
        delta = torch.zeros_like(output[0], dtype=torch.float32)
        for node, scale in feature_edits[layer]:
            change = scale * clean_activations[node] - float(current[node.position, node.index])
            delta[node.position] += change * decoder[node.index]
        return output + delta.to(output.dtype)[None]

    def at_splice(hook: str, x: torch.Tensor) -> torch.Tensor | None:
        """Keep the stream as the SAE reads it; move it by the edited features' shares."""
        captured[splices[hook].input_key] = x.detach()
        if hook not in sae_edits:
            return None
        dictionary = splices[hook].dictionary
        current = dictionary.encode(x[0]).float()
        _, _, decoder = linear_parts(dictionary)
        delta = torch.zeros_like(x[0], dtype=torch.float32)
        for node, scale in sae_edits[hook]:
            change = scale * clean_activations[node] - float(current[node.position, node.index])
            delta[node.position] += change * decoder[node.index]
        return x + delta.to(x.dtype)[None]

    try:
        # splices first: a tap on the same hook then reads the edited stream, as everything downstream does
        for hook in sorted({node.hook for node in sae_nodes}):
            handles += install_residual_replacement(loaded, hook, lambda x, hook=hook: at_splice(hook, x))
        for name in sorted(taps):
            module, side = _read_point(loaded, name)
            if side in ("input", "normalized"):
                handles.append(
                    module.register_forward_pre_hook(
                        lambda m, args, kwargs, name=name, side=side: store(
                            name, side, m, args[0] if args else kwargs["hidden_states"]
                        ),
                        with_kwargs=True,
                    )
                )
            else:
                handles.append(
                    module.register_forward_hook(
                        lambda m, _a, out, name=name, side=side: store(
                            name, side, m, out[0] if isinstance(out, tuple) else out
                        )
                    )
                )
        for layer in {node.layer for node in mlp_nodes} | set(neuron_edits):
            if replacements[layer].dictionary is None:
                post_point = HookPoint(f"blocks.{layer}.mlp.hook_post", layer, "mlp.hook_post")
                module, _ = hook_module(loaded, post_point)
                if layer in neuron_edits:
                    handles.append(
                        module.register_forward_pre_hook(lambda _m, args, layer=layer: edit_neurons(layer, args))
                    )
                else:
                    handles.append(
                        module.register_forward_pre_hook(
                            lambda _m, args, layer=layer: captured.__setitem__(
                                f"blocks.{layer}.mlp.hook_post", args[0].detach()
                            )
                        )
                    )
        for layer in feature_edits:
            out_point = HookPoint(f"blocks.{layer}.hook_mlp_out", layer, "hook_mlp_out")
            module, _ = hook_module(loaded, out_point)
            handles.append(module.register_forward_hook(lambda _m, _a, out, layer=layer: edit_features(layer, out)))
        if isinstance(target, LogitTarget):
            handles.append(
                loaded.lm_head().register_forward_pre_hook(
                    lambda _m, args: captured.__setitem__("unembed", args[0].detach())
                )
            )
        ids = torch.tensor([input_ids], device=loaded.device)
        with torch.no_grad():
            try:
                output = loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))
            except StopForward:  # pragma: no cover - no hook here stops the pass
                output = None
    finally:
        for handle in handles:
            handle.remove()

    values: dict[NodeRef, NodeValues] = {}
    for node in nodes:
        if node.hook:
            dictionary = splices[node.hook].dictionary
            inputs = captured[splices[node.hook].input_key][0, node.position]
            pre = float(feature_pre_activation(dictionary, inputs, node.index))
            act = float(dictionary.encode(inputs[None]).float()[0, node.index])
            values[node] = NodeValues(pre_activation=pre, activation=act)
            continue
        replacement = replacements[node.layer]
        if replacement.dictionary is not None:
            inputs = captured[replacement.dictionary.hook_name][0, node.position]
            pre = float(feature_pre_activation(replacement.dictionary, inputs, node.index))
            act = float(replacement.dictionary.encode(inputs[None]).float()[0, node.index])
        else:
            act = float(captured[f"blocks.{node.layer}.mlp.hook_post"][0, node.position, node.index])
            pre = act if gated else float(captured[f"blocks.{node.layer}.mlp.hook_pre"][0, node.position, node.index])
        values[node] = NodeValues(pre_activation=pre, activation=act)

    if isinstance(target, FeatureTarget):
        inputs = captured[target.dictionary.hook_name][0, target.position]
        target_values = TargetValues(
            value=float(feature_pre_activation(target.dictionary, inputs, target.index)),
            activation=float(target.dictionary.encode(inputs[None]).float()[0, target.index]),
        )
    else:
        logits = output.logits[0, -1].float()
        unembedding = loaded.unembedding().float()
        vector = unembedding[:, target.token_id] - unembedding.mean(dim=1)
        head_bias = getattr(loaded.lm_head(), "bias", None)
        offset = float(head_bias[target.token_id] - head_bias.mean()) if head_bias is not None else 0.0
        target_values = TargetValues(
            value=float(captured["unembed"][0, -1].float() @ vector) + offset,
            activation=float(logits[target.token_id]),
            probability=float(torch.softmax(logits, dim=-1)[target.token_id]),
        )
    return RunValues(nodes=values, target=target_values)
