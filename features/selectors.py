"""Reads for the wiki pages. Each function runs a fixed number of queries, however much data there is."""

from datetime import datetime, timedelta

from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    prefetch_related_objects,
)

from explanations.models import Comment, Explanation, ExplanationRevision, FeatureLock
from scoring.models import ExplanationScore

from .models import ActivationExample, Feature, LanguageModel, PipelineRun, Source

# The order in which a feature's explanations are listed, stated as such on the feature page.
EXPLANATION_ORDER = [F("best_score").desc(nulls_last=True), F("vote_score").desc(), "created_at", "pk"]

SOURCE_SORTS = {
    "index": ["index"],
    "max_activation": ["max_activation", "index"],
    "-max_activation": ["-max_activation", "index"],
    "density": ["density", "index"],
    "-density": ["-density", "index"],
}
DEFAULT_SOURCE_SORT = "index"

RECENT_RUN_WINDOW = timedelta(hours=1)


def model_list() -> QuerySet[LanguageModel]:
    # Feature counts come from Source.n_features: counting feature rows would scan the largest table.
    return LanguageModel.objects.annotate(
        source_count=Count("sources"), feature_count=Sum("sources__n_features", default=0)
    ).order_by("slug")


def recently_active_features(*, limit: int = 12) -> list[Feature]:
    """Features whose explanations were revised or that were commented on most recently, filled up with
    the strongest features of the latest activation run while there are fewer than `limit`."""
    revised = (
        ExplanationRevision.objects.filter(explanation__hidden=False)
        .values("explanation__feature_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    commented = (
        Comment.objects.filter(deleted=False, hidden=False)
        .values("feature_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    activity = [(row["explanation__feature_id"], row["last"]) for row in revised]
    activity += [(row["feature_id"], row["last"]) for row in commented]
    last_activity: dict[int, datetime] = {}
    for feature_id, last in activity:
        last_activity[feature_id] = max(last, last_activity.get(feature_id, last))
    active_ids = sorted(last_activity, key=last_activity.__getitem__, reverse=True)[:limit]

    with_source = Feature.objects.select_related("source__model")
    active = with_source.in_bulk(active_ids)
    features = [active[pk] for pk in active_ids if pk in active]
    if len(features) >= limit:
        return features
    latest_update = Feature.objects.aggregate(latest=Max("updated_at"))["latest"]
    if latest_update:
        # A run writes all its features within minutes, so this window holds the latest run's features.
        computed = (
            with_source.filter(max_activation__gt=0, updated_at__gte=latest_update - RECENT_RUN_WINDOW)
            .exclude(pk__in=active_ids)
            .order_by("-max_activation", "pk")[: limit - len(features)]
        )
        features.extend(computed)
    return features


def model_sources(model: LanguageModel) -> QuerySet[Source]:
    return model.sources.order_by("layer", "slug")


def model_recent_runs(model: LanguageModel, *, limit: int = 10) -> QuerySet[PipelineRun]:
    # A run that registers its model only learns it when it succeeds; until then it names the slug.
    return PipelineRun.objects.filter(Q(model=model) | Q(model__isnull=True, params__model_slug=model.slug)).order_by(
        "-created_at"
    )[:limit]


def source_feature_index(source: Source, *, sort: str) -> QuerySet[Feature]:
    """The source's features in the given order, each annotated with its best explanation's text."""
    best = Explanation.objects.filter(feature=OuterRef("pk"), hidden=False, current_revision__isnull=False).order_by(
        *EXPLANATION_ORDER
    )
    return source.features.annotate(
        best_explanation=Subquery(best.values("current_revision__text")[:1]),
        best_explanation_score=Subquery(best.values("best_score")[:1]),
    ).order_by(*SOURCE_SORTS[sort])


def feature_for_page(model_slug: str, source_slug: str, index: int) -> Feature | None:
    """The feature with what its page shows besides the dashboard: visible explanations with each scorer's
    latest score, and comments. The dashboard's examples are read by `feature_examples`, when the rendered
    dashboard is not cached (features/dashboard_html.py).

    One query answers, besides the feature, whether its neighbours exist (`previous_index`, `next_index`),
    whether it is locked (`is_locked`) and whether it has explanations and comments at all: most features have
    none, and then their queries are left out."""
    siblings = Feature.objects.filter(source=OuterRef("source"))
    feature = (
        Feature.objects.select_related("source__model")
        .annotate(
            has_previous=Exists(siblings.filter(index=OuterRef("index") - 1)),
            has_next=Exists(siblings.filter(index=OuterRef("index") + 1)),
            has_explanations=Exists(Explanation.objects.filter(feature=OuterRef("pk"), hidden=False)),
            has_comments=Exists(Comment.objects.filter(feature=OuterRef("pk"))),
            is_locked=Exists(FeatureLock.objects.filter(feature=OuterRef("pk"))),
        )
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .order_by()
        .first()
    )
    if feature is None:
        return None
    feature.previous_index = feature.index - 1 if feature.has_previous else None
    feature.next_index = feature.index + 1 if feature.has_next else None
    lookups = []
    if not feature.has_explanations:
        feature.visible_explanations = []
    else:
        latest_score_per_scorer = ExplanationScore.objects.latest_per_scorer()
        lookups.append(
            Prefetch(
                "explanations",
                queryset=Explanation.objects.filter(hidden=False)
                .select_related("current_revision__author", "author")
                .prefetch_related(Prefetch("scores", queryset=latest_score_per_scorer, to_attr="latest_scores"))
                .order_by(*EXPLANATION_ORDER),
                to_attr="visible_explanations",
            )
        )
    if not feature.has_comments:
        feature.all_comments = []
    else:
        lookups.append(
            Prefetch(
                "comments",
                queryset=Comment.objects.select_related("author", "explanation__current_revision").order_by(
                    "created_at", "pk"
                ),
                to_attr="all_comments",
            )
        )
    prefetch_related_objects([feature], *lookups)
    return feature


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
