"""Where each source writes into and reads from the residual stream, and the normalisations between them.

The residual stream is a chain of states, laid out per family:

- **Sequential pre-norm blocks** (GPT-2, GPT-Neo, sequential GPT-NeoX, Llama-style, Gemma 2/3, OLMo 2): resid_pre
  L, resid_mid L (after attention adds its output), resid_post L = resid_pre L+1 (after the MLP adds its output).
  Nothing normalises the stream on the way: only a reader normalises what it reads (the MLP reads ln2(resid_mid)).
  Gemma 2/3 and OLMo 2 also normalise each sub-block's output before adding it (post_feedforward_layernorm):
  what an MLP neuron, or a transcoder writing into neuron space, adds to the stream crosses that norm first (the
  writer's own norm). A dictionary writing hook_attn_out or hook_mlp_out writes after those norms.
- **Parallel blocks** (GPT-J, GPT-NeoX with use_parallel_residual): attention and MLP both read the block's input
  and add to the stream together, so there is no resid_mid: resid_pre L, then resid_post L = resid_pre L+1. A
  layer's MLP reads resid_pre L (through its norm) and what it, or the layer's attention, writes is read by the
  next layers only.
- **Post-norm blocks** (BERT, MiniLM): the stream itself is normalised twice a layer: resid_mid L -> LayerNorm ->
  the MLP's input, to which the MLP's output is added (resid_post L) -> LayerNorm -> resid_pre L+1. A direction
  written upstream crosses those LayerNorms on its way to a later reader.

A source *writes* (its output directions enter the stream, maybe through a norm of its own) at a state, and
*reads* at a state, maybe through a normalisation of its own and a matrix (its encoder, or W_in for MLP neurons).
Source U feeds source D when U writes at or before the state D reads. A norm is frozen with the formula
graph_families.py gives its kind (Gemma's RMSNorm multiplies by 1 + weight). What cannot be mapped exactly is
refused with the reason.

Pure: nothing here imports Django.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, hook_module, parse_hook_name
from features.pipeline.loading import LoadedModel, find_submodule
from features.pipeline.sources import SourceSpec, output_directions

from .graph_families import GRAPH_FAMILIES, LAYER_NORM, norm_kind, norm_scale, norm_weight
from .virtual_weights import NormFold

SEQUENTIAL_FAMILIES = {"gpt2", "gpt_neo", "gpt_neox_sequential", "llama", "phi3", "gemma2", "olmo2"}
PARALLEL_FAMILIES = {"gptj", "gpt_neox"}
POST_NORM_FAMILIES = {"bert"}


@dataclass(frozen=True)
class Norm:
    """A normalisation a direct path crosses, a reader applies or a writer's output passes through; its scale is
    measured on its own input (captured from the module)."""

    key: str  # e.g. "blocks.2.ln2"
    module: torch.nn.Module

    @property
    def kind(self) -> str:
        kind = norm_kind(self.module)
        if kind is None:
            raise PipelineInputError(f"{type(self.module).__name__} is not a normalisation this code can fold.")
        return kind

    @property
    def centres(self) -> bool:
        return self.kind == LAYER_NORM

    @property
    def weight(self) -> torch.Tensor | None:
        """What the normalised vector is multiplied by (1 + weight for Gemma's RMSNorm), on the CPU."""
        weight = norm_weight(self.module, self.kind)
        return None if weight is None else weight.detach().float().cpu()

    def fold(self, inverse_scale: float, *, weighted: bool) -> NormFold:
        return NormFold(self.centres, inverse_scale, self.weight if weighted else None)


@dataclass
class StreamRole:
    """What a source does in the residual stream: None where it does not write or read it (with why)."""

    slug: str
    write_state: int | None = None
    writer_norm: Norm | None = None  # what the source's output passes through (with its weight) before the stream
    read_state: int | None = None
    reader_norm: Norm | None = None  # applied by the reader itself after the crossings
    reader_norm_weighted: bool = False  # the reader sees the norm's output with its weight (an MLP's input)
    reader_centres: bool = False  # an SAE trained on centred inputs subtracts the mean first
    encoder: Callable[[], torch.Tensor] | None = None  # [d_model, F], computed when needed
    decoder: Callable[[], torch.Tensor] | None = None  # [F, d_model]
    no_write: str = ""
    no_read: str = ""


@dataclass
class ResidualStream:
    """The chain of states of one model, with the normalisation crossed between state i and i+1 (if any)."""

    n_states: int
    crossings: dict[int, Norm] = field(default_factory=dict)

    def norms_between(self, write_state: int, read_state: int) -> list[Norm]:
        return [self.crossings[i] for i in range(write_state, read_state) if i in self.crossings]


# Where, in each layer, attention adds its output, the MLP reads, and the MLP adds its output: keys of the states.
ATTN_WRITE, MLP_READ, MLP_WRITE = "attn_write", "mlp_read", "mlp_write"


def _states(loaded: LoadedModel) -> tuple[ResidualStream, dict[tuple[str, int], int]]:
    """The stream of `loaded`, and the state of each residual point (point, layer) and of each layer's attention
    write, MLP read and MLP write."""
    family = loaded.family.name
    states: dict[tuple[str, int], int] = {}
    blocks = loaded.blocks()
    if family in SEQUENTIAL_FAMILIES:
        for layer in range(loaded.n_layers):
            states[("hook_resid_pre", layer)] = 2 * layer
            states[("hook_resid_mid", layer)] = states[(ATTN_WRITE, layer)] = states[(MLP_READ, layer)] = 2 * layer + 1
            states[("hook_resid_post", layer)] = states[(MLP_WRITE, layer)] = 2 * layer + 2
        return ResidualStream(n_states=2 * loaded.n_layers + 1), states
    if family in PARALLEL_FAMILIES:
        for layer in range(loaded.n_layers):
            states[("hook_resid_pre", layer)] = states[(MLP_READ, layer)] = layer
            states[("hook_resid_post", layer)] = states[(ATTN_WRITE, layer)] = states[(MLP_WRITE, layer)] = layer + 1
        return ResidualStream(n_states=loaded.n_layers + 1), states
    if family in POST_NORM_FAMILIES:
        stream = ResidualStream(n_states=4 * loaded.n_layers + 1)
        for layer in range(loaded.n_layers):
            block = blocks[layer]
            states[("hook_resid_pre", layer)] = 4 * layer
            states[("hook_resid_mid", layer)] = states[(ATTN_WRITE, layer)] = 4 * layer + 1
            states[(MLP_READ, layer)] = 4 * layer + 2  # attention.output.LayerNorm's output: what the MLP reads
            states[("hook_resid_post", layer)] = states[(MLP_WRITE, layer)] = 4 * layer + 3
            stream.crossings[4 * layer + 1] = Norm(f"blocks.{layer}.ln_attention", block.attention.output.LayerNorm)
            stream.crossings[4 * layer + 3] = Norm(f"blocks.{layer}.ln_output", block.output.LayerNorm)
        return stream, states
    raise PipelineInputError(
        f"Connections are not computed for {loaded.family.description} yet: only sequential and parallel pre-norm "
        "blocks (GPT-2, GPT-Neo, GPT-NeoX, GPT-J, Llama-style, Gemma 2/3, OLMo 2) and BERT-style post-norm "
        "encoders have their residual stream mapped."
    )


def _matrix_in_out(module: torch.nn.Module) -> torch.Tensor:
    """A projection's weight as [in, out] on the CPU (GPT-2's Conv1D stores [in, out]; nn.Linear [out, in])."""
    weight = module.weight.detach().float().cpu()
    return weight if type(module).__name__ == "Conv1D" else weight.T


def stream_roles(loaded: LoadedModel, sources: Sequence[SourceSpec]) -> tuple[ResidualStream, dict[str, StreamRole]]:
    """Every source's place in the residual stream of `loaded` (refusing the whole model if its blocks are not
    mapped)."""
    stream, states = _states(loaded)
    post_norm = loaded.family.name in POST_NORM_FAMILIES
    gated = GRAPH_FAMILIES[loaded.family.name].gate is not None
    roles = {}
    for spec in sources:
        role = StreamRole(slug=spec.slug)
        point, layer = spec.hook.point, spec.hook.layer
        is_transcoder = spec.dictionary is not None and spec.dictionary.is_transcoder

        # Where it writes: neurons and transcoders into the MLP's output, an SAE where it reads.
        out = spec.hook
        if is_transcoder:
            out = parse_hook_name(spec.dictionary.hook_name_out, loaded)
        role.write_state, role.no_write = _write_state(out, states)
        if role.write_state is not None:
            role.decoder = lambda spec=spec: output_directions(loaded, spec).float().cpu()
            # Directions in neuron space are mapped through W_out (output_directions), which a post-MLP norm follows.
            if out.point == "mlp.hook_post":
                role.writer_norm = _mlp_out_norm(loaded, out.layer)

        # Where it reads.
        if spec.dictionary is None:
            if gated:
                role.no_read = "a gated MLP's neuron is gate x up, not linear in the residual stream"
            else:
                in_module, _ = hook_module(loaded, HookPoint(name="", layer=layer, point="mlp.hook_pre"))
                role.encoder = lambda module=in_module: _matrix_in_out(module)
                role.read_state = states[(MLP_READ, layer)]
                if not post_norm:  # BERT's MLP reads a state of the stream that is already normalised
                    role.reader_norm = _ln2(loaded, layer)
                    role.reader_norm_weighted = True
        elif point in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post"):
            role.read_state = states[(point, layer)]
        elif point == "ln2.hook_normalized":
            # ln2 normalised, before its weight: in a pre-norm block the norm of what the MLP reads; in BERT's
            # mapping the block's last LayerNorm, of resid_post.
            if post_norm:
                role.read_state = states[("hook_resid_post", layer)]
                role.reader_norm = stream.crossings[states[("hook_resid_post", layer)]]
            else:
                role.read_state = states[(MLP_READ, layer)]
                role.reader_norm = _ln2(loaded, layer)
        else:
            role.no_read = f"it reads {point}, which is not the residual stream"
        if spec.dictionary is not None and role.read_state is not None:
            role.reader_centres = spec.centre
            dictionary = spec.dictionary
            role.encoder = lambda dictionary=dictionary: dictionary.sae.W_enc.detach().float().cpu()
        roles[spec.slug] = role
    return stream, roles


def _write_state(hook: HookPoint, states: dict[tuple[str, int], int]) -> tuple[int | None, str]:
    """The state where directions at `hook` enter the stream, or (None, why not)."""
    if hook.point in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post"):
        return states[(hook.point, hook.layer)], ""
    if hook.point == "hook_attn_out":
        return states[(ATTN_WRITE, hook.layer)], ""
    if hook.point in ("hook_mlp_out", "mlp.hook_post"):  # mlp.hook_post: mapped through W_out (output_directions)
        return states[(MLP_WRITE, hook.layer)], ""
    return None, f"its directions live at {hook.point}, which is not added to the residual stream as it is"


def _ln2(loaded: LoadedModel, layer: int) -> Norm:
    """The norm before layer `layer`'s MLP (GPT-J's ln_1, shared with attention; Gemma's pre_feedforward_layernorm)."""
    module, _ = hook_module(loaded, HookPoint(name="", layer=layer, point="ln2.hook_normalized"))
    return Norm(f"blocks.{layer}.ln2", module)


def _mlp_out_norm(loaded: LoadedModel, layer: int) -> Norm | None:
    """The norm between the MLP's output projection and the stream (Gemma 2/3, OLMo 2), if the family has one: the
    one attribution graphs freeze (graph_families.py)."""
    path = GRAPH_FAMILIES[loaded.family.name].mlp_out_norm
    if not path:
        return None
    module = find_submodule(loaded.blocks()[layer], [path], what="norm after the MLP")
    return Norm(f"blocks.{layer}.ln2_post", module)


def feeds(stream: ResidualStream, upstream: StreamRole, downstream: StreamRole) -> bool:
    """Whether `upstream`'s output reaches `downstream`'s input through the stream. Two sources reading the same
    state the same way (two dictionaries of one vector) are not each other's upstream."""
    if upstream.slug == downstream.slug or upstream.write_state is None or downstream.read_state is None:
        return False
    if upstream.write_state > downstream.read_state:
        return False
    same_vector = (
        upstream.read_state == downstream.read_state and upstream.reader_norm is None and downstream.reader_norm is None
    )
    return not same_vector


def path_folds(
    stream: ResidualStream, upstream: StreamRole, downstream: StreamRole, inverse_scales: dict[str, float]
) -> list[NormFold]:
    """The normalisations from upstream's output to downstream's read, frozen at `inverse_scales` (norm key ->
    1/scale), in order: the writer's own, the crossings, then the reader's own."""
    folds = []
    if upstream.writer_norm is not None:
        folds.append(upstream.writer_norm.fold(inverse_scales[upstream.writer_norm.key], weighted=True))
    for norm in stream.norms_between(upstream.write_state, downstream.read_state):
        folds.append(norm.fold(inverse_scales[norm.key], weighted=True))
    if downstream.reader_norm is not None:
        norm = downstream.reader_norm
        folds.append(norm.fold(inverse_scales[norm.key], weighted=downstream.reader_norm_weighted))
    if downstream.reader_centres:
        folds.append(NormFold(True, 1.0))
    return folds


def norms_to_measure(stream: ResidualStream, roles: dict[str, StreamRole]) -> dict[str, Norm]:
    """Every normalisation some connection crosses, by key."""
    norms = {norm.key: norm for norm in stream.crossings.values()}
    for role in roles.values():
        for norm in (role.writer_norm, role.reader_norm):
            if norm is not None:
                norms[norm.key] = norm
    return norms


def inverse_scale_sum(norm: Norm, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """The sum of 1/scale over the masked tokens of a norm's inputs [B, T, d] (the scale the norm divides by:
    sqrt(var + eps), or the root mean square for RMSNorm), and their count: summed over batches, their ratio is
    the mean of 1/scale."""
    inverse = 1.0 / norm_scale(norm.module, norm.kind, inputs)[..., 0][mask.to(inputs.device)]
    return float(inverse.double().sum()), int(inverse.numel())
