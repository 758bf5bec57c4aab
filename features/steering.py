"""Steering: generate from a prompt with chosen features' directions added where they write, beside the same
generation without them (same seed). Builds on live inference (features/inference.py): its model cache and per-
model lock (hooks are registered on the shared module), its framing and checks of a text.

Sampling holds one more lock around the process-wide random number generator, so a seed always gives the same
text."""

import math
import threading
from dataclasses import dataclass

import torch

from .inference import (
    InferenceInputError,
    check_length,
    checked_text,
    content_ids,
    features_source,
    load_model,
    model_lock,
    position_limit,
    source_spec,
)
from .models import Feature, LanguageModel
from .pipeline.corpus import special_token_frame
from .pipeline.errors import PipelineInputError
from .pipeline.hooks import HookPoint, hook_module, hook_width, parse_hook_name
from .pipeline.loading import LoadedModel
from .pipeline.sources import neuron_output_weights

MAX_NEW_TOKENS = 64
MAX_STRENGTH = 100.0
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**31 - 1
MAX_STEERING_FEATURES = 8

_sampling_lock = threading.Lock()


@dataclass
class SteeringResult:
    prompt: str
    steered: str  # the generated continuation (without the prompt), with the features added
    plain: str  # the continuation without them, from the same seed
    seed: int


def _steering_target(loaded: LoadedModel, feature: Feature) -> tuple[HookPoint, torch.Tensor]:
    """Where a feature writes and what: a neuron's output weights at its layer's MLP output; a dictionary's
    decoder row where the decoder writes (an SAE's own hook, a transcoder's hook_name_out)."""
    source = features_source(feature)
    spec = source_spec(loaded, source)
    try:
        if spec.dictionary is None:
            direction = neuron_output_weights(loaded, spec.hook.layer)[feature.index]
            hook = parse_hook_name(f"blocks.{spec.hook.layer}.hook_mlp_out", loaded)
        else:
            direction = spec.dictionary.decoder[feature.index]
            hook = (
                parse_hook_name(spec.dictionary.hook_name_out, loaded) if spec.dictionary.is_transcoder else spec.hook
            )
        _, side = hook_module(loaded, hook)  # fails clearly where the architecture lacks the module
        if side == "normalized":
            # the point exists only inside the norm (before its weight), so there is no tensor to add to
            raise PipelineInputError(f"{hook.name} is a normalised copy of the residual stream, not a stream.")
        if side == "first_half":
            raise PipelineInputError(f"{hook.name} is half of a fused projection's output, not a tensor of its own.")
        width = hook_width(loaded, hook)
    except PipelineInputError as error:
        raise InferenceInputError(f"{source.slug} cannot be steered with: {error}") from error
    if direction.shape[-1] != width:
        raise InferenceInputError(
            f"{source.slug}/{feature.index} writes {direction.shape[-1]}-dimensional vectors, but {hook.name} "
            f"is {width}-dimensional."
        )
    return hook, direction.detach().to(device=loaded.device, dtype=torch.float32)


def _add_to_hidden(value, delta: torch.Tensor):
    """value + delta, in the hidden states' dtype (the model's: float32 or bfloat16) and on their device."""
    if isinstance(value, tuple):
        return (value[0] + delta.to(value[0]), *value[1:])
    return value + delta.to(value)


def _steering_hooks(loaded: LoadedModel, additions: dict[str, tuple[HookPoint, torch.Tensor]]) -> list:
    """Forward (pre-)hooks that add each hook point's vector at every position; returns their handles."""
    handles = []
    for hook, delta in additions.values():
        module, side = hook_module(loaded, hook)
        if side == "input":

            def add_to_input(_module, args, kwargs, delta=delta):
                if args:
                    return (_add_to_hidden(args[0], delta), *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": _add_to_hidden(kwargs["hidden_states"], delta)}

            handles.append(module.register_forward_pre_hook(add_to_input, with_kwargs=True))
        else:
            handles.append(
                module.register_forward_hook(lambda _module, _args, output, delta=delta: _add_to_hidden(output, delta))
            )
    return handles


def _generate(
    loaded: LoadedModel,
    input_ids: torch.Tensor,
    additions: dict[str, tuple[HookPoint, torch.Tensor]],
    *,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> str:
    tokenizer = loaded.tokenizer
    pad = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
    options = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    handles = _steering_hooks(loaded, additions)
    input_ids = input_ids.to(loaded.device)
    try:
        with _sampling_lock, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            output = loaded.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                **options,
            )
    finally:
        for handle in handles:
            handle.remove()
    return tokenizer.decode(output[0, input_ids.shape[1] :].tolist(), skip_special_tokens=True)


def _bounded_number(value, *, name: str, low: float, high: float, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InferenceInputError(f"{name} must be a number.")
    if whole and value != int(value):
        raise InferenceInputError(f"{name} must be a whole number.")
    if not low <= value <= high:
        raise InferenceInputError(f"{name} must be between {low:g} and {high:g}; got {value:g}.")
    return value


def steer(
    model: LanguageModel,
    prompt: str,
    steering: list[tuple[Feature, float]],
    *,
    max_new_tokens: int = 32,
    temperature: float = 0.7,
    seed: int = 0,
) -> SteeringResult:
    """Generate from `prompt` twice with the same seed: once with `strength * direction` of every chosen
    feature added at its hook on every position, once without. Greedy when temperature is 0."""
    prompt = checked_text(prompt, what="prompt")
    max_new_tokens = int(
        _bounded_number(max_new_tokens, name="Tokens to generate", low=1, high=MAX_NEW_TOKENS, whole=True)
    )
    temperature = float(_bounded_number(temperature, name="Temperature", low=0, high=MAX_TEMPERATURE))
    seed = int(_bounded_number(seed, name="Seed", low=0, high=MAX_SEED, whole=True))
    steering = list(steering)
    if not steering:
        raise InferenceInputError("Choose at least one feature to steer with.")
    if len(steering) > MAX_STEERING_FEATURES:
        raise InferenceInputError(f"Steer with at most {MAX_STEERING_FEATURES} features at once.")
    for feature, strength in steering:
        _bounded_number(strength, name="Strength", low=-MAX_STRENGTH, high=MAX_STRENGTH)
        if feature.source.model_id != model.pk:
            raise InferenceInputError(f"{feature} is not a feature of {model.slug}.")

    loaded = load_model(model)
    if loaded.unembedding() is None:
        raise InferenceInputError(
            f"Steering needs a causal language model; {model.slug} ({loaded.architecture}) has no language-model head."
        )
    prefix, _suffix = special_token_frame(loaded.tokenizer)  # a prompt continues: no end-of-text marker after it
    prompt_ids = prefix + content_ids(loaded, prompt, what="prompt")
    check_length(len(prompt_ids), loaded, model, what="prompt")
    limit = position_limit(loaded)
    if limit is not None and len(prompt_ids) + max_new_tokens > limit:
        raise InferenceInputError(
            f"{model.slug} reads at most {limit} tokens: the prompt ({len(prompt_ids)} tokens) and "
            f"{max_new_tokens} new tokens do not fit. Shorten the prompt or generate fewer tokens."
        )

    additions: dict[str, tuple[HookPoint, torch.Tensor]] = {}
    for feature, strength in steering:
        hook, direction = _steering_target(loaded, feature)
        previous = additions.get(hook.name, (hook, torch.zeros_like(direction)))[1]
        additions[hook.name] = (hook, previous + float(strength) * direction)

    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    options = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed}
    with model_lock(loaded.path):
        plain = _generate(loaded, input_ids, {}, **options)
        steered = _generate(loaded, input_ids, additions, **options)
    return SteeringResult(prompt=prompt, steered=steered, plain=plain, seed=seed)
