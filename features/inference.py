"""Live inference on one text: test a feature, and find the features that fire on a text (steering, which
generates text, is features/steering.py and builds on what is here).

These are the web's (and the API's) entry points into the activation pipeline. They reuse its loaders
through `features.pipeline.cache` (a bounded per-process LRU with a lock per key, so concurrent requests
for one model load it once), frame the text exactly as the pipeline frames its windows, capture with the
same hooks and encode with the same `SourceSpec.encode`, so a live value equals the stored one.

Hooks are registered on a module, not on a call: two threads running the one cached model at once would
each see the other's hooks. Every forward pass here therefore holds that model's lock, and sampling holds
one more lock around the process-wide random number generator, so a seed always gives the same text
(features/steering.py).
"""

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from .models import Feature, LanguageModel, Source
from .pipeline import cache
from .pipeline.corpus import special_token_frame, token_display_strings
from .pipeline.devices import device_name
from .pipeline.errors import PipelineInputError
from .pipeline.hooks import capture_activations
from .pipeline.loading import LoadedModel
from .pipeline.sources import SourceSpec, dictionary_source, neuron_source
from .pipeline.stream import content_mask
from .placement import default_placement

MAX_TEXT_CHARS = 4000
MAX_TOKENS = 256
# Replaying a stored window may take as many tokens as the pipeline puts in a window (services.MAX_WINDOW_LEN).
MAX_WINDOW_TOKENS = 4096
MAX_K = 100


class InferenceInputError(ValueError):
    """Bad input to live inference; its message is shown to the user as it is."""


@dataclass
class TokenActivations:
    tokens: list[str]
    values: list[float]  # one per token; 0 on special tokens
    max_value: float  # the largest value on a text token (0 when the text has none)
    max_index: int  # where it is


@dataclass
class FeatureHit:
    source_slug: str
    index: int
    value: float
    url: str


@dataclass
class TextFeatures:
    tokens: list[str]
    per_token: list[list[FeatureHit]]  # the top features at each token, strongest first; [] on special tokens
    overall: list[FeatureHit]  # the top features by their max over the text, strongest first
    # With with_activations: each overall hit's activations at every token, as feature_activations gives them
    # (in its source's framing), from the same forward pass.
    overall_activations: list[TokenActivations] = field(default_factory=list)


# --- Models, sources and locks -------------------------------------------------------------------

_locks_guard = threading.Lock()
_model_locks: dict[str, threading.RLock] = {}


def model_lock(path: str) -> threading.RLock:
    with _locks_guard:
        return _model_locks.setdefault(path, threading.RLock())


def load_model(model: LanguageModel) -> LoadedModel:
    """The model on NEURONPEDIA_DEVICE in NEURONPEDIA_DTYPE."""
    try:
        return cache.models.get(model.path, **default_placement())
    except PipelineInputError as error:
        raise InferenceInputError(f"The model {model.slug} cannot be loaded: {error}") from error


def source_spec(loaded: LoadedModel, source: Source) -> SourceSpec:
    """The pipeline's SourceSpec for a stored source: its layer's neurons, or its dictionary."""
    try:
        if not source.dictionary_path:
            spec = neuron_source(loaded, source.layer)
            spec.slug = source.slug
            return spec
        dictionary = cache.dictionaries.get(source.dictionary_path, device=device_name(loaded.device))
        return dictionary_source(loaded, dictionary, source.slug, hook_name=source.hook_name)
    except PipelineInputError as error:
        raise InferenceInputError(f"The source {source.slug} cannot be loaded: {error}") from error


def _prepend_bos(spec: SourceSpec) -> bool | None:
    """Neurons take the tokenizer's own framing; a dictionary may ask for a BOS token (SAELens prepend_bos)."""
    return spec.dictionary.prepend_bos if spec.dictionary is not None else None


def position_limit(loaded: LoadedModel) -> int | None:
    config = loaded.model.config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _token_limit(loaded: LoadedModel, model: LanguageModel) -> tuple[int, str]:
    limit = position_limit(loaded)
    if limit is not None and limit < MAX_TOKENS:
        return limit, f"{model.slug} reads at most {limit} tokens"
    return MAX_TOKENS, f"the limit is {MAX_TOKENS} tokens"


def checked_text(text: str, *, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InferenceInputError(f"Enter some {what}: it is empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise InferenceInputError(
            f"The {what} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}. Shorten it."
        )
    return text


def content_ids(loaded: LoadedModel, text: str, *, what: str = "text") -> list[int]:
    ids = loaded.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    if not ids:
        raise InferenceInputError(f"The {what} gives no tokens: it holds nothing the tokenizer can read.")
    return list(ids)


def check_length(n_tokens: int, loaded: LoadedModel, model: LanguageModel, *, what: str = "text") -> None:
    limit, reason = _token_limit(loaded, model)
    if n_tokens > limit:
        raise InferenceInputError(f"The {what} is {n_tokens} tokens long; {reason}. Shorten it.")


def features_source(feature: Feature) -> Source:
    source = feature.source
    if not 0 <= feature.index < source.n_features:
        raise InferenceInputError(
            f"{source.slug} has features 0 to {source.n_features - 1}; there is no feature {feature.index}."
        )
    return source


def _encode(loaded: LoadedModel, specs: Sequence[SourceSpec], token_ids: list[int]) -> dict[str, torch.Tensor]:
    """{source slug: [T, F]} activations of one sequence, 0 on special tokens, as the pipeline stores them."""
    input_ids = torch.tensor([token_ids], dtype=torch.long)
    with model_lock(loaded.path):
        captured = capture_activations(loaded, [spec.hook for spec in specs], input_ids)
    mask = content_mask(loaded, input_ids)[0]
    return {spec.slug: spec.encode(captured)[0].float().masked_fill(~mask[:, None], 0.0) for spec in specs}


# --- Test a feature -------------------------------------------------------------------------------


def feature_activations(feature: Feature, text: str) -> TokenActivations:
    """The feature's activation at every token of `text`, framed as the pipeline frames a window."""
    text = checked_text(text)
    source = features_source(feature)
    model = source.model
    loaded = load_model(model)
    spec = source_spec(loaded, source)
    try:
        prefix, suffix = special_token_frame(loaded.tokenizer, _prepend_bos(spec))
    except PipelineInputError as error:
        raise InferenceInputError(str(error)) from error
    token_ids = prefix + content_ids(loaded, text) + suffix
    check_length(len(token_ids), loaded, model)
    values = _encode(loaded, [spec], token_ids)[spec.slug][:, feature.index]
    tokens = token_display_strings(loaded.tokenizer, token_ids)
    return _token_activations(loaded, token_ids, values, tokens=tokens, first_text_token=len(prefix))


def _token_activations(
    loaded: LoadedModel, token_ids: list[int], values: torch.Tensor, *, tokens: list[str], first_text_token: int
) -> TokenActivations:
    """One feature's values on a framed text (its display tokens), with its maximum over the text's own tokens."""
    mask = content_mask(loaded, torch.tensor(token_ids))
    max_value, max_index = 0.0, first_text_token
    if mask.any():
        masked = values.masked_fill(~mask, float("-inf"))
        max_index = int(masked.argmax())
        max_value = float(values[max_index])
    return TokenActivations(
        tokens=list(tokens),
        values=[float(value) for value in values],
        max_value=max_value,
        max_index=max_index,
    )


def feature_activations_for_token_ids(feature: Feature, token_ids: list[int]) -> list[float]:
    """The feature's activations on exactly these token ids (special tokens included, valued 0): replays a
    stored window, so the result can be compared with its ActivationExample values."""
    source = features_source(feature)
    model = source.model
    if not token_ids:
        raise InferenceInputError("Give at least one token id.")
    if len(token_ids) > MAX_WINDOW_TOKENS:
        raise InferenceInputError(f"{len(token_ids)} token ids is too many; the limit is {MAX_WINDOW_TOKENS}.")
    loaded = load_model(model)
    vocab_size = loaded.model.get_input_embeddings().num_embeddings
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < vocab_size for i in token_ids):
        raise InferenceInputError(f"Token ids must be integers from 0 to {vocab_size - 1}.")
    limit = position_limit(loaded)
    if limit is not None and len(token_ids) > limit:
        raise InferenceInputError(f"{model.slug} reads at most {limit} tokens; got {len(token_ids)}.")
    spec = source_spec(loaded, source)
    return [float(value) for value in _encode(loaded, [spec], list(token_ids))[spec.slug][:, feature.index]]


@dataclass
class WindowActivations:
    values: list[float]  # one per token; 0 on special tokens
    content: list[bool]  # False on special tokens, which never count towards a feature


def feature_activations_on_windows(
    feature: Feature, windows: Sequence[Sequence[int]], *, batch_size: int = 16
) -> list[WindowActivations]:
    """The feature's activations on many stored windows, as feature_activations_for_token_ids replays one:
    windows of one length run together, `batch_size` at a time, as the pipeline batches them."""
    source = features_source(feature)
    results = []
    for values, mask in _windows_encoded(source, windows, batch_size=batch_size, feature_index=feature.index):
        results.append(WindowActivations(values=values.tolist(), content=mask.tolist()))
    return results


def source_activations_on_windows(
    source: Source, windows: Sequence[Sequence[int]], *, batch_size: int = 16
) -> list[torch.Tensor]:
    """Every feature of `source` on many stored windows, one [T, F] float32 tensor per window (0 on special
    tokens): one forward pass serves all the source's features, for pipelines that visit many of them."""
    return [values for values, _ in _windows_encoded(source, windows, batch_size=batch_size)]


def sources_activations_on_windows(
    sources: Sequence[Source], windows: Sequence[Sequence[int]], *, batch_size: int = 16
) -> Iterator[tuple[list[int], dict[int, torch.Tensor], torch.Tensor]]:
    """Every feature of several sources of one model on many stored windows, one forward pass per batch serving
    all of them (up to the deepest hook). Yields per batch: the windows' positions in `windows`, {source pk:
    [B, T, F] float32 values, 0 on special tokens} and the content mask [B, T] (False on special tokens). A
    generator, so that a caller keeps only what it needs of each batch."""
    if not sources:
        return
    model = sources[0].model
    if any(source.model_id != model.pk for source in sources):
        raise InferenceInputError("The sources must belong to one model.")
    loaded = load_model(model)
    _check_windows(loaded, windows)
    specs = {source.pk: source_spec(loaded, source) for source in sources}
    for chunk in _length_batches(windows, batch_size):
        input_ids = torch.tensor([list(windows[m]) for m in chunk], dtype=torch.long)
        with model_lock(loaded.path):
            captured = capture_activations(loaded, list({spec.hook for spec in specs.values()}), input_ids)
        mask = content_mask(loaded, input_ids)
        values = {pk: spec.encode(captured).float().masked_fill(~mask[..., None], 0.0) for pk, spec in specs.items()}
        yield chunk, values, mask


def _windows_encoded(
    source: Source, windows: Sequence[Sequence[int]], *, batch_size: int, feature_index: int | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(values, content mask) per window, in order: [T] for one feature, [T, F] for the whole source."""
    loaded = load_model(source.model)
    _check_windows(loaded, windows)
    spec = source_spec(loaded, source)
    results: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(windows)
    for chunk in _length_batches(windows, batch_size):
        input_ids = torch.tensor([list(windows[m]) for m in chunk], dtype=torch.long)
        with model_lock(loaded.path):
            captured = capture_activations(loaded, [spec.hook], input_ids)
        mask = content_mask(loaded, input_ids)
        encoded = spec.encode(captured).float()
        if feature_index is None:
            values = encoded.masked_fill(~mask[..., None], 0.0)
        else:
            values = encoded[..., feature_index].masked_fill(~mask, 0.0)
        for row, member in enumerate(chunk):
            results[member] = (values[row], mask[row])
    return [result for result in results if result is not None]


def _check_windows(loaded: LoadedModel, windows: Sequence[Sequence[int]]) -> None:
    vocab_size = loaded.model.get_input_embeddings().num_embeddings
    limit = min(MAX_WINDOW_TOKENS, position_limit(loaded) or MAX_WINDOW_TOKENS)
    for token_ids in windows:
        if not token_ids or len(token_ids) > limit:
            raise InferenceInputError(f"A window must have 1 to {limit} token ids; one has {len(token_ids)}.")
        if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < vocab_size for i in token_ids):
            raise InferenceInputError(f"Token ids must be integers from 0 to {vocab_size - 1}.")


def _length_batches(windows: Sequence[Sequence[int]], batch_size: int) -> Iterator[list[int]]:
    """Positions of windows of one length, `batch_size` at a time, as the pipeline batches them."""
    by_length: dict[int, list[int]] = {}
    for position, token_ids in enumerate(windows):
        by_length.setdefault(len(token_ids), []).append(position)
    for members in by_length.values():
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


# --- Warming ---------------------------------------------------------------------------------------

WARM_TEXT = "Return the number of items."


def models_warm() -> list[str]:
    """Load the registered models that can run here (as many as the model cache keeps, newest first) with
    their sources' dictionaries, and test one feature of each source on a short text, so that the first
    request finds all of it loaded and torch's first forward pass done. Returns the sources warmed."""
    from pathlib import Path

    warmed = []
    models = [m for m in LanguageModel.objects.order_by("-pk") if m.path and Path(m.path).is_dir()]
    for model in models[: cache.models.max_items]:
        for source in model.sources.order_by("layer", "slug"):
            feature = source.features.order_by("index").first()
            if feature is None:
                continue
            feature_activations(feature, WARM_TEXT)
            warmed.append(str(source))
    return warmed


# --- Top features for a text ---------------------------------------------------------------------


def _hit(source: Source, base_url: str, index: int, value: float) -> FeatureHit:
    return FeatureHit(source_slug=source.slug, index=int(index), value=float(value), url=f"{base_url}{int(index)}/")


def top_features_for_text(
    model: LanguageModel,
    text: str,
    *,
    sources: list[Source] | None = None,
    k: int = 10,
    with_activations: bool = False,
) -> TextFeatures:
    """The features of `sources` (all of the model's when None) that fire most on `text`: the k strongest
    at each token, and the k strongest by their max over the text. Only positive activations count. With
    with_activations, also each of those overall hits' values at every token (no further forward pass)."""
    text = checked_text(text)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InferenceInputError(f"k must be a whole number from 1 to {MAX_K}.")
    sources = list(model.sources.order_by("layer", "slug")) if sources is None else list(sources)
    if not sources:
        raise InferenceInputError(f"{model.slug} has no sources yet: compute its neurons or add a dictionary first.")
    for source in sources:
        if source.model_id != model.pk:
            raise InferenceInputError(f"{source} is not a source of {model.slug}.")
    loaded = load_model(model)
    specs = [source_spec(loaded, source) for source in sources]
    content = content_ids(loaded, text)

    # Sources may frame a window differently (a dictionary's prepend_bos); run each framing once and line
    # their text tokens up with the first source's framing, which is the one shown.
    framings: dict[bool | None, list[int]] = {}
    for position, spec in enumerate(specs):
        framings.setdefault(_prepend_bos(spec), []).append(position)
    frames = {}
    for wish in framings:
        try:
            frames[wish] = special_token_frame(loaded.tokenizer, wish)
        except PipelineInputError as error:
            raise InferenceInputError(str(error)) from error
    shown_prefix, shown_suffix = frames[_prepend_bos(specs[0])]
    shown_ids = shown_prefix + content + shown_suffix
    for prefix, suffix in frames.values():
        check_length(len(prefix) + len(content) + len(suffix), loaded, model)

    n_shown = len(shown_ids)
    candidates: list[list[FeatureHit]] = [[] for _ in range(n_shown)]
    overall: list[FeatureHit] = []
    columns: dict[tuple[str, int], tuple[bool | None, torch.Tensor]] = {}  # an overall candidate's framing, values
    for wish, members in framings.items():
        prefix, suffix = frames[wish]
        activations = _encode(loaded, [specs[m] for m in members], prefix + content + suffix)
        for member in members:
            source = sources[member]
            base_url = source.get_absolute_url()
            framed = activations[specs[member].slug]  # [n_tokens, F]
            values = framed[len(prefix) : len(prefix) + len(content)]  # [n_content, F]
            top = min(k, values.shape[1])
            top_values, top_indices = values.topk(top, dim=1)
            for position, (row_values, row_indices) in enumerate(zip(top_values, top_indices, strict=True)):
                shown = len(shown_prefix) + position
                for value, index in zip(row_values.tolist(), row_indices.tolist(), strict=True):
                    if value > 0:
                        candidates[shown].append(_hit(source, base_url, index, value))
            best_values, best_indices = values.max(dim=0).values.topk(top)
            for value, index in zip(best_values.tolist(), best_indices.tolist(), strict=True):
                if value > 0:
                    overall.append(_hit(source, base_url, index, value))
                    columns[(source.slug, int(index))] = (wish, framed[:, index])
    order = {source.slug: position for position, source in enumerate(sources)}

    def strongest_first(hits: list[FeatureHit]) -> list[FeatureHit]:
        return sorted(hits, key=lambda hit: (-hit.value, order[hit.source_slug], hit.index))[:k]

    overall = strongest_first(overall)
    overall_activations = []
    if with_activations:
        tokens_of = {}  # per framing: its token ids, their display strings and its first text token
        for wish, (prefix, suffix) in frames.items():
            token_ids = prefix + content + suffix
            tokens_of[wish] = (token_ids, token_display_strings(loaded.tokenizer, token_ids), len(prefix))
        for hit in overall:
            wish, values = columns[(hit.source_slug, hit.index)]
            token_ids, tokens, first_text_token = tokens_of[wish]
            overall_activations.append(
                _token_activations(loaded, token_ids, values, tokens=tokens, first_text_token=first_text_token)
            )
    return TextFeatures(
        tokens=token_display_strings(loaded.tokenizer, shown_ids),
        per_token=[strongest_first(hits) for hits in candidates],
        overall=overall,
        overall_activations=overall_activations,
    )
