"""Reads for the wiki pages. Each function runs a fixed number of queries, however much data there is."""

from django.db.models import (
    Count,
    Q,
    QuerySet,
    Sum,
)

from .models import ActivationExample, Feature, LanguageModel, PipelineRun, Source


def model_list() -> QuerySet[LanguageModel]:
    # Feature counts come from Source.n_features: counting feature rows would scan the largest table.
    return LanguageModel.objects.annotate(
        source_count=Count("sources"), feature_count=Sum("sources__n_features", default=0)
    ).order_by("slug")


def model_sources(model: LanguageModel) -> QuerySet[Source]:
    return model.sources.order_by("layer", "slug")


def model_recent_runs(model: LanguageModel, *, limit: int = 10) -> QuerySet[PipelineRun]:
    # A run that registers its model only learns it when it succeeds; until then it names the slug.
    return PipelineRun.objects.filter(Q(model=model) | Q(model__isnull=True, params__model_slug=model.slug)).order_by(
        "-created_at"
    )[:limit]


def feature_at(model_slug: str, source_slug: str, index: int) -> Feature | None:
    """The feature at an address, with its source and model; None when there is none."""
    return (
        Feature.objects.select_related("source__model")
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .first()
    )


# What the dashboard shows of an example: not its feature, and of its window only the tokens.
EXAMPLE_FIELDS = [
    *["kind", "rank", "values", "max_value", "max_token_index", "interval_index", "bin_min", "bin_max"],
    *["bin_contains", "window__tokens"],
]


def feature_examples(feature: Feature) -> tuple[list[ActivationExample], list[ActivationExample]]:
    """The feature's top examples by rank and its interval samples by interval and rank, with their windows'
    tokens: one query, in the order of the examples' index."""
    examples = (
        ActivationExample.objects.filter(feature=feature)
        .select_related("window")
        .only(*EXAMPLE_FIELDS)
        .order_by("kind", "interval_index", "rank")
    )
    top, intervals = [], []
    for example in examples:
        (top if example.kind == ActivationExample.Kind.TOP else intervals).append(example)
    return top, intervals


def feature_examples_shown(
    model_slug: str, source_slug: str, index: int, *, example_pk: int | None = None, interval: int | None = None
) -> list[ActivationExample]:
    """One example of a feature by its id (the page's "More"), or an interval's samples after the one the page
    shows (its "more samples"), with their windows' tokens and their feature, source and model. Empty when the
    feature has no such example. One query."""
    examples = (
        ActivationExample.objects.filter(
            feature__source__model__slug=model_slug, feature__source__slug=source_slug, feature__index=index
        )
        .select_related("window", "feature__source__model")
        .only(*EXAMPLE_FIELDS, "feature", *FEATURE_FIELDS)
        .order_by("rank")
    )
    if example_pk is not None:
        return list(examples.filter(pk=example_pk))
    return list(examples.filter(kind=ActivationExample.Kind.INTERVAL, interval_index=interval, rank__gt=0))


# What an example's own page shows of its feature (its address and scale).
FEATURE_FIELDS = [
    *["feature__index", "feature__max_activation", "feature__source__slug", "feature__source__model__slug"],
    *["feature__source__model__display_name", "feature__source__kind", "feature__source__hook_name"],
]
