"""Attribution graphs of a prompt in the local replacement model, as circuit-tracer defines them.

The replacement model is the real model with, for this one prompt, its attention patterns, its norms' scales and
its gated MLPs' gates frozen at the values they took (graph_families.py: which modules, family by family), and each
chosen layer's MLP replaced by its nodes: the active features of a transcoder (plus an error node per position:
what the transcoder missed) or, where no dictionary is chosen, the MLP's own neurons (a plain neuron's
pre-activation is explained; a gated neuron's activation itself, act(gate) frozen times up(x)). Residual-stream
SAEs may be spliced in as well (residual_splices.py): at an SAE's hook the stream becomes its features' outputs
plus an error node per position, so its active features are nodes in the middle of the graph. With those
frozen, the model from its nodes' outputs (token embeddings, feature decoder vectors times activations, errors) to
any node's pre-activation is affine, so each node's pre-activation is the sum of its incoming direct effects plus a
constant (biases, position embeddings, what position 0 writes). The direct effect A[t, s] of node s on node t is
one entry of that affine map's matrix, times s's output.

It is computed as circuit-tracer does, with gradients: one batched forward pass of the frozen model in which every
MLP output is a leaf tensor, then a backward pass per batch of target nodes that reads, at every leaf, the
gradient of each target's pre-activation, and contracts it with every source node's output vector.

Everything here is plain torch on the project's one loader and hook map (features/pipeline): no Django.
Supported families: those of graph_families.GRAPH_FAMILIES (GPT-2, BERT, GPT-Neo, GPT-J, GPT-NeoX, Llama and its
kin, Phi-3, OLMo 2, Gemma 2/3); any other is refused by name, and so is any norm whose formula is not mapped.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from features.pipeline.dictionaries import LoadedDictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, StopForward, hook_module, parse_hook_name
from features.pipeline.loading import LoadedModel, find_submodule

from .graph_families import (
    GraphFamily,
    apply_frozen_norm,
    check_frozen_norm,
    graph_family,
    norm_kind,
    norm_scale,
    norm_weight,
    normalise,
)
from .residual_splices import SaeSplice, check_splices, install_residual_replacement, linear_parts

# Hook points that a node may read, by whether they come before the block's MLP (the MLP of that layer is then not
# upstream of it) or after it.
POINTS_BEFORE_MLP = ("hook_resid_pre", "attn.hook_z", "hook_attn_out", "hook_resid_mid", "ln2.hook_normalized")
POINTS_AFTER_MLP = ("hook_resid_post",)


@dataclass
class LayerReplacement:
    """What stands for one layer's MLP in the graph: a transcoder's features, or the MLP's neurons."""

    layer: int
    source_slug: str
    dictionary: LoadedDictionary | None = None  # None: the MLP's neurons are the nodes

    @property
    def kind(self) -> str:
        return "transcoder" if self.dictionary is not None else "mlp neurons"


@dataclass
class LogitTarget:
    """The logit of one token at the last position (demeaned over the vocabulary, as circuit-tracer does)."""

    token_id: int
    token: str = ""


@dataclass
class FeatureTarget:
    """A dictionary feature's pre-activation at one position (any dictionary that reads a hook we can reach)."""

    dictionary: LoadedDictionary
    index: int
    position: int
    source_slug: str


Target = LogitTarget | FeatureTarget


@dataclass
class AttributionResult:
    """The unpruned graph. Nodes, in this order (circuit-tracer's): the selected features, the error nodes (layer by
    layer, each position), the prompt's tokens, the target. `adjacency[t, s]` is s's direct effect on t."""

    input_ids: list[int]
    n_layers: int  # layers of the graph (0 .. n_layers - 1): those upstream of the target
    features: list[tuple[int, int, int]]  # (layer, position, index) of each selected feature node
    feature_activations: list[float]
    feature_kinds: list[str]  # per stage: "transcoder", "mlp neurons" or "sae"
    layer_sources: list[str]  # per stage: our Source slug
    adjacency: torch.Tensor
    target_weight: float  # the target's weight in influence (the logit's probability; 1 for a feature)
    target_value: float  # the target's value as the edges explain it: demeaned logit, feature pre-activation
    target_activation: float  # the logit itself, or the feature's activation
    target_probability: float | None
    n_active_features: int  # active feature nodes before the node budget
    # per node, the constant its pre-activation adds to its incoming edges' sum (biases, position 0, ...)
    constants: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)
    # Stages are the layers' MLPs (0 .. n_layers - 1), then the spliced SAEs in stream order (n_layers + j, at
    # splice_hooks[j]); a feature's first number and the error nodes' blocks count stages.
    splice_hooks: list[str] = field(default_factory=list)

    @property
    def n_stages(self) -> int:
        return self.n_layers + len(self.splice_hooks)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_pos(self) -> int:
        return len(self.input_ids)


def _family_check(loaded: LoadedModel) -> GraphFamily:
    """The family's frozen modules; every norm in the model must be one whose formula we freeze exactly."""
    family = graph_family(loaded.family.name, loaded.family.description)
    for module in loaded.model.modules():
        norm_kind(module)
    return family


def _point_layer_limit(hook: HookPoint) -> int:
    """How many layers' MLPs lie upstream of a hook: the MLPs of layers 0 .. limit - 1."""
    if hook.point in POINTS_BEFORE_MLP:
        return hook.layer
    if hook.point in POINTS_AFTER_MLP:
        return hook.layer + 1
    raise PipelineInputError(
        f"A graph cannot be traced to {hook.name!r}: a target must read the residual stream or attention "
        f"(one of {', '.join(POINTS_BEFORE_MLP + POINTS_AFTER_MLP)}), not an MLP that the graph replaces."
    )


def check_replacement(loaded: LoadedModel, replacement: LayerReplacement) -> None:
    """A dictionary can replace a layer's MLP only if it is a transcoder that reads before the MLP of that layer
    and writes its output."""
    dictionary = replacement.dictionary
    if dictionary is None:
        return
    if not dictionary.is_transcoder:
        raise PipelineInputError(
            f"{replacement.source_slug} is a {dictionary.architecture} dictionary, not a transcoder: only a "
            "transcoder (reads before an MLP, writes its output) can stand for an MLP in a graph. "
            "Leave its layer without a dictionary to use the MLP's neurons; an SAE on the residual stream can be "
            "spliced in beside them."
        )
    read = parse_hook_name(dictionary.hook_name, loaded)
    write = parse_hook_name(dictionary.hook_name_out, loaded)
    if read.layer != replacement.layer or write.layer != replacement.layer or read.point not in POINTS_BEFORE_MLP:
        raise PipelineInputError(
            f"{replacement.source_slug} reads {dictionary.hook_name} and writes {dictionary.hook_name_out}: a "
            f"transcoder of layer {replacement.layer} must read before that layer's MLP and write its output."
        )
    if write.point != "hook_mlp_out":
        raise PipelineInputError(f"{replacement.source_slug} writes {dictionary.hook_name_out}, not hook_mlp_out.")
    if dictionary.sae.cfg.normalize_activations != "none":
        raise PipelineInputError(
            f"{replacement.source_slug} normalises its inputs ({dictionary.sae.cfg.normalize_activations}), "
            "which is not linear: graphs need normalize_activations none."
        )


def feature_pre_activation(dictionary: LoadedDictionary, inputs: torch.Tensor, index: int) -> torch.Tensor:
    """encoder[:, index] . inputs + offset: a dictionary feature's pre-activation, as the graph's edges explain it
    (W_enc and b_enc for most architectures; a gated SAE's magnitude path; see residual_splices.linear_parts)."""
    encoder, offset, _ = linear_parts(dictionary)
    return inputs.float() @ encoder[:, index].to(inputs.device) + offset[index]


class FrozenModel:
    """The model with hooks that, in "frozen" mode, freeze attention patterns (queries and keys), norm scales and
    gated MLPs' gates at the values a "record" pass saw (graph_families.py says which modules, family by family),
    replace each graph layer's MLP output by a leaf tensor (plus a transcoder's skip connection, which is linear in
    its input), replace the residual stream at each spliced SAE's hook by a leaf, and replace the token embeddings
    by a leaf. In both modes it taps the hooks that nodes read (`captured`), and keeps the stream just before each
    splice under the splice's input_key."""

    def __init__(
        self,
        loaded: LoadedModel,
        input_ids: torch.Tensor,
        taps: list[str],
        n_graph_layers: int,
        splices: list[SaeSplice] = (),
    ):
        self.family = _family_check(loaded)
        self.loaded = loaded
        self.input_ids = input_ids.reshape(1, -1).to(loaded.device)
        self.n_graph_layers = n_graph_layers
        self.blocks = loaded.blocks()
        self.tap_points = {name: parse_hook_name(name, loaded) for name in taps if name != "unembed"}
        self.tap_unembed = "unembed" in taps
        self.splices = list(splices)
        self.wanted = set(self.tap_points) | ({"unembed"} if self.tap_unembed else set())
        self.wanted |= {splice.input_key for splice in self.splices}
        self.norms = [(m, kind) for m in loaded.model.modules() if (kind := norm_kind(m)) is not None]
        self.norm_kinds = {id(m): kind for m, kind in self.norms}
        self.scales: dict[int, torch.Tensor] = {}  # id(norm) -> [1, T, 1] from the recorded pass
        self.replayed: dict[tuple[int, str], torch.Tensor] = {}  # (layer, module path) -> recorded output
        self.mode = "record"
        self.captured: dict[str, torch.Tensor] = {}
        self.mlp_leaves: list[torch.Tensor] = []
        self.splice_leaves: list[torch.Tensor] = []  # one per splice, in self.splices' order
        self.token_leaf: torch.Tensor | None = None
        # layer -> (the tap holding the transcoder's input, W_skip [d_out, d_in])
        self.skips: dict[int, tuple[str, torch.Tensor]] = {}

    def _norm_hook(self, module, args, kwargs, output):
        x = args[0] if args else kwargs["hidden_states"]
        kind = self.norm_kinds[id(module)]
        if self.mode == "record":
            check_frozen_norm(module, kind, x, output)
            self.scales[id(module)] = norm_scale(module, kind, x).detach()
            return output
        return apply_frozen_norm(module, kind, x, self.scales[id(module)]).to(output.dtype)

    def _replay_hook(self, key: tuple[int, str], columns: torch.Tensor | None, output: torch.Tensor):
        if self.mode == "record":
            self.replayed[key] = output.detach()
            return output
        recorded = self.replayed[key].expand_as(output)
        return recorded if columns is None else torch.where(columns.to(output.device), recorded, output)

    def _mlp_out_hook(self, layer: int, output: torch.Tensor):
        if self.mode == "record":
            self.captured[f"blocks.{layer}.hook_mlp_out"] = output.detach()
            return output
        if layer >= self.n_graph_layers:
            return output
        replaced = self.mlp_leaves[layer]
        if layer in self.skips:
            tap, weight = self.skips[layer]
            replaced = replaced + (self.captured[tap].float() @ weight.T).to(replaced.dtype)
        return replaced

    def _splice_hook(self, number: int, x: torch.Tensor) -> torch.Tensor | None:
        splice = self.splices[number]
        if self.mode == "record":  # the real stream goes on: at the prompt it equals the splice's sum anyway
            self.captured[splice.input_key] = x.detach()
            return None
        self.captured[splice.input_key] = x
        self._stop_if_done()
        return self.splice_leaves[number]

    def _embedding_hook(self, output: torch.Tensor):
        if self.mode == "record":
            self.captured["token_embeddings"] = output.detach()
            return output
        return self.token_leaf

    def _tap(self, name: str, side: str, norm: torch.nn.Module | None, value: torch.Tensor):
        if side == "normalized":
            kind = self.norm_kinds[id(norm)]
            if self.mode == "record":  # the tap fires before the norm itself records its scale
                self.scales[id(norm)] = norm_scale(norm, kind, value).detach()
            value = normalise(kind, value, self.scales[id(norm)])
        elif side == "first_half":
            value = value[..., : value.shape[-1] // 2]
        self.captured[name] = value.detach() if self.mode == "record" else value
        self._stop_if_done()

    def _stop_if_done(self) -> None:
        # A frozen pass ends at its last tap: the rest of the model (the unembedding, above all) is not needed.
        if self.mode == "frozen" and self.wanted.issubset(self.captured):
            raise StopForward

    def mlp_out_norm(self, layer: int) -> torch.nn.Module | None:
        """The norm between layer's MLP output projection and hook_mlp_out (Gemma 2, OLMo 2), if any."""
        if not self.family.mlp_out_norm:
            return None
        return find_submodule(self.blocks[layer], [self.family.mlp_out_norm], what="norm after the MLP")

    def through_frozen_norm(self, norm: torch.nn.Module, vectors: torch.Tensor, positions: torch.Tensor):
        """The linear part of a frozen norm applied to vectors [n, d] at the given positions (its bias left out)."""
        kind = self.norm_kinds[id(norm)]
        out = normalise(kind, vectors, self.scales[id(norm)][0, positions])
        weight = norm_weight(norm, kind)
        return out * weight if weight is not None else out

    def _install(self) -> list:
        handles = []
        # splices first: a tap on the same module then reads the spliced stream, as every node downstream does
        for number, splice in enumerate(self.splices):
            handles += install_residual_replacement(
                self.loaded, splice.hook_name, lambda x, number=number: self._splice_hook(number, x)
            )
        for norm, _ in self.norms:
            handles.append(norm.register_forward_hook(self._norm_hook, with_kwargs=True))
        config = self.loaded.model.config
        replayed = [*self.family.query_keys, *([self.family.gate] if self.family.gate else [])]
        for layer, block in enumerate(self.blocks):
            for spec in replayed:
                module = find_submodule(block, [spec.path], what=f"module {spec.path}")
                handles.append(
                    module.register_forward_hook(
                        lambda _m, _a, out, key=(layer, spec.path), spec=spec: self._replay_hook(
                            key, spec.columns(out.shape[-1], config), out
                        )
                    )
                )
        # taps before the MLP-output hooks: a tap on the MLP's output module sees its real output when recording
        for name, hook in self.tap_points.items():
            module, side = hook_module(self.loaded, hook)
            if side in ("input", "normalized"):
                norm = module if side == "normalized" else None
                handles.append(
                    module.register_forward_pre_hook(
                        lambda _m, args, kwargs, name=name, side=side, norm=norm: self._tap(
                            name, side, norm, args[0] if args else kwargs["hidden_states"]
                        ),
                        with_kwargs=True,
                    )
                )
            else:
                handles.append(
                    module.register_forward_hook(
                        lambda _m, _a, out, name=name, side=side: self._tap(
                            name, side, None, out[0] if isinstance(out, tuple) else out
                        )
                    )
                )
        for layer in range(self.loaded.n_layers):
            module, _ = hook_module(self.loaded, HookPoint(f"blocks.{layer}.hook_mlp_out", layer, "hook_mlp_out"))
            handles.append(
                module.register_forward_hook(lambda _m, _a, out, layer=layer: self._mlp_out_hook(layer, out))
            )
        embeddings = self.loaded.model.get_input_embeddings()
        handles.append(embeddings.register_forward_hook(lambda _m, _a, out: self._embedding_hook(out)))
        if self.tap_unembed:
            handles.append(
                self.loaded.lm_head().register_forward_pre_hook(
                    lambda _m, args: self._tap("unembed", "input", None, args[0])
                )
            )
        return handles

    def run(self, batch: int = 1):
        """One forward pass over `batch` copies of the prompt; "frozen" mode needs mlp_leaves and token_leaf."""
        self.captured = {}
        handles = self._install()
        try:
            ids = self.input_ids.expand(batch, -1)
            with torch.set_grad_enabled(self.mode == "frozen"):
                try:
                    return self.loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))
                except StopForward:
                    return None
        finally:
            for handle in handles:
                handle.remove()


def _mlp_output_module(loaded: LoadedModel, layer: int) -> torch.nn.Module:
    module, _ = hook_module(loaded, HookPoint(f"blocks.{layer}.mlp.hook_post", layer, "mlp.hook_post"))
    return module


def _neuron_decoder(loaded: LoadedModel, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The MLP's output weights as [d_mlp, d_model] (row i: what neuron i writes per unit) and its bias."""
    module = _mlp_output_module(loaded, layer)
    weight = module.weight.detach().float()
    rows = weight if type(module).__name__ == "Conv1D" else weight.T  # GPT-2's Conv1D stores [in, out]
    bias = module.bias.detach().float() if module.bias is not None else torch.zeros(rows.shape[1])
    return rows, bias.to(rows.device)


@dataclass
class Reader:
    """How a node's pre-activation is read off a pass: vector . captured[tap][batch, position] + offset."""

    tap: str
    position: int
    vector: torch.Tensor | None  # None: the tap's own column `index` (an MLP neuron's pre-activation)
    offset: float = 0.0
    index: int = 0

    def read(self, values: torch.Tensor) -> torch.Tensor:
        """The node's value from a tap's values at its position ([d] or [...])."""
        if self.vector is None:
            return values[..., self.index].float() + self.offset
        return values.float() @ self.vector + self.offset


class AttributionRun:
    """One prompt, its replacement model and target: the recorded pass, the nodes, and the frozen passes that give
    rows of direct effects. `compute()` builds the graph; `linearised_values()` lets tests check it."""

    def __init__(
        self,
        loaded: LoadedModel,
        input_ids: list[int],
        replacements: list[LayerReplacement],
        target: Target,
        *,
        splices: list[SaeSplice] = (),
        skip_first_position: bool = True,
    ):
        self.gated = _family_check(loaded).gate is not None
        self.loaded = loaded
        self.input_ids = list(input_ids)
        self.target = target
        n_pos = len(input_ids)
        if isinstance(target, FeatureTarget):
            n_graph_layers = _point_layer_limit(parse_hook_name(target.dictionary.hook_name, loaded))
            if not 0 <= target.position < n_pos:
                raise PipelineInputError(f"Position {target.position} is outside the prompt (0 to {n_pos - 1}).")
            if not 0 <= target.index < target.dictionary.d_sae:
                raise PipelineInputError(f"{target.source_slug} has no feature {target.index}.")
            if target.dictionary.sae.cfg.normalize_activations != "none":
                raise PipelineInputError(f"{target.source_slug} normalises its inputs, which is not linear.")
        else:
            if loaded.unembedding() is None:
                raise PipelineInputError("This model has no language-model head: give a feature as the target.")
            if not 0 <= target.token_id < loaded.vocab_size:
                raise PipelineInputError(f"Token id {target.token_id} is outside the vocabulary.")
            n_graph_layers = loaded.n_layers
        by_layer = {r.layer: r for r in replacements}
        missing = [layer for layer in range(n_graph_layers) if layer not in by_layer]
        if missing:
            raise PipelineInputError(f"Each layer upstream of the target needs a replacement; missing {missing}.")
        self.replacements = [by_layer[layer] for layer in range(n_graph_layers)]
        for replacement in self.replacements:
            check_replacement(loaded, replacement)
        feature_target = isinstance(target, FeatureTarget)
        self.splices = check_splices(
            loaded,
            list(splices),
            target_hook=target.dictionary.hook_name if feature_target else "",
            target_slug=target.source_slug if feature_target else "",
        )
        self.n_layers = n_graph_layers
        self.n_stages = n_graph_layers + len(self.splices)
        self.n_pos = n_pos

        taps = set()
        for r in self.replacements:
            if r.dictionary is not None:
                taps.add(r.dictionary.hook_name)
            elif self.gated:  # a gated neuron's activation is itself linear in the stream, once its gate is frozen
                taps.add(f"blocks.{r.layer}.mlp.hook_post")
            else:
                taps.update({f"blocks.{r.layer}.mlp.hook_pre", f"blocks.{r.layer}.mlp.hook_post"})
        taps.add(target.dictionary.hook_name if isinstance(target, FeatureTarget) else "unembed")
        self.frozen = FrozenModel(loaded, torch.tensor(input_ids), sorted(taps), n_graph_layers, self.splices)
        with torch.no_grad():
            output = self.frozen.run()
        self.recorded = {name: value[0].float() for name, value in self.frozen.captured.items()}
        self._build_nodes(skip_first_position)
        self._build_target(output)

    # -- nodes ----------------------------------------------------------------------------------------------
    def _build_nodes(self, skip_first_position: bool) -> None:
        loaded, recorded = self.loaded, self.recorded
        device, d_model, n_pos = loaded.device, loaded.d_model, self.n_pos
        first = 1 if skip_first_position else 0
        self.features: list[tuple[int, int, int]] = []  # (stage, position, index)
        self.activations: list[float] = []
        self.readers: list[Reader] = []
        decoders = []
        # per stage (the layers' MLPs, then the splices): its error nodes' outputs, its feature nodes' summed
        # outputs, and what its leaf holds beyond them (decoder bias, all that position 0 writes)
        self.errors = torch.zeros(self.n_stages, n_pos, d_model, device=device)
        self.node_outputs = torch.zeros(self.n_stages, n_pos, d_model, device=device)
        self.leaf_constants = torch.zeros(self.n_stages, n_pos, d_model, device=device)
        for stage in range(self.n_stages):
            reader_offset = None
            if stage < self.n_layers:
                r = self.replacements[stage]
                stage_output = recorded[f"blocks.{r.layer}.hook_mlp_out"]
                skip_part = torch.zeros_like(stage_output)
                if r.dictionary is not None:
                    reader_tap = r.dictionary.hook_name
                    inputs = recorded[reader_tap]
                    acts = r.dictionary.encode(inputs).float()
                    encoder, reader_offset, decoder = linear_parts(r.dictionary)
                    decoder_bias = r.dictionary.sae.b_dec.detach().float()
                    skip = getattr(r.dictionary.sae, "W_skip", None)
                    if skip is not None:
                        self.frozen.skips[r.layer] = (r.dictionary.hook_name, skip.detach().float())
                        skip_part = inputs @ skip.detach().float().T
                else:
                    # a plain neuron's pre-activation is its own column of mlp.hook_pre (bias included there); a
                    # gated one's act(gate), frozen, times up(x): its activation is what the edges explain
                    reader_tap = f"blocks.{r.layer}.mlp.hook_{'post' if self.gated else 'pre'}"
                    acts = recorded[f"blocks.{r.layer}.mlp.hook_post"]
                    decoder, decoder_bias = _neuron_decoder(loaded, r.layer)
            else:  # a spliced SAE: its leaf is the whole stream at its hook
                splice = self.splices[stage - self.n_layers]
                reader_tap = splice.input_key
                stage_output = recorded[reader_tap]
                skip_part = torch.zeros_like(stage_output)
                acts = splice.dictionary.encode(stage_output).float()
                encoder, reader_offset, decoder = linear_parts(splice.dictionary)
                decoder_bias = splice.dictionary.sae.b_dec.detach().float()
            acts = acts.clone()
            acts[:first] = 0
            positions, indices = acts.nonzero(as_tuple=True)
            values = acts[positions, indices]
            layer_decoders = values[:, None] * decoder[indices]
            neurons = stage < self.n_layers and self.replacements[stage].dictionary is None
            norm = self.frozen.mlp_out_norm(self.replacements[stage].layer) if neurons else None
            if norm is not None:
                # hook_mlp_out is this norm's output: with its scale frozen, what a neuron adds at a position is its
                # output row through the norm's weight over that position's recorded scale
                everywhere = torch.arange(n_pos, device=device)
                layer_decoders = self.frozen.through_frozen_norm(norm, layer_decoders, positions)
                decoder_bias = self.frozen.through_frozen_norm(norm, decoder_bias.expand(n_pos, -1), everywhere)
                if getattr(norm, "bias", None) is not None:
                    decoder_bias = decoder_bias + norm.bias.detach().float()
            for p, i, a in zip(positions.tolist(), indices.tolist(), values.tolist(), strict=True):
                self.features.append((stage, p, i))
                self.activations.append(a)
                if reader_offset is not None:
                    self.readers.append(Reader(reader_tap, p, encoder[:, i], float(reader_offset[i])))
                else:
                    self.readers.append(Reader(reader_tap, p, None, index=i))
            decoders.append(layer_decoders)
            node_part = torch.zeros(n_pos, d_model, device=device).index_add_(0, positions, layer_decoders)
            reconstruction = node_part + decoder_bias
            error = stage_output - skip_part - reconstruction
            error[:first] = 0
            self.errors[stage] = error
            self.node_outputs[stage] = node_part
            self.leaf_constants[stage] = stage_output - skip_part - node_part - error
        self.decoders = torch.cat(decoders) if decoders else torch.zeros(0, d_model, device=device)
        self.feature_groups: list[tuple[int, int, int, int]] = []  # (stage, position, first node, end)
        for k, (stage, position, _) in enumerate(self.features):
            if self.feature_groups and self.feature_groups[-1][:2] == (stage, position):
                self.feature_groups[-1] = (stage, position, self.feature_groups[-1][2], k + 1)
            else:
                self.feature_groups.append((stage, position, k, k + 1))
        self.token_vectors = recorded["token_embeddings"]

    def _build_target(self, output) -> None:
        target = self.target
        if isinstance(target, FeatureTarget):
            encoder, offsets, _ = linear_parts(target.dictionary)
            vector, offset = encoder[:, target.index], float(offsets[target.index])
            self.target_reader = Reader(target.dictionary.hook_name, target.position, vector, offset)
            inputs = self.recorded[target.dictionary.hook_name]
            self.target_activation = float(target.dictionary.encode(inputs).float()[target.position, target.index])
            self.target_weight = 1.0
            self.target_probability = None
        else:
            unembedding = self.loaded.unembedding().float()
            vector = unembedding[:, target.token_id] - unembedding.mean(dim=1)
            head_bias = getattr(self.loaded.lm_head(), "bias", None)
            head_bias = head_bias.detach().float() if head_bias is not None else None
            offset = float(head_bias[target.token_id] - head_bias.mean()) if head_bias is not None else 0.0
            self.target_reader = Reader("unembed", self.n_pos - 1, vector, offset)
            logits = output.logits[0, -1].float()
            self.target_activation = float(logits[target.token_id])
            self.target_probability = float(torch.softmax(logits, dim=-1)[target.token_id])
            self.target_weight = self.target_probability

    def recorded_value(self, reader: Reader) -> float:
        return float(reader.read(self.recorded[reader.tap][reader.position]))

    # -- frozen passes ----------------------------------------------------------------------------------------
    def _frozen_pass(self, batch: int, source_scale: float = 1.0) -> None:
        dtype = self.loaded.dtype
        frozen = self.frozen
        frozen.mode = "frozen"
        frozen.token_leaf = (self.token_vectors * source_scale).to(dtype).expand(batch, -1, -1).clone()
        frozen.token_leaf.requires_grad_(True)
        leaves = self.leaf_constants + source_scale * (self.node_outputs + self.errors)
        leaves = [
            leaves[stage].to(dtype).expand(batch, -1, -1).clone().requires_grad_(True) for stage in range(len(leaves))
        ]
        frozen.mlp_leaves, frozen.splice_leaves = leaves[: self.n_layers], leaves[self.n_layers :]
        try:
            frozen.run(batch)
        finally:
            frozen.mode = "record"

    def _read(self, reader: Reader, b: int) -> torch.Tensor:
        return reader.read(self.frozen.captured[reader.tap][b, reader.position])

    def linearised_values(self, readers: list[Reader], source_scale: float) -> list[float]:
        """Each reader's value in the frozen model with every source node's output (tokens, features, errors)
        multiplied by source_scale: at 1 the recorded values, at 0 the constants the edges leave out."""
        self._frozen_pass(1, source_scale)
        with torch.no_grad():
            return [float(self._read(reader, 0)) for reader in readers]

    @property
    def n_columns(self) -> int:
        return len(self.features) + self.n_stages * self.n_pos + self.n_pos

    def rows(self, readers: list[Reader]) -> torch.Tensor:
        """The direct effects on each reader's node of every source node: [len(readers), n_columns] (features,
        errors stage by stage, tokens)."""
        batch, n_active, n_pos = len(readers), len(self.features), self.n_pos
        n_errors = self.n_stages * n_pos
        self._frozen_pass(batch)
        frozen = self.frozen
        objective = sum(self._read(reader, b) for b, reader in enumerate(readers))
        grads = torch.autograd.grad(
            objective, [frozen.token_leaf, *frozen.mlp_leaves, *frozen.splice_leaves], allow_unused=True
        )
        zeros = torch.zeros(batch, n_pos, self.loaded.d_model, device=self.loaded.device)
        token_grads = grads[0].float() if grads[0] is not None else zeros
        layer_grads = torch.stack([g.float() if g is not None else zeros for g in grads[1:]])  # [stages, B, T, d]
        rows = torch.zeros(batch, self.n_columns, device=self.loaded.device)
        # a feature's edge is its decoder vector . the gradient at its layer and position: one matrix product per
        # (layer, position), whose features are contiguous in node order
        for layer, position, start, end in self.feature_groups:
            rows[:, start:end] = layer_grads[layer, :, position] @ self.decoders[start:end].T
        rows[:, n_active : n_active + n_errors] = torch.einsum("lbtd,ltd->blt", layer_grads, self.errors).reshape(
            batch, n_errors
        )
        rows[:, n_active + n_errors :] = torch.einsum("btd,td->bt", token_grads, self.token_vectors)
        return rows.detach()

    def compute(
        self,
        *,
        max_feature_nodes: int | None = None,
        batch_size: int = 64,
        update_interval: int = 4,
        progress: Callable[[float, str], None] | None = None,
    ) -> AttributionResult:
        """The unpruned graph. With `max_feature_nodes`, only that many features get their incoming edges, chosen
        as circuit-tracer chooses: in the order of their influence on the target so far, re-ranked every
        `update_interval` batches; the others are dropped."""
        from .attribution_graph import partial_influences

        n_active = len(self.features)
        n_columns = self.n_columns
        total_nodes = n_columns + 1
        budget = n_active if max_feature_nodes is None else min(max_feature_nodes, n_active)
        edge_rows = torch.zeros(budget + 1, total_nodes)
        row_nodes = torch.zeros(budget + 1, dtype=torch.long)
        edge_rows[0, :n_columns] = self.rows([self.target_reader]).cpu()[0]
        row_nodes[0] = total_nodes - 1
        filled, done = 1, 0
        visited = torch.zeros(n_active, dtype=torch.bool)
        weights = torch.tensor([self.target_weight])
        while done < budget:
            if budget == n_active:
                pending = torch.arange(n_active)
            else:
                influence = partial_influences(edge_rows[:filled], weights, row_nodes[:filled])
                ranking = torch.argsort(influence[:n_active], descending=True)
                pending = ranking[~visited[ranking]][: min(update_interval * batch_size, budget - done)]
            for start in range(0, len(pending), batch_size):
                chunk = pending[start : start + batch_size]
                edge_rows[filled : filled + len(chunk), :n_columns] = self.rows(
                    [self.readers[int(node)] for node in chunk]
                ).cpu()
                row_nodes[filled : filled + len(chunk)] = chunk
                visited[chunk] = True
                filled += len(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done / max(budget, 1), f"{done} of {budget} feature nodes")

        selected = torch.where(visited)[0]
        keep = torch.cat([selected, torch.arange(n_active, total_nodes)])
        n_nodes = len(keep)
        adjacency = torch.zeros(n_nodes, n_nodes)
        place = {int(node): k for k, node in enumerate(selected)}
        for row in range(filled):
            node = int(row_nodes[row])
            adjacency[n_nodes - 1 if node == total_nodes - 1 else place[node]] = edge_rows[row, keep]

        pre_activations = torch.zeros(n_nodes)
        for k, node in enumerate(selected.tolist()):
            pre_activations[k] = self.recorded_value(self.readers[node])
        target_value = self.recorded_value(self.target_reader)
        pre_activations[-1] = target_value
        rows_of = torch.zeros(n_nodes, dtype=torch.bool)
        rows_of[: len(selected)] = True
        rows_of[-1] = True
        constants = torch.where(rows_of, pre_activations - adjacency.sum(dim=1), torch.zeros(n_nodes))
        return AttributionResult(
            input_ids=self.input_ids,
            n_layers=self.n_layers,
            features=[self.features[i] for i in selected.tolist()],
            feature_activations=[self.activations[i] for i in selected.tolist()],
            feature_kinds=[r.kind for r in self.replacements] + ["sae"] * len(self.splices),
            layer_sources=[r.source_slug for r in self.replacements] + [s.source_slug for s in self.splices],
            adjacency=adjacency,
            target_weight=self.target_weight,
            target_value=target_value,
            target_activation=self.target_activation,
            target_probability=self.target_probability,
            n_active_features=n_active,
            constants=constants,
            splice_hooks=[splice.hook_name for splice in self.splices],
            extra={
                "pre_activations": pre_activations,
                "selected": selected,
                "target_position": self.target_reader.position,
                "target_identifier": self.target.index
                if isinstance(self.target, FeatureTarget)
                else self.target.token_id,
            },
        )


def compute_attribution(
    loaded: LoadedModel,
    input_ids: list[int],
    replacements: list[LayerReplacement],
    target: Target,
    *,
    splices: list[SaeSplice] = (),
    max_feature_nodes: int | None = None,
    batch_size: int = 64,
    update_interval: int = 4,
    skip_first_position: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> AttributionResult:
    """The unpruned attribution graph of `input_ids` towards `target`, in the replacement model made of
    `replacements` (one per layer upstream of the target) and `splices` (residual SAEs upstream of it). As in
    circuit-tracer, position 0 (BOS, [CLS]) has no feature or error nodes: what its MLPs (and splices) write is a
    constant."""
    run = AttributionRun(
        loaded, input_ids, replacements, target, splices=splices, skip_first_position=skip_first_position
    )
    return run.compute(
        max_feature_nodes=max_feature_nodes, batch_size=batch_size, update_interval=update_interval, progress=progress
    )
