"""Sources: sets of directions read at one hook point. MLP neurons are the hook's activations as they
are; a dictionary (SAE, transcoder) encodes the hook's activations into its features."""

from dataclasses import dataclass

import torch

from .devices import to_cpu_float32
from .dictionaries import LoadedDictionary
from .errors import PipelineInputError
from .hooks import HookPoint, hook_module, hook_width, parse_hook_name
from .loading import LoadedModel

# Points that are sums of what blocks write to the residual stream: TransformerLens's centring of the writing
# weights (center_writing_weights) subtracts each one's mean over d_model, and changes no other point.
RESIDUAL_WRITE_POINTS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out")


@dataclass
class SourceSpec:
    slug: str
    hook: HookPoint
    n_features: int
    dictionary: LoadedDictionary | None = None
    centre: bool = False  # subtract the mean over d_model first, as the dictionary's training model did

    @property
    def kind(self) -> str:
        if self.dictionary is None:
            return "neurons"
        return "transcoder" if self.dictionary.is_transcoder else "sae"

    @property
    def reconstruction_hook(self) -> str:
        """The hook whose activations the dictionary reconstructs: its own for an SAE, the output hook for a
        transcoder."""
        if self.dictionary is not None and self.dictionary.is_transcoder:
            return self.dictionary.hook_name_out
        return self.hook.name

    def encode(self, captured: dict[str, torch.Tensor]) -> torch.Tensor:
        """The features' activations [..., F] in float32 on the CPU, where every statistic is kept, whatever the
        model's device and dtype (a dictionary encodes on its own device first)."""
        return to_cpu_float32(self.encode_on_device(captured))

    def encode_on_device(self, captured: dict[str, torch.Tensor]) -> torch.Tensor:
        """The features' activations where the dictionary computes them (its device and dtype)."""
        activations = captured[self.hook.name]
        if self.dictionary is None:
            return activations
        if self.centre:
            activations = activations - activations.mean(-1, keepdim=True)
        return self.dictionary.encode(activations)


def neuron_source(loaded: LoadedModel, layer: int) -> SourceSpec:
    loaded.check_layer(layer)
    hook = parse_hook_name(f"blocks.{layer}.mlp.hook_post", loaded)
    hook_module(loaded, hook)  # fails clearly if the architecture's MLP is not where we expect it
    return SourceSpec(slug=f"{layer}-mlp", hook=hook, n_features=loaded.d_mlp)


def dictionary_source(loaded: LoadedModel, dictionary: LoadedDictionary, slug: str, hook_name: str = "") -> SourceSpec:
    """`hook_name` overrides the hook in the dictionary's cfg.json (registered sources keep their own)."""
    hook = parse_hook_name(hook_name or dictionary.hook_name, loaded)
    hook_module(loaded, hook)
    width = hook_width(loaded, hook)
    if dictionary.d_in != width:
        raise PipelineInputError(
            f"The dictionary reads {dictionary.d_in}-dimensional vectors but {hook.name} of this model "
            f"is {width}-dimensional: it was trained for another model or another hook."
        )
    if dictionary.is_transcoder:
        out_hook = parse_hook_name(dictionary.hook_name_out, loaded)
        if dictionary.d_out != hook_width(loaded, out_hook):
            raise PipelineInputError(
                f"The transcoder writes {dictionary.d_out}-dimensional vectors but {out_hook.name} is "
                f"{hook_width(loaded, out_hook)}-dimensional."
            )
    centre = dictionary.centred_inputs and hook.point in RESIDUAL_WRITE_POINTS
    if centre and not _layer_norm_before_blocks(loaded, hook):
        raise PipelineInputError(
            "The dictionary was trained on a TransformerLens model with centred writing weights, which only "
            f"leaves a pre-LayerNorm model's outputs unchanged; {loaded.family.description} is not one, so "
            f"{hook.name} cannot be given as it was trained on."
        )
    return SourceSpec(slug=slug, hook=hook, n_features=dictionary.d_sae, dictionary=dictionary, centre=centre)


def _layer_norm_before_blocks(loaded: LoadedModel, hook: HookPoint) -> bool:
    """A pre-norm block normalised by LayerNorm (centring), where centred writing weights change nothing else."""
    if loaded.family.name == "bert" or "ln2.hook_normalized" not in loaded.family.points:
        return False
    norm, _ = hook_module(loaded, HookPoint(name="", layer=hook.layer, point="ln2.hook_normalized"))
    return isinstance(norm, torch.nn.LayerNorm)


def neuron_output_weights(loaded: LoadedModel, layer: int) -> torch.Tensor:
    """[d_mlp, d_model]: what each neuron adds to the residual stream per unit of activation."""
    module, _ = hook_module(loaded, parse_hook_name(f"blocks.{layer}.mlp.hook_post", loaded))
    weight = module.weight.detach()
    # GPT-2's Conv1D stores [in, out]; nn.Linear stores [out, in].
    return weight if type(module).__name__ == "Conv1D" else weight.T


def output_directions(loaded: LoadedModel, source: SourceSpec) -> torch.Tensor:
    """[F, d] directions each feature writes, in float32 on the model's device: neuron output weights, or the
    dictionary's decoder, mapped into the residual stream when the decoder writes into MLP-neuron space."""
    if source.dictionary is None:
        return neuron_output_weights(loaded, source.hook.layer).float()
    decoder = source.dictionary.decoder.to(device=loaded.device, dtype=torch.float32)
    out_hook = parse_hook_name(source.dictionary.hook_name_out, loaded)
    if out_hook.point == "mlp.hook_post":
        return decoder @ neuron_output_weights(loaded, out_hook.layer).float()
    return decoder
