"""Where each source writes into and reads from the residual stream, and the normalisations between them.

The residual stream is a chain of states. In a pre-norm block (GPT-2, GPT-Neo, Llama...) it is resid_pre L,
resid_mid L (after attention adds its output), resid_post L = resid_pre L+1 (after the MLP adds its output), and
nothing normalises it on the way: only a reader normalises what it reads (the MLP reads ln2(resid_mid)). In a
post-norm block (BERT, MiniLM) the stream itself is normalised twice a layer: resid_mid L -> LayerNorm -> the
MLP's input, to which the MLP's output is added (resid_post L) -> LayerNorm -> resid_pre L+1. A direction
written upstream crosses those LayerNorms on its way to a later reader.

A source *writes* (its output directions enter the stream) at a state, and *reads* at a state, maybe through a
normalisation of its own and a matrix (its encoder, or W_in for MLP neurons). Source U feeds source D when U writes
at or before the state D reads. What cannot be mapped exactly is refused with the reason.

Pure: nothing here imports Django.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, hook_module, parse_hook_name
from features.pipeline.loading import LoadedModel
from features.pipeline.sources import SourceSpec, output_directions

from .virtual_weights import NormFold

PRE_NORM_FAMILIES = {"gpt2", "gpt_neo", "gpt_neox_sequential", "llama", "phi3"}
POST_NORM_FAMILIES = {"bert"}
GATED_FAMILIES = {"llama", "phi3"}


@dataclass(frozen=True)
class Norm:
    """A normalisation the direct path crosses or a reader applies; `measure_hook` holds its input (where its
    scale is measured on the corpus)."""

    key: str  # e.g. "blocks.2.ln2"
    module: torch.nn.Module
    measure_hook: str

    @property
    def centres(self) -> bool:
        return isinstance(self.module, torch.nn.LayerNorm)

    @property
    def eps(self) -> float:
        for name in ("eps", "variance_epsilon"):
            value = getattr(self.module, name, None)
            if value is not None:
                return float(value)
        raise PipelineInputError(f"Cannot fold {type(self.module).__name__}: it has no epsilon.")

    @property
    def weight(self) -> torch.Tensor | None:
        weight = getattr(self.module, "weight", None)
        if weight is None:
            return None
        return weight.detach().float().cpu()


@dataclass
class StreamRole:
    """What a source does in the residual stream: None where it does not write or read it (with why)."""

    slug: str
    write_state: int | None = None
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


def _states(loaded: LoadedModel) -> tuple[ResidualStream, dict[tuple[str, int], int]]:
    """The stream of `loaded`, and the state of each residual point (point, layer)."""
    family = loaded.family.name
    states: dict[tuple[str, int], int] = {}
    blocks = loaded.blocks()
    if family in PRE_NORM_FAMILIES:
        for layer in range(loaded.n_layers):
            states[("hook_resid_pre", layer)] = 2 * layer
            states[("hook_resid_mid", layer)] = 2 * layer + 1
            states[("hook_resid_post", layer)] = 2 * layer + 2
        return ResidualStream(n_states=2 * loaded.n_layers + 1), states
    if family in POST_NORM_FAMILIES:
        stream = ResidualStream(n_states=4 * loaded.n_layers + 1)
        for layer in range(loaded.n_layers):
            block = blocks[layer]
            states[("hook_resid_pre", layer)] = 4 * layer
            states[("hook_resid_mid", layer)] = 4 * layer + 1
            states[("mlp_input", layer)] = 4 * layer + 2  # attention.output.LayerNorm's output: what the MLP reads
            states[("hook_resid_post", layer)] = 4 * layer + 3
            stream.crossings[4 * layer + 1] = Norm(
                f"blocks.{layer}.ln_attention", block.attention.output.LayerNorm, f"blocks.{layer}.hook_resid_mid"
            )
            stream.crossings[4 * layer + 3] = Norm(
                f"blocks.{layer}.ln_output", block.output.LayerNorm, f"blocks.{layer}.hook_resid_post"
            )
        return stream, states
    raise PipelineInputError(
        f"Connections are not computed for {loaded.family.description} yet: only pre-norm blocks with sequential "
        "attention and MLP (GPT-2, GPT-Neo, sequential GPT-NeoX, Llama-style) and BERT-style post-norm encoders "
        "have their residual stream mapped (parallel blocks and post-sublayer norms are not)."
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
    roles = {}
    for spec in sources:
        role = StreamRole(slug=spec.slug)
        point, layer = spec.hook.point, spec.hook.layer
        is_transcoder = spec.dictionary is not None and spec.dictionary.is_transcoder

        # Where it writes: neurons and transcoders into the MLP's output, an SAE where it reads.
        if spec.dictionary is None:
            role.write_state = states[("hook_resid_post", layer)]
        else:
            out = parse_hook_name(spec.dictionary.hook_name_out, loaded) if is_transcoder else spec.hook
            role.write_state, role.no_write = _write_state(out, states)
        if role.write_state is not None:
            role.decoder = lambda spec=spec: output_directions(loaded, spec).float().cpu()

        # Where it reads.
        if spec.dictionary is None:
            if loaded.family.name in GATED_FAMILIES:
                role.no_read = "a gated MLP's neuron is gate x up, not linear in the residual stream"
            else:
                in_module, _ = hook_module(loaded, HookPoint(name="", layer=layer, point="mlp.hook_pre"))
                role.encoder = lambda module=in_module: _matrix_in_out(module)
                if post_norm:
                    role.read_state = states[("mlp_input", layer)]
                else:
                    role.read_state = states[("hook_resid_mid", layer)]
                    role.reader_norm = _ln2(loaded, layer)
                    role.reader_norm_weighted = True
        elif point in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post"):
            role.read_state = states[(point, layer)]
        elif point == "ln2.hook_normalized":
            # ln2 normalised, before its weight: in a pre-norm block the norm of resid_mid; in BERT's mapping the
            # block's last LayerNorm, of resid_post.
            if post_norm:
                role.read_state = states[("hook_resid_post", layer)]
                role.reader_norm = stream.crossings[states[("hook_resid_post", layer)]]
            else:
                role.read_state = states[("hook_resid_mid", layer)]
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
        return states[("hook_resid_mid", hook.layer)], ""
    if hook.point in ("hook_mlp_out", "mlp.hook_post"):  # mlp.hook_post: mapped through W_out (output_directions)
        return states[("hook_resid_post", hook.layer)], ""
    return None, f"its directions live at {hook.point}, which is not added to the residual stream as it is"


def _ln2(loaded: LoadedModel, layer: int) -> Norm:
    module, _ = hook_module(loaded, HookPoint(name="", layer=layer, point="ln2.hook_normalized"))
    if type(module).__name__.startswith("Gemma"):
        raise PipelineInputError("Gemma's RMSNorm scales by 1 + weight; its folding is not mapped.")
    return Norm(f"blocks.{layer}.ln2", module, f"blocks.{layer}.hook_resid_mid")


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
    """The normalisations from upstream's write to downstream's read, frozen at `inverse_scales` (norm key ->
    1/scale), in order: the crossings, then the reader's own."""
    folds = []
    for norm in stream.norms_between(upstream.write_state, downstream.read_state):
        folds.append(NormFold(norm.centres, inverse_scales[norm.key], norm.weight))
    if downstream.reader_norm is not None:
        norm = downstream.reader_norm
        weight = norm.weight if downstream.reader_norm_weighted else None
        folds.append(NormFold(norm.centres, inverse_scales[norm.key], weight))
    if downstream.reader_centres:
        folds.append(NormFold(True, 1.0))
    return folds


def norms_to_measure(stream: ResidualStream, roles: dict[str, StreamRole]) -> dict[str, Norm]:
    """Every normalisation some connection crosses, by key."""
    norms = {norm.key: norm for norm in stream.crossings.values()}
    for role in roles.values():
        if role.reader_norm is not None:
            norms[role.reader_norm.key] = role.reader_norm
    return norms


def mean_inverse_scale(inputs: torch.Tensor, mask: torch.Tensor, *, centres: bool, eps: float) -> tuple[float, int]:
    """The sum of 1/scale over the masked tokens of a norm's inputs [B, T, d] (scale = sqrt(var + eps), or the root
    mean square for RMSNorm), and their count: summed over batches, their ratio is the mean of 1/scale."""
    x = inputs.float()
    if centres:
        x = x - x.mean(-1, keepdim=True)
    inverse = torch.rsqrt(x.pow(2).mean(-1) + eps)[mask.to(x.device)]
    return float(inverse.double().sum()), int(inverse.numel())
