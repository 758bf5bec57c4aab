"""A dictionary's full evaluation over token windows: the quality figures of the activation pass
(features/pipeline/quality.py), here with the reconstruction measured on every window, and, for a causal
language model, the loss with the dictionary's reconstruction spliced into the forward pass.

The spliced loss follows SAELens's `get_recons_loss` (sae_lens.evals), so figures agree with its evaluation
on the same dictionary and tokens:

- three forward passes per batch: clean; with the hook's activations replaced by the dictionary's
  reconstruction on content tokens (special tokens keep theirs); with the hook's activations zeroed
  everywhere (the "zero-ablated" baseline);
- cross-entropy of the next token at every position but the last, counted where the position's own token is
  content; the KL divergence KL(clean || other) of the next-token distribution at every content position;
- loss recovered = (ablated - spliced) / (ablated - clean): 1 is as good as the model, 0 as bad as
  deleting the hook; delta loss = spliced - clean.

For a transcoder the reconstruction (of its output hook, from its input hook) replaces the output hook's
activations. No Django.
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from features.pipeline.devices import to_cpu_float32
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import HookPoint, capture_activations, hook_module, normalize_like, parse_hook_name
from features.pipeline.loading import LoadedModel, is_causal_lm
from features.pipeline.quality import QualityStatistics
from features.pipeline.sources import SourceSpec
from features.pipeline.stream import content_mask

# Where a reconstruction can be written back into the forward pass: a module's input or its output. A hook that
# is a transform of a module's input (a norm's normalised input) or part of its output (a fused gate) cannot.
SPLICEABLE_SIDES = ("input", "output")


@dataclass
class LossSums:
    """Sums over a batch or many, merged by adding: cross-entropy (clean, spliced, ablated) over ce_tokens
    positions and KL divergence (spliced, ablated) over kl_tokens positions."""

    ce_clean: float = 0.0
    ce_spliced: float = 0.0
    ce_ablated: float = 0.0
    ce_tokens: int = 0
    kl_spliced: float = 0.0
    kl_ablated: float = 0.0
    kl_tokens: int = 0

    def add(self, other: "LossSums") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def metrics(self) -> dict[str, float]:
        if self.ce_tokens == 0 or self.kl_tokens == 0:
            return {}
        n = self.ce_tokens
        clean, spliced, ablated = self.ce_clean / n, self.ce_spliced / n, self.ce_ablated / n
        kl_spliced, kl_ablated = self.kl_spliced / self.kl_tokens, self.kl_ablated / self.kl_tokens
        metrics = {
            "ce_loss_clean": clean,
            "ce_loss_spliced": spliced,
            "ce_loss_ablated": ablated,
            "delta_loss": spliced - clean,
            "kl_spliced": kl_spliced,
            "kl_ablated": kl_ablated,
            "loss_tokens": self.ce_tokens,
        }
        if ablated != clean:
            metrics["loss_recovered"] = (ablated - spliced) / (ablated - clean)
        if kl_ablated > 0:
            metrics["kl_recovered"] = (kl_ablated - kl_spliced) / kl_ablated
        return metrics


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _with_first(value, replacement: torch.Tensor):
    return (replacement, *value[1:]) if isinstance(value, tuple) else replacement


def _splice_hooks(
    loaded: LoadedModel, spec: SourceSpec, mask: torch.Tensor, *, ablate: bool
) -> list[torch.utils.hooks.RemovableHandle]:
    """Hooks that replace the activations the dictionary reconstructs: by its reconstruction on content tokens
    (mask [B, T]), or by zeros everywhere (ablate)."""
    out_hook = parse_hook_name(spec.reconstruction_hook, loaded)
    out_module, out_side = hook_module(loaded, out_hook)
    if out_side not in SPLICEABLE_SIDES:
        raise PipelineInputError(
            f"{out_hook.name} is computed from the model's activations (not one module's input or output), so a "
            "reconstruction cannot be written back there: the spliced loss is not measured for this dictionary."
        )
    inputs: dict[str, torch.Tensor] = {}
    handles = []
    if spec.reconstruction_hook != spec.hook.name:  # a transcoder: read its input where the model computes it
        in_module, in_side = hook_module(loaded, spec.hook)
        if in_side in ("input", "normalized"):

            def capture_input(module, args, kwargs):
                value = args[0] if args else kwargs["hidden_states"]
                inputs["x"] = normalize_like(module, value) if in_side == "normalized" else value

            handles.append(in_module.register_forward_pre_hook(capture_input, with_kwargs=True))
        elif in_side == "output":
            handles.append(in_module.register_forward_hook(lambda _m, _a, output: inputs.update(x=_first(output))))
        else:
            raise PipelineInputError(f"The transcoder's input {spec.hook.name} cannot be read during a forward pass.")

    def replace(value: torch.Tensor) -> torch.Tensor:
        if ablate:
            return torch.zeros_like(value)
        source = inputs.get("x", value)
        encoded = spec.encode_on_device({spec.hook.name: source})
        written = spec.dictionary.reconstruct(source, encoded)
        if spec.centre:  # the dictionary reconstructs the centred activations: put the mean back
            written = written + source.mean(-1, keepdim=True)
        return torch.where(mask.to(value.device)[..., None], written.to(value), value)

    if out_side == "input":

        def replace_input(_module, args, kwargs):
            if args:
                return (replace(args[0]), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": replace(kwargs["hidden_states"])}

        handles.append(out_module.register_forward_pre_hook(replace_input, with_kwargs=True))
    else:
        handles.append(
            out_module.register_forward_hook(lambda _m, _a, output: _with_first(output, replace(_first(output))))
        )
    return handles


def _log_probs(loaded: LoadedModel, input_ids: torch.Tensor, hooks: Callable[[], list]) -> torch.Tensor:
    handles = hooks()
    try:
        with torch.inference_mode():
            output = loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    finally:
        for handle in handles:
            handle.remove()
    return torch.log_softmax(output.logits.double(), dim=-1)


def spliced_loss_sums(loaded: LoadedModel, spec: SourceSpec, input_ids: torch.Tensor, mask: torch.Tensor) -> LossSums:
    """The loss sums of one batch input_ids [B, T] whose content tokens are mask [B, T]."""
    if spec.dictionary is None:
        raise PipelineInputError("Only a dictionary has a reconstruction to splice in.")
    input_ids = input_ids.to(loaded.device)
    clean = _log_probs(loaded, input_ids, list)
    spliced = _log_probs(loaded, input_ids, lambda: _splice_hooks(loaded, spec, mask, ablate=False))
    ablated = _log_probs(loaded, input_ids, lambda: _splice_hooks(loaded, spec, mask, ablate=True))
    next_tokens = input_ids[:, 1:, None]
    ce_positions = mask[:, :-1].to(clean.device)
    clean_probs = clean.exp()
    kl_positions = mask.to(clean.device)

    def cross_entropy(log_probs: torch.Tensor) -> float:
        return float(-log_probs[:, :-1].gather(-1, next_tokens).squeeze(-1)[ce_positions].sum())

    def kl(log_probs: torch.Tensor) -> float:
        return float((clean_probs * (clean - log_probs)).sum(-1)[kl_positions].sum())

    return LossSums(
        ce_clean=cross_entropy(clean),
        ce_spliced=cross_entropy(spliced),
        ce_ablated=cross_entropy(ablated),
        ce_tokens=int(ce_positions.sum()),
        kl_spliced=kl(spliced),
        kl_ablated=kl(ablated),
        kl_tokens=int(kl_positions.sum()),
    )


@dataclass
class Evaluation:
    quality: QualityStatistics
    content_fires: torch.Tensor  # [F] content tokens each feature fired on
    losses: LossSums | None  # None for a model without a next-token head, or a hook it cannot be written to
    loss_refusal: str = ""  # why the loss was not measured
    # False when no language-model loss exists for this model (an encoder has no next-token head): the loss
    # figures do not apply, which a page says apart from "not measured".
    loss_applies: bool = True

    def metrics(self) -> dict:
        metrics = self.quality.metrics(self.content_fires)
        if self.losses is not None:
            metrics.update(self.losses.metrics())
        if not self.loss_applies:
            metrics["loss_applies"] = False
        return metrics


def evaluate_dictionary(
    loaded: LoadedModel,
    spec: SourceSpec,
    windows: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    with_loss: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    lock: Callable[[], AbstractContextManager] = nullcontext,
) -> Evaluation:
    """Every quality figure of a dictionary source over `windows` (the spliced loss where the model has a
    next-token head and `with_loss`). `lock()` is held around each batch's forward passes: hooks are registered
    on the model itself, so another thread's forward on the same (cached) model would run through them."""
    if spec.dictionary is None:
        raise PipelineInputError("Only dictionaries are evaluated: neurons reconstruct nothing.")
    if not windows:
        raise PipelineInputError("There are no windows to evaluate on: the corpus is empty.")
    dictionary = spec.dictionary
    quality = QualityStatistics(spec.n_features, dictionary.d_out)
    fires = torch.zeros(spec.n_features, dtype=torch.long)
    losses: LossSums | None = None
    refusal = ""
    if not with_loss:
        refusal = "The spliced loss was not asked for."
    elif not is_causal_lm(loaded):
        refusal = f"{loaded.architecture} has no next-token head, so there is no language-model loss to measure."
    else:
        losses = LossSums()
    hooks = [spec.hook, *([] if spec.reconstruction_hook == spec.hook.name else [_out_hook(loaded, spec)])]
    for start in range(0, len(windows), batch_size):
        input_ids = torch.tensor(windows[start : start + batch_size], dtype=torch.long)
        mask = content_mask(loaded, input_ids)
        with lock():
            captured = capture_activations(loaded, hooks, input_ids)
            encoded = spec.encode_on_device(captured)
            inputs = captured[spec.hook.name]
            written = dictionary.reconstruct(inputs, encoded)
            if spec.centre:
                written = written + inputs.mean(-1, keepdim=True)
        activations = to_cpu_float32(encoded)
        quality.add_sparsity(activations, mask)
        fires += torch.count_nonzero((activations > 0) & mask[..., None], dim=(0, 1))
        target = to_cpu_float32(captured[spec.reconstruction_hook])
        quality.add_reconstruction(target[mask], to_cpu_float32(written)[mask])
        if losses is not None:
            try:
                with lock():
                    losses.add(spliced_loss_sums(loaded, spec, input_ids, mask))
            except PipelineInputError as error:
                losses, refusal = None, str(error)
        if on_progress:
            on_progress(start + len(input_ids), len(windows))
    return Evaluation(
        quality=quality, content_fires=fires, losses=losses, loss_refusal=refusal, loss_applies=is_causal_lm(loaded)
    )


def _out_hook(loaded: LoadedModel, spec: SourceSpec) -> HookPoint:
    return parse_hook_name(spec.reconstruction_hook, loaded)
