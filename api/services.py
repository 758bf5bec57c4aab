"""Writes of the API that span models and that no other app does: models and sources created by
Neuronpedia's client (placeholders without a checkpoint), uploaded features and activation examples, and
the context windows they need. Explanations, lists, votes and comments go through explanations.services.

Keyword-only functions named <entity>_<action>, as elsewhere; PermissionDenied and ValidationError carry
messages for the person who tried.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from explanations.services import explanations as explanation_services
from explanations.services import permissions as permission_services
from features.models import (
    ActivationExample,
    ContextWindow,
    Feature,
    LanguageModel,
    Source,
    pack_floats,
    slug_validator,
    validate_not_reserved,
)

from .neuronpedia.format import window_key

MAX_LAYERS = 10_000


def model_placeholder_create(*, slug: str, n_layers: int, display_name: str = "", description: str = "", created_by):
    """A model known by name only (no checkpoint here, path ""), for features computed elsewhere: its pages
    and API work, live inference and new runs do not until an administrator sets a checkpoint path."""
    permission_services.ensure_can_write(created_by)
    try:
        slug_validator(slug)
        validate_not_reserved(slug)
    except ValidationError as error:
        raise ValidationError({"id": error.messages}) from error
    if not 0 < n_layers <= MAX_LAYERS:
        raise ValidationError({"layers": [f"A model has 1 to {MAX_LAYERS:,} layers."]})
    existing = LanguageModel.objects.filter(slug=slug).first()
    if existing is not None:
        if existing.created_by_id == created_by.pk and not existing.path:
            return existing  # asking twice for the same placeholder gives the same one
        raise ValidationError({"id": [f"A model named {slug!r} already exists."]})
    return LanguageModel.objects.create(
        slug=slug,
        display_name=(display_name or slug)[:200],
        path="",
        architecture="",
        n_layers=n_layers,
        d_model=0,
        d_mlp=0,
        vocab_size=0,
        description=description,
        created_by=created_by,
    )


def source_set_create(*, model: LanguageModel, name: str, user, description: str = "", urls: Sequence[str] = ()):
    """One source per layer, `<layer>-<name>` (Neuronpedia's convention), owned by `user`: only they (and
    staff) upload features to them. Returns the sources."""
    permission_services.ensure_can_write(user)
    try:
        slug_validator(name)
    except ValidationError as error:
        raise ValidationError({"name": error.messages}) from error
    if len(name) > 50:
        raise ValidationError({"name": ["Keep a source set's name under 50 characters."]})
    if model.n_layers < 1:
        raise ValidationError({"modelId": [f"{model.slug} has no layers to put sources on."]})
    slugs = [f"{layer}-{name}" for layer in range(model.n_layers)]
    with transaction.atomic():
        taken = list(Source.objects.filter(model=model, slug__in=slugs).values_list("slug", flat=True))
        if taken:
            owned = Source.objects.filter(model=model, set_name=name, config__creator_id=user.pk).count()
            if owned == len(slugs):
                return list(Source.objects.filter(model=model, set_name=name).order_by("layer"))
            raise ValidationError({"name": [f"{model.slug} already has source(s) {', '.join(taken[:5])}."]})
        config = {"creator_id": user.pk, "description": description[:2000], "urls": list(urls)[:10], "uploaded": True}
        Source.objects.bulk_create(
            Source(
                model=model,
                slug=slug,
                kind=Source.Kind.SAE,
                hook_name="",
                layer=layer,
                set_name=name,
                n_features=0,
                config=config,
            )
            for layer, slug in enumerate(slugs)
        )
    return list(Source.objects.filter(model=model, set_name=name).order_by("layer"))


def source_ensure_uploader(source: Source, user) -> None:
    permission_services.ensure_can_write(user)
    if user.is_staff or source.config.get("creator_id") == user.pk:
        return
    raise PermissionDenied(f"Only the creator of {source} (or staff) can upload to it.")


def windows_store(model: LanguageModel, token_lists: Sequence[list[str]]) -> list[int]:
    """A window for each token list, keyed by the tokens' digest: the same tokens are stored once and shared
    by every example that shows them, as the pipeline shares its windows."""
    keys = [window_key(tokens) for tokens in token_lists]
    wanted = dict(zip(keys, token_lists, strict=True))
    stored = dict(
        ContextWindow.objects.filter(model=model, corpus_key__in=wanted, position=0).values_list("corpus_key", "pk")
    )
    missing = [
        ContextWindow(model=model, corpus_key=key, position=0, token_ids=[], tokens=tokens)
        for key, tokens in wanted.items()
        if key not in stored
    ]
    if missing:
        ContextWindow.objects.bulk_create(missing, batch_size=500, ignore_conflicts=True)
        stored = dict(
            ContextWindow.objects.filter(model=model, corpus_key__in=wanted, position=0).values_list("corpus_key", "pk")
        )
    return [stored[key] for key in keys]


@dataclass
class UploadedActivation:
    tokens: list[str]
    values: np.ndarray  # float32
    interval: tuple[float, float, float | None] | None = None  # (min, max, share) of a quantile, None: top


def _examples(feature: Feature, windows: list[int], activations: Sequence[UploadedActivation], first_rank: int = 0):
    """Examples of one feature: top ones in the given order, quantiles grouped by bounds, lowest first."""
    bounds = sorted({a.interval[:2] for a in activations if a.interval is not None})
    interval_index = {pair: position for position, pair in enumerate(bounds)}
    ranks: dict[int | None, int] = {}
    for window_id, activation in zip(windows, activations, strict=True):
        position = None if activation.interval is None else interval_index[activation.interval[:2]]
        rank = ranks.get(position, first_rank if position is None else 0)
        ranks[position] = rank + 1
        values = activation.values
        yield ActivationExample(
            feature=feature,
            window_id=window_id,
            kind=ActivationExample.Kind.TOP if position is None else ActivationExample.Kind.INTERVAL,
            rank=rank,
            values=pack_floats(values),
            max_value=float(values.max()),
            max_token_index=int(values.argmax()),
            interval_index=position,
            bin_min=None if position is None else activation.interval[0],
            bin_max=None if position is None else activation.interval[1],
            bin_contains=None if position is None else activation.interval[2],
        )


@dataclass
class UploadedExplanation:
    text: str
    method: str = ""
    explainer_model: str = ""


@dataclass
class UploadedFeature:
    index: int
    density: float | None = None
    top_logits: list[dict] | None = None
    bottom_logits: list[dict] | None = None
    activations: Sequence[UploadedActivation] = ()
    explanations: Sequence[UploadedExplanation] = ()


@dataclass
class UploadCounts:
    features: int = 0
    activations: int = 0
    explanations: int = 0


def features_upload(*, source: Source, features: Sequence[UploadedFeature], user) -> UploadCounts:
    """Create or update features of `source` from an upload (Neuronpedia's feature upload-batch): a feature's
    examples are replaced by the uploaded ones; explanations are added unless already there."""
    source_ensure_uploader(source, user)
    counts = UploadCounts()
    with transaction.atomic():
        existing = {f.index: f for f in Feature.objects.select_related("source__model").filter(
            source=source, index__in=[f.index for f in features]
        )}  # fmt: skip
        for upload in features:
            feature = existing.get(upload.index) or Feature(source=source, index=upload.index)
            if upload.density is not None:
                feature.density = upload.density
            if upload.top_logits is not None:
                feature.top_logits = upload.top_logits
            if upload.bottom_logits is not None:
                feature.bottom_logits = upload.bottom_logits
            if upload.activations:
                feature.max_activation = max(float(a.values.max()) for a in upload.activations)
            feature.save()
            counts.features += 1
            if upload.activations:
                ActivationExample.objects.filter(feature=feature).delete()
                windows = windows_store(source.model, [a.tokens for a in upload.activations])
                created = ActivationExample.objects.bulk_create(_examples(feature, windows, upload.activations))
                counts.activations += len(created)
            counts.explanations += _explanations_add(feature, upload.explanations, user)
        highest = source.features.aggregate(highest=Max("index"))["highest"]
        if highest is not None and highest + 1 > source.n_features:
            Source.objects.filter(pk=source.pk).update(n_features=highest + 1)
    return counts


def _explanations_add(feature: Feature, explanations: Sequence[UploadedExplanation], user) -> int:
    added = 0
    present = set(feature.explanations.values_list("current_revision__text", "method", "explainer_model"))
    for upload in explanations:
        text = " ".join(upload.text.split())
        if (text, upload.method, upload.explainer_model) in present:
            continue
        if upload.method:  # written by an explainer, uploaded by the user
            explanation = explanation_services.explanation_create(
                feature=feature, text=text, method=upload.method, explainer_model=upload.explainer_model
            )
        else:
            explanation = explanation_services.explanation_create(feature=feature, text=text, author=user)
        present.add((explanation.text, explanation.method, explanation.explainer_model))
        added += 1
    return added


def activations_append(*, feature: Feature, activations: Sequence[UploadedActivation], user) -> int:
    """Add top examples to a feature (Neuronpedia's activation upload-batch), ranked after its existing ones."""
    source_ensure_uploader(feature.source, user)
    with transaction.atomic():
        locked = Feature.objects.select_for_update().get(pk=feature.pk)
        last = locked.examples.filter(kind=ActivationExample.Kind.TOP).aggregate(last=Max("rank"))["last"]
        windows = windows_store(feature.source.model, [a.tokens for a in activations])
        top = [UploadedActivation(tokens=a.tokens, values=a.values) for a in activations]
        created = ActivationExample.objects.bulk_create(
            _examples(locked, windows, top, first_rank=0 if last is None else last + 1)
        )
        highest = max(float(a.values.max()) for a in activations)
        # A new updated_at, also when the max stays: the feature page's cached dashboard goes by it.
        Feature.objects.filter(pk=locked.pk).update(
            max_activation=max(highest, locked.max_activation), updated_at=timezone.now()
        )
    return len(created)
